"""Notification channels: their types, config checks and how their secrets are kept out of sight.

A channel's config is checked when it is built: a missing key, a non-URL or
a bad port raises ``ValueError`` naming the key. A URL only has to be
well-formed for its scheme, so the spec's placeholder ``"https://..."`` is
accepted (delivery to it fails later, is recorded, and never blocks).

Secrets (a Slack or webhook URL, header values, passwords, tokens) stay in
memory only. ``redacted()`` is the only view that leaves the object: files,
query results, logs and the dashboard all see that one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CHANNEL_TYPES", "NotificationChannel", "REDACTED", "redact_url"]

REDACTED = "<redacted>"

#: type -> (required keys, optional keys)
CHANNEL_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "slack": (("webhook_url",), ("timeout_s",)),
    "webhook": (("url",), ("headers", "timeout_s")),
    "alertmanager": (("url",), ("headers", "timeout_s", "resend_interval_s")),
    "email": (("smtp_host", "smtp_port", "from_addr", "to_addrs"),
              ("username", "password", "starttls", "ssl", "timeout_s")),
    "log": ((), ("component",)),
}
_SECRET_KEYS = {"password", "token", "api_key", "secret"}


def redact_url(url: str, *, keep_path: bool) -> str:
    """``url`` without user info, query and fragment; without its path unless ``keep_path``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    path = parts.path if keep_path else ("/" + REDACTED if parts.path not in ("", "/") else "")
    return f"{parts.scheme}://{host}{port}{path}"


def _check_url(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"config[{key!r}] must be an http(s) URL, not {value!r}")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"config[{key!r}] is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"config[{key!r}] must be an http(s) URL, not {value!r}")
    return value.strip()


def _check_port(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"config[{key!r}] must be a port number 1-65535, not {value!r}")
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"config[{key!r}] must be a port number 1-65535, not {value!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"config[{key!r}] must be a port number 1-65535, not {value!r}")
    return port


def _check_timeout(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 300:
        raise ValueError(f"config[{key!r}] must be a number of seconds in (0, 300], not {value!r}")
    return float(value)


def _check_addresses(value: object, key: str) -> list[str]:
    addresses = [value] if isinstance(value, str) else value
    if not isinstance(addresses, (list, tuple)) or not addresses:
        raise ValueError(f"config[{key!r}] must be one address or a non-empty list of addresses")
    for address in addresses:
        if not isinstance(address, str) or "@" not in address or any(c in address for c in "\r\n"):
            raise ValueError(f"config[{key!r}] has an invalid address {address!r}")
    return list(addresses)


@dataclass(eq=False)
class NotificationChannel:
    """Where notifications go: ``slack``, ``webhook``, ``alertmanager``, ``email`` or ``log``.

    >>> NotificationChannel("slack", "alerts", {"webhook_url": "https://hooks.slack.com/services/T/B/X"})
    ... # doctest: +SKIP
    """

    channel_type: str
    channel_name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.channel_type, str) or self.channel_type.lower() not in CHANNEL_TYPES:
            raise ValueError(f"channel_type must be one of {', '.join(CHANNEL_TYPES)}, not {self.channel_type!r}")
        self.channel_type = self.channel_type.lower()
        if not isinstance(self.channel_name, str) or not self.channel_name.strip():
            raise ValueError(f"channel_name must be a non-empty string, not {self.channel_name!r}")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"config must be a mapping, not {type(self.config).__name__}")
        self.config = self._checked(dict(self.config))

    def _checked(self, config: dict[str, Any]) -> dict[str, Any]:
        required, optional = CHANNEL_TYPES[self.channel_type]
        for key in required:
            if config.get(key) in (None, ""):
                raise ValueError(f"{self.channel_type} channel {self.channel_name!r}: config[{key!r}] is missing")
        unknown = sorted(set(config) - set(required) - set(optional))
        if unknown:
            raise ValueError(f"{self.channel_type} channel {self.channel_name!r}: unknown config key "
                             f"{unknown[0]!r} (allowed: {', '.join(required + optional)})")
        for key in ("webhook_url", "url"):
            if key in config:
                config[key] = _check_url(config[key], key)
        if "smtp_port" in config:
            config["smtp_port"] = _check_port(config["smtp_port"], "smtp_port")
        if "smtp_host" in config and (not isinstance(config["smtp_host"], str) or not config["smtp_host"].strip()):
            raise ValueError(f"config['smtp_host'] must be a host name, not {config['smtp_host']!r}")
        if "to_addrs" in config:
            config["to_addrs"] = _check_addresses(config["to_addrs"], "to_addrs")
        if "from_addr" in config:
            config["from_addr"] = _check_addresses(config["from_addr"], "from_addr")[0]
        for key in ("timeout_s", "resend_interval_s"):
            if key in config:
                config[key] = _check_timeout(config[key], key)
        if "headers" in config:
            headers = config["headers"]
            if not isinstance(headers, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) and "\n" not in v + k for k, v in headers.items()):
                raise ValueError("config['headers'] must be a mapping of header names to string values")
            config["headers"] = dict(headers)
        for key in ("starttls", "ssl"):
            if key in config and not isinstance(config[key], bool):
                raise ValueError(f"config[{key!r}] must be true or false, not {config[key]!r}")
        if config.get("starttls") and config.get("ssl"):
            raise ValueError("config['starttls'] and config['ssl'] cannot both be true")
        return config

    # -- secrets ------------------------------------------------------------------

    def secrets(self) -> dict[str, Any]:
        """The config values that are secret (kept in memory, or in the user's secrets file)."""
        found: dict[str, Any] = {}
        for key, value in self.config.items():
            if key == "webhook_url" or (key == "url" and self.channel_type == "webhook"):
                found[key] = value
            elif key == "headers" and value:
                found[key] = copy.deepcopy(value)
            elif key in _SECRET_KEYS or key == "url" and urlsplit(value).password:
                found[key] = value
        return found

    def secret_strings(self) -> list[str]:
        """Every secret as text, for scrubbing error messages (longest first)."""
        texts: list[str] = []
        for key, value in self.secrets().items():
            if isinstance(value, Mapping):
                texts.extend(str(v) for v in value.values())
            else:
                texts.append(str(value))
                if key in ("webhook_url", "url"):
                    parts = urlsplit(str(value))
                    texts.extend(p for p in (parts.path, parts.query, parts.password or "") if len(p) > 1)
        return sorted({t for t in texts if len(t) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this channel replaced by ``<redacted>``."""
        for secret in self.secret_strings():
            text = text.replace(secret, REDACTED)
        return text

    def redacted(self) -> dict[str, Any]:
        """``{channel_type, channel_name, enabled, config, has_secrets}`` with secrets masked."""
        config: dict[str, Any] = {}
        secrets = self.secrets()
        for key, value in self.config.items():
            if key not in secrets:
                config[key] = value
            elif key == "webhook_url" or key == "url":
                config[key] = redact_url(value, keep_path=self.channel_type == "alertmanager")
            elif key == "headers":
                config[key] = {name: REDACTED for name in value}
            else:
                config[key] = REDACTED
        return {"channel_type": self.channel_type, "channel_name": self.channel_name, "enabled": self.enabled,
                "config": config, "has_secrets": bool(secrets)}

    def complete(self) -> bool:
        """False for a channel reloaded without its secrets (it cannot deliver)."""
        return not _has_redacted(self.config)


def _has_redacted(value: Any) -> bool:
    if isinstance(value, str):
        return REDACTED in value
    if isinstance(value, Mapping):
        return any(_has_redacted(v) for v in value.values())
    return False
