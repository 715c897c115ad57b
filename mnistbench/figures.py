"""Small PNG figures written with numpy and zlib alone: a grid of digits with their labels.

No plotting library: a grid of 28x28 images needs only a PNG encoder and a 3x5 bitmap font.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

# 3x5 bitmaps of the digits 0-9, rows top to bottom, 3 bits a row.
_FONT = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 2, 2, 2),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), "?": (7, 1, 3, 0, 2),
}


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Write a greyscale (H, W) uint8 array as an 8-bit PNG."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].astype(np.uint8).tobytes() for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))
    return path


def _glyph(char: str, scale: int) -> np.ndarray:
    rows = _FONT.get(char, _FONT["?"])
    bitmap = np.array([[(r >> (2 - c)) & 1 for c in range(3)] for r in rows], dtype=np.uint8) * 255
    return np.kron(bitmap, np.ones((scale, scale), dtype=np.uint8))


def digit_grid(images: np.ndarray, labels, path: Path, columns: int = 10, scale: int = 2) -> Path:
    """Images (N, 28, 28) uint8 in a grid, each with its label printed underneath."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    cell_w, text_h, pad = 28 * scale, 5 * scale + 2 * scale, 2 * scale
    cell_h = 28 * scale + text_h
    canvas = np.full((rows * (cell_h + pad) + pad, columns * (cell_w + pad) + pad), 40, dtype=np.uint8)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        top = pad + (i // columns) * (cell_h + pad)
        left = pad + (i % columns) * (cell_w + pad)
        canvas[top : top + 28 * scale, left : left + cell_w] = np.kron(image, np.ones((scale, scale), np.uint8))
        text = str(label)
        x = left + (cell_w - len(text) * 4 * scale) // 2
        for char in text:
            glyph = _glyph(char, scale)
            y = top + 28 * scale + scale
            canvas[y : y + glyph.shape[0], x : x + glyph.shape[1]] = glyph
            x += 4 * scale
    return write_png(path, canvas)
