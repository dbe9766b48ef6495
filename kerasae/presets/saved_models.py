"""A preset's SavedModel (TF-Hub style): :func:`saved_model` returns the folder a preset ships, or, for a preset
whose card says ``"saved_model": "on_demand"`` (its weights twice would not fit the built-in presets' budget),
exports it once from the checked weights into the Keras cache."""

import os

from kerasae.export import api as export_api
from kerasae.presets import archives, cards, evaluation, loading
from kerasae.utils import files


def saved_model(name_or_path, sha256=None):
    """The path of a preset's ``saved_model/`` folder (checked, see :func:`folder`): kerasae export's
    SavedModel, with the signatures of ``kerasae export RUN --format saved_model``.

    A preset whose card says ``"saved_model": "on_demand"`` (its weights twice would not fit the built-in budget)
    ships none: the first call exports it from the checked weights, with the export's parity gate on the card's
    first test examples, into ``KERAS_HOME/kerasae_presets/saved_models/NAME-SHA/`` (SHA: the weights' sha256),
    atomically; later calls return that folder.

    Example:
        >>> path = kerasae.presets.saved_model("vae-mnist")
        >>> codes = tf.saved_model.load(path).signatures["encode"](x=tf.constant(x))["mean"]
        >>> layer = keras.layers.TFSMLayer(path, call_endpoint="encode")   # a frozen encoder for a Keras model
    """
    preset = loading.folder(name_or_path, sha256)
    card_ = cards.read_card(preset)
    if not cards.saved_model_on_demand(card_):
        return os.path.join(preset, cards.SAVED_MODEL)
    return _exported_saved_model(preset, card_)


def _exported_saved_model(preset, card_):
    """The on-demand SavedModel of a checked preset folder, exported into the Keras cache on first use."""
    target = os.path.join(archives.cache_dir(), "saved_models",
                          f"{card_['name']}-{card_['files'][cards.WEIGHTS][:16]}")
    path = os.path.join(target, cards.SAVED_MODEL)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):  # renamed into place whole: complete
        return path
    model, _ = loading.load_from_folder(preset)
    try:
        parity_data = evaluation.test_inputs(card_["data"], evaluation.N_EXAMPLES, model)
    except Exception as err:  # noqa: BLE001 - one line, naming the preset
        raise ValueError(
            f"The preset {preset} ships no SavedModel, and its test examples for the export's parity check could not "
            f"be loaded ({type(err).__name__}: {' '.join(str(err).split())[:200]}). Fix: make the card's data set "
            "loadable (e.g. seed the Keras dataset cache), or export the model yourself with kerasae.export."
        ) from err
    with files.locked(target, what=f"the SavedModel of the preset {card_['name']}", fix="call it again once it is done"):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):  # another process finished it meanwhile
            return path
        with files.Staging(os.path.dirname(target)) as staging:
            out = staging.path("export")
            os.makedirs(out)
            export_api.export(model, out, formats="saved_model", parity_data=parity_data, seed=0,
                              preprocessing=evaluation.export_preprocessing(card_["data"]))
            staging.commit([(out, target)])
    return path
