"""A benchmark's trained model as a preset (:func:`kerasae.presets.write`): its card holds the benchmark's test
error on the full test set, with the command that measured it, and a figure of the first 200 test images that
the preset tests measure again (:func:`kerasae.presets.figure`)."""

import os


def write(model, folder, *, data, load, command, error_metric, error, measured, epochs, seconds, description,
          saved_model=True, weights_dtype="float32"):
    """Writes ``model`` as the preset ``folder`` (named after it), replacing one kerasae wrote there before.

    Args:
        data: The loaded data set (its test split: ``error``'s); ``load``: the keyword arguments of
            ``kerasae.datasets.load`` that rebuild it. command: The benchmark's command (also the training's).
        error_metric, error: The test error's name on the card and its value. measured: ``"accuracy"`` or
            ``"reconstruction_mse"``, measured here on the first 200 test images.
        saved_model: Ship the SavedModel in the folder, or let ``kerasae.presets.saved_model`` export it on first
            use (``False``, for a model whose weights twice would not fit the built-in presets' budget).
        weights_dtype: ``"float16"`` stores the weights in half the bytes: ``model``'s weights are rounded to
            float16 here, in place, before ``measured`` is measured (the preset's model); ``error`` stays the
            caller's figure.
    """
    import kerasae
    from kerasae.presets import evaluation

    from kerasae.presets.writing import round_weights_to_float16

    name = os.path.basename(os.path.normpath(folder))
    if weights_dtype == "float16":
        round_weights_to_float16(model)
    spec = evaluation.data_spec(data, load)
    figures = [{"metric": error_metric, "value": error, "split": "test", "n_examples": len(data.x_test),
                "num_samples": None, "seed": None, "command": command},
               evaluation.figure(model, spec, measured, name=name)]
    kerasae.presets.write(model, folder, name=name, data=spec, command=command, epochs=epochs, seconds=seconds,
                          figures=figures, overwrite=True, description=description,
                          saved_model=saved_model, weights_dtype=weights_dtype)
    print(f"Preset written: {folder}", flush=True)
    return folder
