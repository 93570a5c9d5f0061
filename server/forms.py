"""Request forms read whole or refused: a multipart body cut short is a 400, never a partly read form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from tempfile import SpooledTemporaryFile

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from geo.errors import InvalidParameter

MULTIPART = "multipart/form-data"


class MalformedBody(InvalidParameter):
    """The request body is not a well-formed form."""


class _CheckedParser(MultiPartParser):
    """Starlette's multipart parser, noting whether the closing boundary arrived and spooling files to ``spool_dir``.

    python-multipart 0.0.x stops quietly at the end of the body wherever it is (its ``finalize`` does
    not check), so a truncated upload would otherwise read as a form missing its last parts. Starlette
    spools file parts over 1 MiB to the system temp directory; here they go to planmap's own.
    """

    complete = False

    def __init__(self, request: Request, spool_dir: Path, max_files: int, max_fields: int) -> None:
        super().__init__(request.headers, request.stream(), max_files=max_files, max_fields=max_fields)
        self.spool_dir = spool_dir
        self.spools: list[SpooledTemporaryFile[bytes]] = []

    def on_headers_finished(self) -> None:
        """Start the part; a file part gets its spool in ``spool_dir``."""
        super().on_headers_finished()
        upload = self._current_part.file
        if upload is not None:
            spool = SpooledTemporaryFile(max_size=self.spool_max_size, dir=str(self.spool_dir))
            self.spools.append(spool)
            upload.file = spool  # type: ignore[assignment]

    def on_end(self) -> None:
        """Record that the closing ``--boundary--`` was parsed."""
        self.complete = True


async def _multipart(request: Request, spool_dir: Path, max_files: int, max_fields: int) -> FormData:
    parser = _CheckedParser(request, spool_dir, max_files, max_fields)
    try:
        form = await parser.parse()
        if not parser.complete:
            raise MalformedBody("malformed multipart body: it ends before its closing boundary")
    except BaseException as exc:
        for spool in parser.spools:
            spool.close()
        if isinstance(exc, MultiPartException):
            raise MalformedBody(f"malformed multipart body: {exc.message}") from None
        raise
    return form


@asynccontextmanager
async def read_form(
    request: Request, spool_dir: Path, *, max_files: int = 1000, max_fields: int = 1000
) -> AsyncIterator[FormData]:
    """Yield the request's form (multipart or urlencoded), closing its uploaded files afterwards.

    Uploaded files are spooled into ``spool_dir`` (anonymous files: nothing is left there once they are
    closed, or if the process dies). Raises ``MalformedBody`` for a multipart body that cannot be parsed
    or ends before its closing boundary, so handlers never see a form missing the parts that were cut off.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == MULTIPART:
        form = await _multipart(request, spool_dir, max_files, max_fields)
    else:
        form = await request.form(max_files=max_files, max_fields=max_fields)
    try:
        yield form
    finally:
        await form.close()
