"""Sending alerts: message bodies (plain webhook, 企业微信 and 钉钉 group robots, e-mail), HMAC signatures,
HTTP POST with exponential back-off, and SMTP.

A plain webhook gets ``{"event": ..., "title": ..., "text": ..., "data": ..., "sent_at": ...}`` signed with
the destination's secret: ``X-Planmap-Signature: sha256=<hex HMAC-SHA256 of the raw body>``. The robots get
their documented markdown messages: 企业微信 ``{"msgtype": "markdown", "markdown": {"content": ...}}``,
钉钉 ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

DestinationKind = Literal["webhook", "wecom", "dingtalk", "email"]
KINDS: tuple[DestinationKind, ...] = ("webhook", "wecom", "dingtalk", "email")
SIGNATURE_HEADER = "X-Planmap-Signature"


@dataclass(frozen=True)
class Message:
    """What to send: event key, title, text, facts and files (name, bytes) to attach where possible."""

    key: str
    title: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)
    files: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes out: host, port, sender, optional login and STARTTLS."""

    host: str = ""
    port: int = 25
    sender: str = "planmap@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Retry:
    """How often to try (1 + retries) and the first back-off delay, doubled after each failure."""

    attempts: int = 4
    first_delay_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep


class DeliveryFailed(Exception):
    """Every attempt to deliver failed; the message says the last reason."""


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``body``.

    Examples
    --------
    >>> sign("s3cret", b'{"a":1}')[:15]
    'sha256=d1f1b4de'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _markdown(message: Message) -> str:
    lines = [f"### {message.title}", message.text]
    lines += [f"- 附件 {name}({len(data)} 字节)" for name, data in message.files]
    return "\n".join(lines)


def body_of(kind: DestinationKind, message: Message, sent_at: str) -> dict[str, Any]:
    """Return the JSON body a destination of ``kind`` takes for ``message``."""
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": _markdown(message)}}
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": _markdown(message)}}
    body: dict[str, Any] = {
        "event": message.key,
        "title": message.title,
        "text": message.text,
        "data": dict(message.data),
        "sent_at": sent_at,
    }
    if message.files:
        body["files"] = [
            {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in message.files
        ]
    return body


def post_json(url: str, body: Mapping[str, Any], secret: str | None, timeout_s: float = 10.0) -> None:
    """POST ``body`` as JSON (signed when ``secret`` is set); raise ``DeliveryFailed`` unless answered 2xx."""
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "planmap-alerts"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, raw)
    request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (admin-set URL)
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"{url} unreachable: {exc}") from None


def send_mail(config: SmtpConfig, to: Sequence[str], message: Message) -> None:
    """Send ``message`` as a plain-text e-mail with its files attached; ``DeliveryFailed`` on any SMTP error."""
    if not config.host:
        raise DeliveryFailed("no SMTP host is configured (PLANMAP_SMTP_HOST)")
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = message.title, config.sender, ", ".join(to)
    mail.set_content(message.text)
    for name, data in message.files:
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=Path(name).name)
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.user:
                smtp.login(config.user, config.password or "")
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP {config.host}:{config.port}: {exc}") from None


def with_retries(send: Callable[[], None], retry: Retry) -> int:
    """Call ``send`` until it succeeds, waiting ``first_delay_s`` then twice as long after each failure.

    Returns the number of attempts made. Raises the last ``DeliveryFailed`` when every attempt failed.
    """
    delay = retry.first_delay_s
    for attempt in range(1, retry.attempts + 1):
        try:
            send()
            return attempt
        except DeliveryFailed:
            if attempt == retry.attempts:
                raise
            retry.sleep(delay)
            delay *= 2
    raise DeliveryFailed("no attempt was made")
