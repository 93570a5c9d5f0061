"""A stamped copy of a report photo: project name, date and position drawn into a band below the picture area.

The band covers the bottom of the photo; everything above it keeps the stored photo's pixels exactly
(the copy is PNG, so no re-encoding touches them). Chinese text needs a CJK font, found through
fontconfig at run time (``fc-list :lang=zh``); without one the stamp is refused with a message naming
the package to install, never drawn as empty boxes.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from geo.storage.base import FeatureStore
from layers import photos
from layers.audit import entry
from layers.errors import FontMissing
from layers.models import Layer

BAND_FRACTION = 0.12
"""Height of the band as a share of the photo's height (at least ``MIN_BAND_PX``)."""
MIN_BAND_PX = 48


@dataclass(frozen=True)
class StampText:
    """The lines drawn into the band."""

    lines: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def cjk_font_path() -> str:
    """Return the file of a font that covers Chinese, as fontconfig lists it.

    Raises
    ------
    FontMissing
        When fontconfig is absent or lists no font for ``:lang=zh``.
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise FontMissing("fontconfig (fc-list) is not installed; install fontconfig and fonts-noto-cjk")
    found = subprocess.run(
        [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.splitlines()
    files = sorted(line.strip().rstrip(":") for line in found if line.strip())
    if not files:
        raise FontMissing("no font covering Chinese is installed (fc-list :lang=zh is empty); install fonts-noto-cjk")
    return files[0]


def band_height(height: int) -> int:
    """Return the band's height in pixels for a photo ``height`` pixels high."""
    return min(height, max(MIN_BAND_PX, round(height * BAND_FRACTION)))


def stamp_photo(jpeg: bytes, text: StampText) -> bytes:
    """Return a PNG of the photo with ``text`` drawn in a dark band over its bottom ``band_height`` pixels."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    band = band_height(image.height)
    top = image.height - band
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, top, image.width, image.height), fill=(20, 20, 20))
    size = max(10, band // (len(text.lines) + 1))
    font = ImageFont.truetype(cjk_font_path(), size)
    y = top + size // 2
    for line in text.lines:
        draw.text((size // 2, y), line, font=font, fill=(255, 255, 255))
        y += round(size * 1.15)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def stamp_lines(name: str, record: Mapping[str, Any]) -> StampText:
    """Return the stamp of a history record: project name, report date, and the phone's position if known."""
    data = record.get("data") or {}
    position = (data.get("evidence") or {}).get("position") or {}
    lines = [f"{name} · {record.get('date')}"]
    if "lat" in position and "lon" in position:
        accuracy = position.get("accuracy_m")
        where = f"{float(position['lat']):.6f}°N {float(position['lon']):.6f}°E"
        lines.append(where + (f" ±{float(accuracy):.0f} 米" if accuracy is not None else ""))
    return StampText(tuple(lines))


def stamped_report_photo(store: FeatureStore, data_dir: Path, layer: Layer, feature_id: str, seq: int) -> bytes:
    """Return the stamped PNG of report ``seq``'s photo.

    Raises
    ------
    UnknownFeature
        When the report does not exist or has no photo.
    FontMissing
        When no CJK font is installed.
    """
    path = photos.report_photo(store, data_dir, layer.id, feature_id, seq)
    record = entry(store, layer.id, feature_id, seq) or {}
    frame = store.get(layer.id, feature_id)
    name = frame[layer.label_field].iloc[0] if layer.label_field in frame.columns else None
    return stamp_photo(path.read_bytes(), stamp_lines(str(name or feature_id), record))
