"""The versions of kerasae and of the libraries that made an artifact, recorded in run and export metadata."""

import importlib.metadata

#: Distributions whose versions are recorded, by the name they are recorded under.
DISTRIBUTIONS = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "tensorflow_probability": "tensorflow-probability",
    "ai_edge_litert": "ai-edge-litert",
    "numpy": "numpy",
}


def versions():
    """``{name: version}`` of kerasae and of the installed libraries in :data:`DISTRIBUTIONS`."""
    import kerasae

    found = {"kerasae": kerasae.__version__}
    for name, distribution in DISTRIBUTIONS.items():
        try:
            found[name] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - an optional library
            pass
    return found
