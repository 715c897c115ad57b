"""Deskewing: undo each digit's slant with a shear computed from its own pixels (no label read).

A digit's slant is the covariance of its ink's row and column coordinates over the row variance;
shearing by minus that slope stands the digit upright and centres its ink. Slant is the largest
label-free variation in MNIST (a slanted 4 and an upright 9 are nearer in pixels than two 4s of
different slant), so clustering deskewed digits groups them by shape. On the development subset
(labels/devset.py), the clusters of the deskewed images' UMAP named by k = 10 labels were 97.9 %
right against 97.0 % for the autoencoder's codes (seed 0), in 124 s against 432 s.
"""

from __future__ import annotations

import numpy as np

SIZE = 28


def deskew(x: np.ndarray) -> np.ndarray:
    """Images (N, 28, 28) uint8 -> the same images deskewed and centred on their ink, uint8."""
    from scipy import ndimage  # noqa: PLC0415

    img = x.astype(np.float32)
    rows = np.arange(SIZE, dtype=np.float32)[None, :, None]
    cols = np.arange(SIZE, dtype=np.float32)[None, None, :]
    ink = np.maximum(img.sum(axis=(1, 2)), 1e-6)
    row_mean = (img * rows).sum(axis=(1, 2)) / ink
    col_mean = (img * cols).sum(axis=(1, 2)) / ink
    dr = rows - row_mean[:, None, None]
    row_var = (img * dr**2).sum(axis=(1, 2)) / ink
    row_col_cov = (img * dr * (cols - col_mean[:, None, None])).sum(axis=(1, 2)) / ink
    slope = np.where(row_var > 0, row_col_cov / np.maximum(row_var, 1e-6), 0.0)
    # Output pixel (i, j) reads the input at (i + row_mean - 14, j + slope * (i - 14) + col_mean - 14):
    # the ink's centre moves to the middle and each row shifts by the slope. All images at once, as one
    # 3-D interpolation whose first axis (the image index) is always an integer.
    centre = SIZE / 2
    i = np.arange(SIZE, dtype=np.float32)[None, :, None]
    j = np.arange(SIZE, dtype=np.float32)[None, None, :]
    src_rows = np.broadcast_to(i + (row_mean - centre)[:, None, None], (len(x), SIZE, SIZE))
    src_cols = slope[:, None, None] * (i - centre) + j + (col_mean - centre)[:, None, None]
    index = np.broadcast_to(np.arange(len(x), dtype=np.float32)[:, None, None], src_rows.shape)
    out = ndimage.map_coordinates(img, [index, src_rows, src_cols], order=1, mode="constant", cval=0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
