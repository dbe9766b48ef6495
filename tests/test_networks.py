import numpy as np
import pytest

from kerasae import networks


def _widths(model):
    return [layer.units for layer in model.layers if hasattr(layer, "units")]


def test_mlp_mirrors_and_narrows():
    encoder, decoder = networks.mlp((64,), 4, hidden_units=None)
    enc = _widths(encoder)
    assert enc == [256, 128, 4]
    assert _widths(decoder)[:-1] == enc[:-1][::-1] and _widths(decoder)[-1] == 64
    assert networks.default_hidden_units(784, 8, depth=3) == (512, 256, 128)
    assert networks.default_hidden_units(10, 2) == (256, 128)
    assert networks.default_hidden_units(64, 200) == (256, 200)  # never narrower than the code


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1)])
def test_conv_shapes(shape):
    encoder, decoder = networks.conv(shape, 5, filters=(4, 8))
    x = np.zeros((2,) + shape, "float32")
    z = encoder(x)
    assert z.shape == (2, 5)
    assert decoder(z).shape == (2,) + shape
    _, decoder2 = networks.conv(shape, 5, filters=(4, 8), decoder_outputs=2)
    assert decoder2(z).shape == (2,) + shape[:-1] + (2,)


def test_mlp_on_images_and_dropout():
    encoder, decoder = networks.mlp((8, 8, 1), 3, hidden_units=(16,), dropout=0.5, activation="tanh")
    x = np.ones((4, 8, 8, 1), "float32")
    assert decoder(encoder(x)).shape == (4, 8, 8, 1)
    assert not np.allclose(encoder(x, training=True), encoder(x, training=True))
    np.testing.assert_array_equal(encoder(x), encoder(x))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: latent_dim=0"):
        networks.mlp((64,), 0)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*len\\(filters\\)=4"):
        networks.conv((10, 10, 1), 2)
    with pytest.raises(ValueError, match="Expected image inputs"):
        networks.conv((64,), 2)
    with pytest.raises(ValueError, match="Unknown architecture 'rnn'"):
        networks.build("rnn", (64,), 2)
    with pytest.raises(ValueError, match="Expected dropout in"):
        networks.mlp((64,), 2, dropout=1.0)
