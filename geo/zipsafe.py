"""Checking uploaded zip archives before GDAL reads them: member names, member count and real unpacked size."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geo.errors import FileTooLarge, InvalidDataFile

_CHUNK = 1 << 20
_IGNORED_PREFIXES = ("__MACOSX/",)


@dataclass(frozen=True)
class ZipLimits:
    """Limits on an archive: how many members and how many bytes once unpacked."""

    max_members: int = 200
    max_unpacked_bytes: int = 1 << 30


def _check_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in name:
        raise InvalidDataFile(f"zip member {name!r} has an unsafe path (absolute or leaving the archive)")


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


def check_zip(path: str | Path, limits: ZipLimits | None = None) -> list[str]:
    """Check an archive and return its member names (directories and ``__MACOSX`` entries left out).

    Parameters
    ----------
    path : str or pathlib.Path
        The zip file.
    limits : ZipLimits, optional
        Member count and unpacked-size limits (defaults: 200 members, 1 GiB).

    Raises
    ------
    InvalidDataFile
        If the file is not a zip, is encrypted or corrupt, or a member path is absolute or contains ``..``.
    FileTooLarge
        If it has too many members or unpacks to more than the limit.
    """
    limits = limits or ZipLimits()
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith(_IGNORED_PREFIXES)]
            if len(infos) > limits.max_members:
                raise FileTooLarge(f"zip has {len(infos)} members; at most {limits.max_members} are allowed")
            for info in infos:
                _check_name(info.filename)
                if info.flag_bits & 0x1:
                    raise InvalidDataFile(f"zip member {info.filename!r} is encrypted")
            if sum(i.file_size for i in infos) > limits.max_unpacked_bytes:
                raise FileTooLarge(f"zip unpacks to more than {limits.max_unpacked_bytes} bytes")
            budget = limits.max_unpacked_bytes
            for info in infos:
                budget -= _real_size(archive, info, budget)
                if budget < 0:
                    raise FileTooLarge(f"zip unpacks to more than {limits.max_unpacked_bytes} bytes")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise InvalidDataFile(f"corrupt or unsupported zip archive: {exc}") from exc
    return [i.filename for i in infos]
