"""Site photos attached to progress reports: checked, downscaled, stripped of metadata and filed by report.

A photo's EXIF GPS position is read first (phones write WGS84 there) and kept in the report as the
distance to the project, then every EXIF tag is dropped: the stored JPEG carries no camera, owner or
position metadata. Files live under ``<data_dir>/photos/<layer>/<feature>/<seq>.jpg``; no part of the
path comes from the request except ids checked against the catalogue and the store.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from shapely.geometry.base import BaseGeometry

from geo.errors import UnknownFeature
from geo.measure import distance_to_geometry_m
from geo.storage.base import FeatureStore
from layers.audit import entry
from layers.errors import InvalidProgressUpdate, PhotoTooLarge
from layers.evidence import parse_exif_time

MAX_PIXELS = 60_000_000
"""Larger images are refused before decoding (a decompression bomb guard; phones take up to ~50 MP)."""
_FORMATS = ("JPEG", "PNG")
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Photo:
    """A processed photo: JPEG bytes, size in pixels, and the GPS position and time read from its EXIF (or None)."""

    jpeg: bytes
    width: int
    height: int
    gps: tuple[float, float] | None
    taken_at: datetime | None = None


def read_taken_at(image: Image.Image) -> datetime | None:
    """Return an image's EXIF ``DateTimeOriginal`` (the camera's local time), or None."""
    return parse_exif_time(image.getexif().get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL))


def _dms(value: Any) -> float:
    degrees, minutes, seconds = (float(v) for v in value)
    return degrees + minutes / 60.0 + seconds / 3600.0


def read_gps(image: Image.Image) -> tuple[float, float] | None:
    """Return the (lon, lat) of an image's EXIF GPS tags, or None when absent or malformed."""
    gps = image.getexif().get_ifd(_GPS_IFD)
    try:
        lat, lon = _dms(gps[2]), _dms(gps[4])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    lat = -lat if str(gps.get(1, "N")).upper().startswith("S") else lat
    lon = -lon if str(gps.get(3, "E")).upper().startswith("W") else lon
    return (lon, lat) if -180 <= lon <= 180 and -90 <= lat <= 90 and (lon, lat) != (0.0, 0.0) else None


def prepare_photo(data: bytes, max_bytes: int, max_px: int = 1600) -> Photo:
    """Check an uploaded JPEG/PNG, read its GPS, fix its orientation and downscale it to ``max_px``.

    Raises
    ------
    PhotoTooLarge
        When the upload exceeds ``max_bytes`` or ``MAX_PIXELS``.
    InvalidProgressUpdate
        When the data is not a readable JPEG or PNG.
    """
    if len(data) > max_bytes:
        raise PhotoTooLarge(f"the photo has {len(data)} bytes; at most {max_bytes} are accepted")
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in _FORMATS:
            raise InvalidProgressUpdate(f"photos must be JPEG or PNG, not {image.format}")
        if image.width * image.height > MAX_PIXELS:
            raise PhotoTooLarge(f"the photo has {image.width}x{image.height} pixels; at most {MAX_PIXELS:,}")
        gps, taken_at = read_gps(image), read_taken_at(image)
        upright = ImageOps.exif_transpose(image).convert("RGB")
        upright.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidProgressUpdate(f"the photo is not a readable JPEG or PNG image ({type(exc).__name__})") from None
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=85, optimize=True)  # no exif= argument: every tag is dropped
    return Photo(out.getvalue(), upright.width, upright.height, gps, taken_at)


def photo_details(photo: Photo, geometry: BaseGeometry) -> dict[str, Any]:
    """Return what the history entry records about a photo: size, and position and distance when known."""
    details: dict[str, Any] = {"photo": {"width": photo.width, "height": photo.height, "bytes": len(photo.jpeg)}}
    if photo.gps is not None:
        lon, lat = photo.gps
        distance, _, _ = distance_to_geometry_m(lon, lat, geometry)
        details["photo"].update(lon=round(lon, 6), lat=round(lat, 6), distance_m=round(distance, 1))
    return details


def _component(name: str) -> str:
    """Return a safe directory name for an id (ids that are not plain are replaced by their hash)."""
    return name if _SAFE.match(name) else "h" + hashlib.sha256(name.encode()).hexdigest()[:24]


def photo_dir(data_dir: Path, layer_id: str, feature_id: str) -> Path:
    """Return the directory holding a feature's photos."""
    return Path(data_dir) / "photos" / _component(layer_id) / _component(feature_id)


def stage_photo(data_dir: Path, layer_id: str, feature_id: str, photo: Photo) -> tuple[str, Path]:
    """Write the photo durably under a fresh key before its report is recorded; return (key, path)."""
    key = uuid.uuid4().hex
    folder = photo_dir(data_dir, layer_id, feature_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pending-{key}.jpg"
    with open(path, "wb") as handle:
        handle.write(photo.jpeg)
        handle.flush()
        os.fsync(handle.fileno())
    return key, path


def file_photo(staged: Path, seq: int) -> Path:
    """Move a staged photo to its report's name, ``<seq>.jpg``."""
    target = staged.with_name(f"{int(seq)}.jpg")
    os.replace(staged, target)
    return target


def find_photo(data_dir: Path, layer_id: str, feature_id: str, seq: int, key: str | None) -> Path | None:
    """Return the photo file of report ``seq``; a photo staged under ``key`` but never renamed is filed now."""
    folder = photo_dir(data_dir, layer_id, feature_id)
    path = folder / f"{int(seq)}.jpg"
    if path.is_file():
        return path
    if key and re.fullmatch(r"[0-9a-f]{32}", key) and (folder / f"pending-{key}.jpg").is_file():
        return file_photo(folder / f"pending-{key}.jpg", seq)
    return None


def report_photo(store: FeatureStore, data_dir: Path, layer_id: str, feature_id: str, seq: int) -> Path:
    """Return the photo file of report ``seq`` on a feature.

    Raises
    ------
    UnknownFeature
        When there is no such report or it has no photo on file.
    """
    found = entry(store, layer_id, feature_id, seq)
    photo = ((found or {}).get("data") or {}).get("photo") or {}
    path = find_photo(data_dir, layer_id, feature_id, seq, photo.get("key")) if photo else None
    if path is None:
        raise UnknownFeature(f"report {seq} of {feature_id!r} in {layer_id!r} has no photo")
    return path
