"""Keeping GDAL off the network while it reads untrusted files.

GDAL's GeoJSON and TopoJSON drivers fetch a ``crs`` of type ``link`` or ``url`` (on the collection, a
feature or a geometry; the member name is matched without regard to case or escapes) over HTTP, so an
uploaded file could make the server connect anywhere. :func:`check_json_crs` refuses such members before
GDAL sees the text; :func:`gdal_offline` sets GDAL options so that any fetch that slipped through goes to
a closed local port with short timeouts instead (a backstop only: ``NO_PROXY`` can bypass the proxy).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pyogrio

from geo.errors import InvalidDataFile

_C, _R, _S = rb"(?:c|\\u00[46]3)", rb"(?:r|\\u00[57]2)", rb"(?:s|\\u00[57]3)"
_CRS_KEY = re.compile(rb'"' + _C + _R + _S + rb'(?:\\u0000[^"]*)?"\s*:\s*', re.IGNORECASE)
"""A member named ``crs`` in any case, letters possibly escaped, possibly cut short by an escaped NUL."""
_NAMED = re.compile(
    r"^(?:urn:ogc:def:crs:(?:EPSG|OGC):[\w.:]*|EPSG:\d+|https?://www\.opengis\.net/def/crs/(?:EPSG|OGC)/[\w./]*)$",
    re.IGNORECASE,
)
_VALUE_WINDOW = 64 * 1024
_GDAL_OPTIONS = {
    "GDAL_HTTP_PROXY": "127.0.0.1:9",  # the discard port: nothing listens, the connection is refused
    "GDAL_HTTP_TIMEOUT": "2",
    "GDAL_HTTP_CONNECTTIMEOUT": "2",
    "GDAL_HTTP_MAX_RETRY": "0",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".planmap-no-remote-files",
}


def _safe_crs(value: Any) -> bool:
    """Return whether a ``crs`` member names its CRS (or is null) instead of pointing at a resource."""
    if value is None:
        return True
    if not isinstance(value, dict) or not isinstance(value.get("properties"), dict):
        return False
    kind, props = str(value.get("type", "")).lower(), value["properties"]
    if kind == "name":
        return isinstance(props.get("name"), str) and bool(_NAMED.match(props["name"]))
    return kind == "epsg" and isinstance(props.get("code"), int)


def _describe(value: Any) -> str:
    props = value.get("properties") if isinstance(value, dict) else None
    target = next((props[k] for k in ("href", "url", "name") if isinstance(props, dict) and k in props), value)
    return str(target)[:200]


def check_json_crs(data: bytes, name: str = "the file") -> None:
    """Refuse JSON text with a ``crs`` member that GDAL would fetch (a link, a URL or anything but a name).

    Parameters
    ----------
    data : bytes
        The GeoJSON (or TopoJSON) text.
    name : str
        The file's name, for the message.

    Raises
    ------
    InvalidDataFile
        Naming the linked resource; a named CRS (``urn:ogc:def:crs:EPSG::4547``, ``EPSG:4547``) passes.

    Examples
    --------
    >>> check_json_crs(b'{"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}}}')
    >>> try:
    ...     check_json_crs(b'{"CRS": {"type": "link", "properties": {"href": "http://example.com/c.wkt"}}}')
    ... except InvalidDataFile as exc:
    ...     print(str(exc)[:58])
    the file links its CRS to http://example.com/c.wkt; remote
    """
    decoder = json.JSONDecoder()
    for match in _CRS_KEY.finditer(data):
        window = data[match.end() : match.end() + _VALUE_WINDOW].decode("utf-8", "replace")
        try:
            value, _ = decoder.raw_decode(window)
        except json.JSONDecodeError:
            value = window[:80]
        if not _safe_crs(value):
            raise InvalidDataFile(
                f"{name} links its CRS to {_describe(value)}; remote CRS definitions are not fetched: name the "
                'CRS instead ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}}) or omit it'
            )


@cache
def gdal_offline() -> None:
    """Point GDAL's HTTP client (pyogrio's copy) at a closed local port with short timeouts, once per process."""
    pyogrio.set_gdal_config_options(_GDAL_OPTIONS)
