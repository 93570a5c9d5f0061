"""Telling the text encoding of a shapefile's attribute table (``.dbf``) from its ``.cpg`` and its bytes."""

from __future__ import annotations

import codecs
import struct

import numpy as np

from geo.errors import InvalidDataFile

SAMPLE_BYTES = 64 * 1024**2
"""Most record bytes looked at (the whole table of any ordinary layer)."""
_CPG_ALIASES = {"65001": "utf-8", "UTF8": "utf-8", "936": "gb18030", "GBK": "gb18030", "GB2312": "gb18030"}
_CPG_ALIASES |= {"CP936": "gb18030", "ANSI 936": "gb18030", "88591": "latin-1", "ISO88591": "latin-1"}
BROKEN_SHARE = 50
"""Text counts as decodable when at most one in this many of its non-ASCII bytes ends up broken."""
_FALLBACK = "gb18030"
"""GB18030 decodes GBK and GB2312 text too: what Chinese ArcGIS exports without a ``.cpg`` are written in."""


def cpg_codec(cpg: str) -> str | None:
    """Return the Python codec a ``.cpg`` names (``UTF-8``, ``GBK``, ``936``, ``LATIN1``...), None if unknown.

    Examples
    --------
    >>> cpg_codec("GBK\\n"), cpg_codec("65001"), cpg_codec("LATIN1"), cpg_codec("1252"), cpg_codec("nonsense")
    ('gb18030', 'utf-8', 'latin-1', 'cp1252', None)
    """
    text = cpg.strip().upper()
    name = _CPG_ALIASES.get(text) or (f"cp{text}" if text.isdigit() else text)
    try:
        return codecs.lookup(name).name.replace("iso8859-1", "latin-1")
    except LookupError:
        return None


def text_sample(dbf: bytes) -> bytes:
    """Return the bytes of a ``.dbf``'s field names and character fields (numbers and flags left out)."""
    if len(dbf) < 32:
        return b""
    count, header, record = struct.unpack_from("<IHH", dbf, 4)
    names: list[bytes] = []
    columns: list[int] = []
    offset = 1  # each record starts with a deletion flag
    for at in range(32, max(32, header - 32), 32):
        if dbf[at] == 0x0D:
            break
        names.append(dbf[at : at + 11].split(b"\x00")[0])
        kind, length = dbf[at + 11 : at + 12], dbf[at + 16]
        if kind == b"C":
            columns.extend(range(offset, offset + length))
        offset += length
    usable = min(count, SAMPLE_BYTES // max(record, 1), max(0, len(dbf) - header) // max(record, 1))
    rows = np.frombuffer(dbf, dtype=np.uint8, count=usable * record, offset=header).reshape(usable, record)
    wanted = np.array([c for c in columns if c < record], dtype=np.intp)
    return b" ".join(names) + b" " + rows[:, wanted].tobytes()


def _decodes(sample: bytes, codec: str) -> bool:
    """Return whether ``sample`` reads as ``codec``, allowing a few broken characters.

    dBASE cuts field names at 10 bytes and values at the field width, often inside a multi-byte character;
    text in another encoding breaks at a third or more of its non-ASCII bytes.
    """
    broken = sample.decode(codec, "replace").count("\ufffd")
    return bool(broken * BROKEN_SHARE <= np.count_nonzero(np.frombuffer(sample, dtype=np.uint8) > 0x7F))


def detect_encoding(dbf: bytes, cpg: str | None) -> tuple[str, list[str]]:
    """Return the codec to read a ``.dbf`` with, and warnings on how it was chosen.

    The ``.cpg`` is taken when the text agrees with it. Text that is valid UTF-8 (and not plain ASCII) is
    UTF-8 whatever the ``.cpg`` says; otherwise, without a usable ``.cpg``, it is read as GB18030 (GBK).

    Raises
    ------
    InvalidDataFile
        When the text is neither what the ``.cpg`` says, nor UTF-8, nor GB18030.
    """
    sample = text_sample(dbf)
    named = cpg_codec(cpg) if cpg is not None else None
    said = f".cpg says {cpg.strip()!r}" if cpg is not None else "the shapefile has no .cpg"
    if sample.isascii():
        return named or "utf-8", []
    if _decodes(sample, "utf-8"):
        return "utf-8", [] if named in (None, "utf-8") else [f"the {said} but its text is UTF-8; read as UTF-8"]
    if named is not None and named != "utf-8" and _decodes(sample, named):
        return named, []
    if _decodes(sample, _FALLBACK):
        return _FALLBACK, [f"{said}, and its text is not UTF-8: read as GB18030 (GBK); check the names"]
    raise InvalidDataFile(f"{said} and its text is neither UTF-8 nor GBK: give the encoding (--encoding)")
