"""Make a record safe to keep: redact secrets, bound sizes, turn any value into a valid attribute.

One set of rules for every signal: log records (the log aggregator and a
scrubbing processor in front of the logger provider), span attributes and span
events (a span processor that scrubs each span as it ends, before any exporter
or store sees it), and metric label values (when the series is created). So a
password in a keyword argument, a ``db.password`` span attribute or
``"login failed password=hunter2"`` never reaches memory, the files, the
exposition or an OTLP collector.

* attribute keys holding a sensitive word as a whole word (case-insensitive;
  ``-``, ``.`` and camelCase read as word breaks: ``db_password``, ``X-Api-Key``,
  ``db.password``, ``clientSecret``, ``DBPassword``, ``session_id``) get ``"[REDACTED]"``; the
  ambiguous words ``token`` and ``session`` count only as the key's last word
  (``access_token``, ``user_session``), so ``tokenizer`` and ``session_count``
  are kept;
* values that are secrets by their shape (AWS access key ids, ``AKIA...``) are
  redacted wherever they appear;
* ``key=value``, ``key: value`` and ``"key": "value"`` pairs with such keys
  inside messages and string attributes keep the key and lose the value;
* strings longer than the limit are cut and end with a visible marker;
* values OTel cannot carry become their ``repr``.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_REDACT_KEYS", "LAST_WORD_REDACT_KEYS", "REDACTED", "Scrubber", "exception_attributes", "key_words"]

REDACTED = "[REDACTED]"

#: Words that make a key sensitive wherever they stand in it (as whole words).
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password", "passwd", "secret", "api_key", "apikey", "authorization", "cookie", "private_key",
    "session_id", "sessionid", "credentials", "access_key",
)
#: Words that make a key sensitive only as its last word (``access_token``, not ``token_count``).
LAST_WORD_REDACT_KEYS: tuple[str, ...] = ("token", "session")
#: Values that are secrets whatever their key: AWS access key ids.
_SECRET_VALUES = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# camelCase breaks, and the end of an acronym before a capitalised word (DBPassword, AWSSecretAccessKey).
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BREAKS = re.compile(r"[-.\s]+")


def key_words(key: str) -> str:
    """``key`` folded to ``_``-separated lower-case words (``X-Api-Key`` -> ``x_api_key``, ``DBPassword`` -> ``db_password``)."""
    return _BREAKS.sub("_", _CAMEL.sub("_", key)).lower()

_MAX_DEPTH = 4          # nested lists/dicts deeper than this become their repr
_KEY_CACHE_LIMIT = 4096  # distinct attribute keys remembered as sensitive or not
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def exception_attributes(exc: Any) -> dict[str, Any]:
    """OTel semantic-convention attributes for ``exception=`` (an instance, a class or a type name).

    An instance gives ``exception.type`` (``module.QualName`` outside builtins,
    as OTel's SDK names it), ``exception.message`` and ``exception.stacktrace``
    (when it was raised); a class or a string gives only the type.
    """
    if isinstance(exc, BaseException):
        cls = type(exc)
        attrs: dict[str, Any] = {"exception.type": _type_name(cls), "exception.message": str(exc)}
        if exc.__traceback__ is not None:
            attrs["exception.stacktrace"] = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
        return attrs
    if isinstance(exc, type) and issubclass(exc, BaseException):
        return {"exception.type": _type_name(exc)}
    return {"exception.type": str(exc)}


def _type_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if not module or module == "builtins" else f"{module}.{cls.__qualname__}"


class Scrubber:
    """Redaction and bounds for one aggregator (its keys and its length limit)."""

    def __init__(self, extra_keys: Iterable[str] = (), max_length: int = 32 * 1024) -> None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 64:
            raise ValueError(f"max_message_length={max_length!r} must be an integer >= 64")
        words = []
        for key in (*DEFAULT_REDACT_KEYS, *extra_keys):
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"redact key {key!r} must be a non-empty string")
            word = key_words(key.strip())
            if word not in words:
                words.append(word)
        self.words: tuple[str, ...] = tuple(words)
        self.last_words: tuple[str, ...] = LAST_WORD_REDACT_KEYS
        self._squashed = tuple(word.replace("_", "") for word in (*words, *self.last_words))
        self._any = re.compile(r"(?:^|_)(?:" + "|".join(map(re.escape, words)) + r")(?:_|$)")
        self._last = re.compile(r"(?:^|_)(?:" + "|".join(map(re.escape, self.last_words)) + r")$")
        self.max_length = max_length
        # A key is a whole token (never starts inside a word), so the search
        # stays linear on long texts; whether it is sensitive is decided by
        # `sensitive()`, the same rule as for attribute keys.
        self._key = re.compile(r"(?<![\w.-])(?P<key>[\w.-]+)(?P<sep>[\"']?\s*[=:]\s*)")
        self._value = re.compile(
            r"\"[^\"]*\"|'[^']*'|(?:bearer|basic|digest|token)\s+[^\s,;&]+|[^\s,;&\"']+", re.IGNORECASE)
        self._keys: dict[str, bool] = {}

    # -- keys ---------------------------------------------------------------------

    def sensitive(self, key: str) -> bool:
        """True when ``key`` names a secret."""
        known = self._keys.get(key)
        if known is None:
            folded = key_words(key)
            known = bool(self._any.search(folded) or self._last.search(folded))
            if len(self._keys) < _KEY_CACHE_LIMIT:
                self._keys[key] = known
        return known

    # -- text ---------------------------------------------------------------------

    def text(self, value: str) -> str:
        """``value`` with secret pairs redacted, cut to the length limit."""
        if len(value) > self.max_length:
            cut = len(value) - self.max_length
            value = value[: self.max_length] + f"...[truncated {cut} chars]"
        if ("=" in value or ":" in value) and self._mentions_secret(value):
            value = self._redact_pairs(value)
        if "AKIA" in value or "ASIA" in value:
            value = _SECRET_VALUES.sub(REDACTED, value)
        return value

    def _mentions_secret(self, value: str) -> bool:
        # A cheap pre-check (substrings); `sensitive()` decides for each key found. Keys break into
        # words at "_", "-", "." and camelCase (key_words), so the check compares the words with every
        # separator removed: `api.key=`, `privateKey=` must reach that decision too.
        folded = value.lower().replace("_", "").replace("-", "").replace(".", "")
        return any(word in folded for word in self._squashed)

    def _redact_pairs(self, text: str) -> str:
        # Keys are matched without their values, so a harmless pair does not
        # hide a secret one inside its value (`url=https://h/?token=abc`).
        parts: list[str] = []
        done = 0
        for pair in self._key.finditer(text):
            if pair.start() < done or not self.sensitive(pair.group("key")):
                continue
            value = self._value.match(text, pair.end())
            if value is None:
                continue
            quote = value.group(0)[0] if value.group(0)[:1] in ("'", '"') else ""
            parts.append(text[done:pair.end()])
            parts.append(f"{quote}{REDACTED}{quote}")
            done = value.end()
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def message(self, message: Any) -> str:
        """A message as a safe string (non-strings are ``str()``-ed)."""
        if type(message) is not str:
            message = _safe_str(message)
        return self.text(message)

    # -- values ---------------------------------------------------------------------

    def value(self, value: Any, depth: int = 0) -> Any:
        """``value`` as an OTel attribute value, secrets and sizes handled."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is bool or kind is float:
            return value
        if isinstance(value, int):  # bool subclasses and enums too; OTLP carries 64-bit ints only
            value = bool(value) if isinstance(value, bool) else int(value)
            return value if type(value) is bool or _INT64_MIN <= value <= _INT64_MAX else str(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return self.text(str(value))
        if isinstance(value, bytes):
            return bytes(value[: self.max_length])
        if depth < _MAX_DEPTH:
            if isinstance(value, (list, tuple)):
                return tuple(self.value(item, depth + 1) for item in value[:1000])
            if isinstance(value, Mapping):
                return self.mapping(value, depth + 1)
        return self.text(_safe_repr(value))

    def changes(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """What to replace in ``attributes`` (already valid OTel attributes) to redact secrets; None if nothing.

        Sensitive keys lose their value; string values holding ``key=value`` secrets or
        shaped secrets are redacted inside. Used on spans and events as they end.
        """
        found: dict[str, Any] | None = None
        known = self._keys  # sensitive()'s cache, read here first: this runs for every span that ends
        for key, value in attributes.items():
            secret = known.get(key)
            if secret is None:
                secret = self.sensitive(key)
            if secret:
                if value != REDACTED:
                    found = found if found is not None else {}
                    found[key] = REDACTED
            elif type(value) is str and ("=" in value or ":" in value or "AKIA" in value or "ASIA" in value):
                cleaned = self.text(value) if len(value) <= self.max_length else value
                if cleaned != value:
                    found = found if found is not None else {}
                    found[key] = cleaned
        return found

    def mapping(self, values: Mapping[Any, Any], depth: int = 0) -> dict[str, Any]:
        """A mapping's items as attributes: sensitive keys redacted, values cleaned."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            key = key if type(key) is str else _safe_str(key)
            out[key] = REDACTED if self.sensitive(key) else self.value(value, depth)
        return out


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the record
        return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001
        return f"<unrepresentable {type(value).__name__}>"
