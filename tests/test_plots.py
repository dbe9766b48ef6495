import numpy as np
from PIL import Image

from kerasae import plots


def test_mosaic_tiles_images_row_by_row_with_white_gaps():
    images = np.arange(5 * 2 * 3, dtype="float32").reshape(5, 2, 3) / 30
    tile = plots.mosaic(images, rows=2, cols=3, gap=1)
    assert tile.shape == (2 * 3 - 1, 3 * 4 - 1)
    np.testing.assert_array_equal(tile[0:2, 0:3], images[0])
    np.testing.assert_array_equal(tile[0:2, 8:11], images[2])
    np.testing.assert_array_equal(tile[3:5, 4:7], images[4])  # second row, second column
    assert np.all(tile[2] == 1) and np.all(tile[:, 3] == 1)  # the gaps
    assert np.all(tile[3:5, 8:11] == 1)  # the empty cell past the last image


def test_image_grid_draws_one_axes_and_writes_the_png(tmp_path):
    path = tmp_path / "grid.png"
    fig = plots.image_grid(np.random.default_rng(0).random((7, 64)), rows=2, row_labels=["input", "model"],
                           title="t", path=str(path))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["input", "model"]
    shown = ax.get_images()[0].get_array()
    assert shown.shape == (2 * 9 - 1, 4 * 9 - 1)  # 7 images of 8x8 on 2 rows of 4
    with Image.open(path) as png:
        assert png.size[0] > png.size[1] > 0
