"""Keeping and replaying the first answer to a progress report sent again with the same ``Idempotency-Key``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Header, Response

from server.caching import NO_STORE

REPLAYED = "Idempotent-Replayed"
"""Response header set on an answer that repeats the first answer to the same key."""
_KEPT_HEADERS = ("content-type", "etag")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A UUID the phone made with the report; a retry with the same key gets the first answer again",
    ),
]


def stored_form(response: Response) -> dict[str, Any]:
    """Return what is kept of an answer: status, JSON body and the headers a client acts on."""
    headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    return {"status": response.status_code, "body": json.loads(bytes(response.body)), "headers": headers}


def replay(stored: dict[str, Any]) -> Response:
    """Return a kept answer again, marked ``Idempotent-Replayed: true``."""
    headers = {**stored["headers"], REPLAYED: "true", "Cache-Control": NO_STORE}
    body = json.dumps(stored["body"], ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=int(stored["status"]), headers=headers)
