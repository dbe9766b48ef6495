"""Exports a trained kerasae model (or its encoder or decoder alone) to a SavedModel.

Usage:
    python export/saved_model.py runs/autoencoder [--part full encoder decoder] [--out DIR]

The SavedModel has the signatures ``encode``, ``decode``, ``reconstruct`` (also ``serving_default``) and,
for generative models, ``sample``. Load it with ``tf.saved_model.load(path)`` or inside a Keras model with
``keras.layers.TFSMLayer(path, call_endpoint="encode")``. See :mod:`kerasae.export`.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerasae.cli import export

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    export.add_export_arguments(parser, formats=("saved_model",), default_format="saved_model")
    export.export_from_args(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
