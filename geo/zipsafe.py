"""Checking uploaded zip archives before GDAL reads them: entry count, member names, compression ratio and size."""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geo.errors import FileTooLarge, InvalidDataFile

_CHUNK = 1 << 20
_IGNORED_PREFIXES = ("__MACOSX/",)
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD_SEARCH = 22 + 0xFFFF  # the record plus the longest archive comment
RATIO_FLOOR_BYTES = 16 * 1024**2
"""Archives unpacking to less than this are never refused for their compression ratio."""


@dataclass(frozen=True)
class ZipLimits:
    """Limits on an archive.

    ``max_entries`` counts every entry of the central directory (directories too) and is checked before the
    directory is parsed; ``max_members`` counts the files; ``max_ratio`` bounds unpacked / packed size for
    archives unpacking to more than ``RATIO_FLOOR_BYTES`` (whitespace deflates about 1000:1, data 3-30:1).
    """

    max_members: int = 200
    max_unpacked_bytes: int = 1 << 30
    max_ratio: float = 100.0
    max_entries: int = 1000


def _check_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in name:
        raise InvalidDataFile(f"zip member {name!r} has an unsafe path (absolute or leaving the archive)")


def declared_entries(path: str | Path) -> int | None:
    """Return the entry count the end-of-central-directory record declares (zip64 too), None if none is found."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        start = max(0, size - _EOCD_SEARCH)
        handle.seek(start)
        tail = handle.read()
        at = tail.rfind(_EOCD)
        if at < 0 or at + 22 > len(tail):
            return None
        entries: int = struct.unpack_from("<H", tail, at + 10)[0]
        locator = at - 20
        if entries == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == _EOCD64_LOCATOR:
            (offset,) = struct.unpack_from("<Q", tail, locator + 8)
            handle.seek(offset)
            record = handle.read(56)
            if len(record) == 56:
                (entries,) = struct.unpack_from("<Q", record, 32)
    return entries


def _real_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> int:
    """Return the member's unpacked size by reading it, stopping as soon as ``budget`` is exceeded.

    The sizes in the central directory can lie (a zip bomb's do), so the bytes are counted for real;
    nothing is written to disk.
    """
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if total > budget:
                break
    return total


def _size_budget(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> tuple[int, str]:
    """Return the most bytes the members may unpack to, and the limit's wording for the error."""
    packed = sum(i.compress_size for i in infos)
    by_ratio = max(RATIO_FLOOR_BYTES, int(packed * limits.max_ratio))
    if by_ratio < limits.max_unpacked_bytes:
        return by_ratio, f"more than {limits.max_ratio:g} times its packed size ({packed} bytes)"
    return limits.max_unpacked_bytes, f"more than {limits.max_unpacked_bytes} bytes"


def _check_members(archive: zipfile.ZipFile, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith(_IGNORED_PREFIXES)]
    if len(infos) > limits.max_members:
        raise FileTooLarge(f"zip has {len(infos)} members; at most {limits.max_members} are allowed")
    for info in infos:
        _check_name(info.filename)
        if info.flag_bits & 0x1:
            raise InvalidDataFile(f"zip member {info.filename!r} is encrypted")
    budget, wording = _size_budget(infos, limits)
    if sum(i.file_size for i in infos) > budget:
        raise FileTooLarge(f"zip unpacks to {wording}")
    for info in infos:
        budget -= _real_size(archive, info, budget)
        if budget < 0:
            raise FileTooLarge(f"zip unpacks to {wording}")
    return infos


def check_zip(path: str | Path, limits: ZipLimits | None = None) -> list[str]:
    """Check an archive and return its member names (directories and ``__MACOSX`` entries left out).

    Parameters
    ----------
    path : str or pathlib.Path
        The zip file.
    limits : ZipLimits, optional
        Entry and member counts, compression ratio and unpacked size (defaults: 1000, 200, 100:1, 1 GiB).

    Raises
    ------
    InvalidDataFile
        If the file is not a zip, is encrypted or corrupt, or a member path is absolute or contains ``..``.
    FileTooLarge
        If it has too many entries or members, or unpacks to more than the ratio or size limit allows.
    """
    limits = limits or ZipLimits()
    entries = declared_entries(path)
    if entries is not None and entries > limits.max_entries:
        raise FileTooLarge(f"zip lists {entries} entries; at most {limits.max_entries} are allowed")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = _check_members(archive, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise InvalidDataFile(f"corrupt or unsupported zip archive: {exc}") from exc
    return [i.filename for i in infos]


def zip_members(path: str | Path) -> list[str]:
    """Return an archive's member names as its central directory lists them (nothing unpacked, nothing checked).

    Raises
    ------
    InvalidDataFile
        If the file is not a readable zip.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidDataFile(f"corrupt or unsupported zip archive: {exc}") from exc
