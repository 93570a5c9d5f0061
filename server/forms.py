"""Request forms read whole or refused: a multipart body cut short is a 400, never a partly read form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from geo.errors import InvalidParameter

MULTIPART = "multipart/form-data"


class MalformedBody(InvalidParameter):
    """The request body is not a well-formed form."""


class _CheckedParser(MultiPartParser):
    """Starlette's multipart parser, noting whether the closing boundary arrived.

    python-multipart 0.0.x stops quietly at the end of the body wherever it is (its ``finalize`` does
    not check), so a truncated upload would otherwise read as a form missing its last parts.
    """

    complete = False

    def on_end(self) -> None:
        """Record that the closing ``--boundary--`` was parsed."""
        self.complete = True


async def _multipart(request: Request, max_files: int, max_fields: int) -> FormData:
    parser = _CheckedParser(request.headers, request.stream(), max_files=max_files, max_fields=max_fields)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedBody(f"malformed multipart body: {exc.message}") from None
    if not parser.complete:
        await form.close()
        raise MalformedBody("malformed multipart body: it ends before its closing boundary")
    return form


@asynccontextmanager
async def read_form(request: Request, *, max_files: int = 1000, max_fields: int = 1000) -> AsyncIterator[FormData]:
    """Yield the request's form (multipart or urlencoded), closing its uploaded files afterwards.

    Raises ``MalformedBody`` for a multipart body that cannot be parsed or ends before its closing
    boundary, so handlers never see a form missing the parts that were cut off.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == MULTIPART:
        form = await _multipart(request, max_files, max_fields)
    else:
        form = await request.form(max_files=max_files, max_fields=max_fields)
    try:
        yield form
    finally:
        await form.close()
