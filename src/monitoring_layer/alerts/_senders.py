"""One delivery attempt per channel type, and how its outcome is classified.

HTTP goes through a ``Transport`` (default: ``urllib``); e-mail through
``smtplib``. An attempt never raises: it returns an ``Attempt`` saying whether
it was delivered, whether it is worth retrying (connection errors, timeouts,
5xx, 429, SMTP 4xx) and how long the receiver asked us to wait
(``Retry-After``). Other 4xx and SMTP 5xx are final.
"""

from __future__ import annotations

import email.utils
import http.client
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import _payloads
from ._channels import NotificationChannel

__all__ = ["Attempt", "Notification", "Transport", "UrllibTransport", "send"]

_DEFAULT_TIMEOUT_S = 10.0
_MAX_RETRY_AFTER_S = 600.0


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one channel: ``kind`` is ``firing``, ``repeat``, ``resolved`` or ``resend``."""

    channel: str
    kind: str
    alerts: tuple[Mapping[str, Any], ...]
    group_labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one attempt."""

    delivered: bool
    retry: bool = False
    retry_after_s: float | None = None
    status: int | None = None
    reason: str = ""


class Transport(Protocol):
    """``post(url, body, headers, timeout_s) -> (status, headers)``; raises ``OSError`` when unreachable."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str],
             timeout_s: float) -> tuple[int, Mapping[str, str]]: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would silently become a GET elsewhere: a receiver must answer where it is.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibTransport:
    """HTTP POST with the standard library (honours ``*_proxy``/``no_proxy`` like urllib does)."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect())

    def post(self, url: str, body: bytes, headers: Mapping[str, str],
             timeout_s: float) -> tuple[int, Mapping[str, str]]:
        request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
        try:
            with self._opener.open(request, timeout=timeout_s) as response:
                response.read(65536)
                return response.status, dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers.items()) if exc.headers else {}


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    return min(max(0.0, seconds), _MAX_RETRY_AFTER_S)


def _classify_http(status: int, headers: Mapping[str, str]) -> Attempt:
    if 200 <= status < 300:
        return Attempt(True, status=status, reason=f"HTTP {status}")
    lower = {k.lower(): v for k, v in headers.items()}
    if status == 429:
        return Attempt(False, retry=True, status=status, reason="HTTP 429 (rate limited)",
                       retry_after_s=retry_after_seconds(lower.get("retry-after"), time.time()))
    if status >= 500:
        return Attempt(False, retry=True, status=status, reason=f"HTTP {status}",
                       retry_after_s=retry_after_seconds(lower.get("retry-after"), time.time()))
    return Attempt(False, retry=False, status=status, reason=f"HTTP {status} (not retried)")


def _http(transport: Transport, url: str, body: Any, channel: NotificationChannel) -> Attempt:
    headers = {"Content-Type": "application/json", "User-Agent": "monitoring-layer-alerts",
               **channel.config.get("headers", {})}
    try:
        status, response_headers = transport.post(url, _payloads.json_bytes(body), headers,
                                                  channel.config.get("timeout_s", _DEFAULT_TIMEOUT_S))
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(False, retry=True, reason=f"unreachable: {_reason(exc)}")
    except ValueError as exc:  # a URL that cannot be sent to (the spec's "https://..."): retrying cannot help
        return Attempt(False, retry=False, reason=f"invalid URL: {_reason(exc)}")
    return _classify_http(status, response_headers)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"{type(exc.reason).__name__}: {exc.reason}" if isinstance(exc.reason, BaseException) \
            else str(exc.reason)
    return f"{type(exc).__name__}: {exc}"


def _email(channel: NotificationChannel, notification: Notification,
           smtp_factory: Callable[..., smtplib.SMTP] | None) -> Attempt:
    config = channel.config
    timeout = config.get("timeout_s", _DEFAULT_TIMEOUT_S)
    try:
        if config.get("ssl"):
            factory = smtp_factory or smtplib.SMTP_SSL
            client = factory(config["smtp_host"], config["smtp_port"], timeout=timeout,
                             context=ssl.create_default_context())
        else:
            factory = smtp_factory or smtplib.SMTP
            client = factory(config["smtp_host"], config["smtp_port"], timeout=timeout)
        with client:
            if config.get("starttls"):
                client.starttls(context=ssl.create_default_context())
            if config.get("username"):
                client.login(config["username"], config.get("password", ""))
            for alert in notification.alerts:
                client.send_message(_payloads.email_message(alert, config["from_addr"], config["to_addrs"]))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        transient = all(400 <= c < 500 for c in codes)
        return Attempt(False, retry=transient, reason=f"SMTP recipients refused {codes}")
    except smtplib.SMTPResponseException as exc:
        return Attempt(False, retry=400 <= exc.smtp_code < 500, status=exc.smtp_code,
                       reason=f"SMTP {exc.smtp_code}")
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        return Attempt(False, retry=True, reason=f"SMTP unreachable: {type(exc).__name__}: {exc}")
    return Attempt(True, status=250, reason="SMTP 250")


def _ends_at(seconds_ahead: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_ahead))


def send(channel: NotificationChannel, notification: Notification, *, transport: Transport,
         log: Callable[[str, str, str, Mapping[str, Any]], None],
         smtp_factory: Callable[..., smtplib.SMTP] | None = None) -> Attempt:
    """Make one attempt to deliver ``notification`` through ``channel``."""
    if not channel.complete():
        return Attempt(False, retry=False, reason="channel secrets not loaded (reloaded without a secrets file)")
    kind = channel.channel_type
    alerts: Sequence[Mapping[str, Any]] = notification.alerts
    if kind == "slack":
        result = Attempt(True)
        for alert in alerts:  # one message per alert: Slack shows each as its own line
            result = _http(transport, channel.config["webhook_url"], _payloads.slack_body(alert), channel)
            if not result.delivered:
                return result
        return result
    if kind == "webhook":
        body = _payloads.webhook_v4_body(alerts, channel.channel_name, notification.group_labels)
        return _http(transport, channel.config["url"], body, channel)
    if kind == "alertmanager":
        # Firing alerts end 4 resend intervals ahead, as Prometheus sets them: if we stop re-sending
        # (process gone), Alertmanager resolves them on its own.
        ends = _ends_at(4 * channel.config.get("resend_interval_s", 60.0))
        url = channel.config["url"].rstrip("/") + "/api/v2/alerts"
        return _http(transport, url, _payloads.alertmanager_alerts(alerts, ends), channel)
    if kind == "email":
        return _email(channel, notification, smtp_factory)
    if kind == "log":
        for alert in alerts:
            level = "ERROR" if alert["severity"] in ("high", "critical") and alert["state"] != "resolved" \
                else "WARNING" if alert["state"] != "resolved" else "INFO"
            log(level, channel.config.get("component", "alerts"), _payloads.summary_line(alert), alert)
        return Attempt(True, reason="logged")
    return Attempt(False, reason=f"unknown channel type {kind!r}")  # pragma: no cover - checked at build
