"""Figures that a person looks at: reconstructions, loss curves, codes, samples and latent manifolds.

Every function draws with matplotlib's object API (no global state), returns the ``Figure`` so that a
notebook shows it inline, and also writes a PNG when ``path`` is given.
"""

import math

import numpy as np

from kerasae import callbacks as kcallbacks
from kerasae.utils.files import replacing


def _figure(rows, cols, size=1.2):
    from matplotlib.figure import Figure

    return Figure(figsize=(max(cols * size, 3), max(rows * size, 1.5)), layout="constrained")


def save(fig, path):
    """Writes ``fig`` to ``path`` atomically (a temporary file beside it, then a rename). Returns ``path``."""
    if path is None:
        return None
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path


def _as_images(x, image_shape=None):
    x = np.asarray(x, dtype="float32")
    if image_shape is None:
        if x.ndim == 4:
            image_shape = x.shape[1:]
        else:
            side = int(round(math.sqrt(x.shape[-1])))
            image_shape = (side, side, 1)
    images = x.reshape((len(x),) + tuple(image_shape))
    return images[..., 0] if images.shape[-1] == 1 else images


#: White pixels between the cells of :func:`image_grid`'s mosaic.
GRID_GAP = 1


def mosaic(images, rows, cols, gap=GRID_GAP):
    """The images tiled into one array, ``rows x cols`` cells separated by ``gap`` pixels of white (cells
    past the last image are white too): ``(rows * (H + gap) - gap, cols * (W + gap) - gap[, C])``."""
    n, height, width = images.shape[:3]
    tile = np.ones((rows * (height + gap) - gap, cols * (width + gap) - gap) + images.shape[3:], "float32")
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        tile[r * (height + gap):r * (height + gap) + height, c * (width + gap):c * (width + gap) + width] = images[i]
    return tile


def image_grid(images, rows=None, cols=None, image_shape=None, title=None, row_labels=None, path=None):
    """Draws images on a grid (one image per cell, no axes), as one mosaic: a single ``imshow``, so that
    a grid of hundreds of images draws as fast as one.

    Args:
        images: Array ``(n, ...)`` of flat vectors or images in [0, 1].
        rows, cols: Grid size; by default as square as possible.
        image_shape: ``(H, W, C)`` when images are flat and not square.
        title: Figure title.
        row_labels: Optional label for each row.
        path: Optional PNG path.

    Returns:
        The matplotlib ``Figure``.
    """
    images = np.clip(_as_images(images, image_shape), 0, 1)
    n = len(images)
    if cols is None:
        cols = int(math.ceil(math.sqrt(n))) if rows is None else int(math.ceil(n / rows))
    rows = rows or int(math.ceil(n / cols))
    fig = _figure(rows, cols)
    ax = fig.subplots()
    ax.imshow(mosaic(images, rows, cols, GRID_GAP), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels:
        height = images.shape[1]
        ax.set_yticks([r * (height + GRID_GAP) + (height - 1) / 2 for r in range(min(rows, len(row_labels)))],
                      list(row_labels[:rows]))
        ax.tick_params(axis="y", length=0)
    if title:
        fig.suptitle(title)
    save(fig, path)
    return fig


def reconstructions(originals, reconstructed, n=10, image_shape=None, path=None,
                    title="Originals (top) and reconstructions (bottom)", baseline=None, baseline_name="PCA"):
    """Originals in the top row, their reconstructions below, and, with ``baseline`` (another model's
    reconstructions of the same examples, e.g. PCA's), those in a third row. Returns the ``Figure``."""
    originals = np.asarray(originals)[:n]
    n = len(originals)
    rows, labels = [originals, np.asarray(reconstructed)[:n]], None
    if baseline is not None:
        rows.append(np.asarray(baseline)[:n])
        labels = ["input", "model", baseline_name]
        if title == "Originals (top) and reconstructions (bottom)":
            title = f"Originals (top), reconstructions (middle), {baseline_name} (bottom)"
    both = np.concatenate([row.reshape(n, -1) for row in rows])
    if image_shape is None and originals.ndim == 4:
        image_shape = originals.shape[1:]
    return image_grid(both, rows=len(rows), cols=n, image_shape=image_shape, title=title, row_labels=labels,
                      path=path)


def loss_curves(history, path=None, title="Training curves"):
    """Plots every metric of a Keras ``History`` (or its ``history`` dict), train and validation together
    (not the learning rate or the timings that :class:`kerasae.callbacks.EpochLogs` adds).

    Returns:
        The ``Figure``.
    """
    history = getattr(history, "history", history)
    names = [k for k in history if not k.startswith("val_") and k not in kcallbacks.EpochLogs.keys]
    fig = _figure(1, 1, size=5)
    fig.set_size_inches(6, 4)
    ax = fig.subplots()
    for name in names:
        line = ax.plot(np.arange(1, len(history[name]) + 1), history[name], label=name)[0]
        if f"val_{name}" in history:
            values = history[f"val_{name}"]
            ax.plot(np.arange(1, len(values) + 1), values, "--", color=line.get_color(), label=f"val_{name}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    ax.set_title(title)
    if names:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    save(fig, path)
    return fig


def latent_scatter(codes, labels=None, path=None, title="Test codes"):
    """Scatter of 2-D codes, coloured by label. Returns the ``Figure``."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"Expected codes of shape (n, 2). Received shape {codes.shape}.")
    fig = _figure(1, 1)
    fig.set_size_inches(5.5, 4.5)
    ax = fig.subplots()
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, s=6, cmap="tab10" if labels is not None else None)
    if labels is not None:
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    save(fig, path)
    return fig


def latent_manifold(decode, n=15, limit=2.5, image_shape=None, path=None, title="Decoded latent manifold"):
    """Decodes a regular ``n x n`` grid over ``[-limit, limit]^2`` of a 2-D code and tiles the images.

    For a VAE with a standard normal prior, the grid is usually taken over the prior's quantiles; here a
    plain grid keeps the picture honest about the scale of the codes.

    Args:
        decode: A function mapping codes ``(m, 2)`` to images or flat vectors in [0, 1].
        n: Grid points per axis.
        limit: Half-width of the grid.
        image_shape: ``(H, W, C)`` if ``decode`` returns flat vectors that are not square.
        path: Optional PNG path.

    Returns:
        The ``Figure``.
    """
    axis = np.linspace(-limit, limit, n, dtype="float32")
    grid = np.stack(np.meshgrid(axis, axis[::-1]), axis=-1).reshape(-1, 2)
    images = np.asarray(decode(grid))
    return image_grid(images, rows=n, cols=n, image_shape=image_shape, title=title, path=path)


def interpolation_strip(images, image_shape=None, path=None, title="Interpolation"):
    """Draws one or more interpolations, one per row. ``images`` is ``(steps, ...)`` or ``(rows, steps, ...)``."""
    images = np.asarray(images)
    flat_like = images.ndim in (2, 4)
    rows = 1 if flat_like else images.shape[0]
    steps = images.shape[0] if flat_like else images.shape[1]
    if image_shape is None and images.ndim >= 4:
        image_shape = images.shape[-3:]
    return image_grid(
        images.reshape(rows * steps, -1), rows=rows, cols=steps, image_shape=image_shape, title=title, path=path
    )
