"""Augmentation as a stage of the input pipeline: one fused affine warp per batch, not layers in the model.

The seed's ranges (ImageDataGenerator's: rotation in degrees, zoom, shear and shift as fractions) are
drawn per image and composed into a single 3x3 transform, applied by one ImageProjectiveTransformV3 op
(bilinear, edges repeated as ImageDataGenerator's `nearest` does). As Keras preprocessing layers the same
augmentation was four resampling passes inside every training step; here it is one, in tf.data's
prefetch thread, beside the training step instead of inside it.

Randomness is stateless: each batch draws from a seed pair (the run's seed, a number from a
`Dataset.random` stream that is re-drawn every epoch from the run's seed), so the same seed gives the same
augmented batches, and every epoch gets new ones.
"""

from __future__ import annotations

import math

from .backend import tf


def transforms(seed: tf.Tensor, n: tf.Tensor, rotation: float, zoom: float, shear: float, shift: float,
               size: int = 28) -> tf.Tensor:
    """(n, 8) ImageProjectiveTransform rows: for each output pixel, where to read in the input.

    The forward map is p_out = c + R(theta) S(shear) Z(zx, zy) (p_in - c) + t about the image centre c;
    the op wants its inverse, p_in = A^-1 p_out + c - A^-1 (c + t)."""
    u = tf.random.stateless_uniform((6, n), seed=seed, minval=-1.0, maxval=1.0)
    theta = u[0] * (rotation * math.pi / 180)
    zx, zy = 1 + u[1] * zoom, 1 + u[2] * zoom
    s = u[3] * shear
    tx, ty = u[4] * shift * size, u[5] * shift * size
    cos, sin = tf.cos(theta), tf.sin(theta)
    # A = R @ S @ Z with S = [[1, s], [0, 1]] and Z = diag(zx, zy)
    a11, a12 = cos * zx, (cos * s - sin) * zy
    a21, a22 = sin * zx, (sin * s + cos) * zy
    det = a11 * a22 - a12 * a21
    i11, i12, i21, i22 = a22 / det, -a12 / det, -a21 / det, a11 / det
    c = (size - 1) / 2
    bx, by = c + tx, c + ty
    offset_x = c - (i11 * bx + i12 * by)
    offset_y = c - (i21 * bx + i22 * by)
    zeros = tf.zeros_like(theta)
    return tf.stack([i11, i12, offset_x, i21, i22, offset_y, zeros, zeros], axis=1)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, *, rotation: float, zoom: float, shear: float,
                  shift: float, elastic_alpha: float = 0.0, elastic_sigma: float = 4.0) -> tf.Tensor:
    """Warp a (n, 28, 28, 1) float batch, each image with its own draw; then, with elastic_alpha > 0, an
    elastic distortion (Simard et al. 2003)."""
    size = images.shape[1] or 28
    rows = transforms(seed, tf.shape(images)[0], rotation, zoom, shear, shift, size)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=rows, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")
    warped = tf.ensure_shape(warped, images.shape)
    if elastic_alpha > 0:
        warped = elastic(warped, seed + tf.constant([0, 1], tf.int64), elastic_alpha, elastic_sigma)
    return warped


def _gaussian_kernel(sigma: float) -> tf.Tensor:
    radius = max(1, int(round(2 * sigma)))
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-(x ** 2) / (2 * sigma ** 2))
    return kernel / tf.reduce_sum(kernel)


def elastic(images: tf.Tensor, seed: tf.Tensor, alpha: float, sigma: float) -> tf.Tensor:
    """Simard's elastic distortion: a random displacement field per image, uniform in [-1, 1], smoothed by
    a Gaussian of `sigma` pixels (two 1-D passes) and scaled by `alpha` pixels, sampled bilinearly with
    the edges repeated."""
    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    field = tf.random.stateless_uniform((n * 2, h, w, 1), seed=seed, minval=-1.0, maxval=1.0)
    kernel = _gaussian_kernel(sigma)
    field = tf.nn.conv2d(field, tf.reshape(kernel, (-1, 1, 1, 1)), 1, "SAME")
    field = tf.nn.conv2d(field, tf.reshape(kernel, (1, -1, 1, 1)), 1, "SAME")
    field = tf.reshape(field, (n, 2, h, w))
    # Smoothing shrinks the field's spread; rescale so that alpha is its typical size in pixels.
    field = field / (tf.math.reduce_std(field) + 1e-6) * alpha / 3
    rows, cols = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
    y = tf.clip_by_value(rows[None] + field[:, 0], 0, h - 1)
    x = tf.clip_by_value(cols[None] + field[:, 1], 0, w - 1)
    y0, x0 = tf.floor(y), tf.floor(x)
    y1, x1 = tf.minimum(y0 + 1, h - 1), tf.minimum(x0 + 1, w - 1)
    wy, wx = y - y0, x - x0
    flat = tf.reshape(images, (n, h * w))

    def at(yy, xx):
        index = tf.cast(yy, tf.int32) * w + tf.cast(xx, tf.int32)
        return tf.gather(flat, tf.reshape(index, (n, h * w)), batch_dims=1)

    def grid(t):
        return tf.reshape(t, (n, h * w))

    top = at(y0, x0) * (1 - grid(wx)) + at(y0, x1) * grid(wx)
    bottom = at(y1, x0) * (1 - grid(wx)) + at(y1, x1) * grid(wx)
    out = top * (1 - grid(wy)) + bottom * grid(wy)
    return tf.reshape(out, tf.shape(images))

