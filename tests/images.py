"""Decoding PNG answers in tests: any PNG (RGBA or paletted with transparency) as a (4, H, W) RGBA array."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_rgba(data: bytes) -> np.ndarray:
    """Return the pixels of a PNG as a (4, height, width) uint8 RGBA array, as a browser would draw them."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.moveaxis(np.asarray(image.convert("RGBA")), -1, 0)
