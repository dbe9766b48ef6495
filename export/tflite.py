"""Exports a trained kerasae model to TFLite / LiteRT files, one per quantisation mode.

Usage:
    python export/tflite.py runs/autoencoder --quantize none float16 dynamic int8 [--part encoder] [--out DIR]

Each file keeps the model's signatures (encode, decode, reconstruct; run them with
``ai_edge_litert.interpreter.Interpreter(...).get_signature_runner(name)``), passes the parity check of
:mod:`kerasae.export` against the Keras model, and gets a metadata JSON beside it.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerasae.cli import export

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    export.add_export_arguments(parser, formats=("tflite",), default_format="tflite")
    export.export_from_args(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
