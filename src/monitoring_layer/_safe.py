"""Text that always encodes: lone surrogates replaced, once, where text enters the library.

``os.fsdecode`` of a non-UTF-8 file name, or bytes decoded with
``surrogateescape``, give ``str`` values with lone surrogates (``"\\udcff"``).
They print in Python but cannot be encoded as UTF-8, so one of them in a label,
a log message or a span attribute would make every later write of a file, or
every Prometheus scrape, fail. ``safe_text`` replaces each lone surrogate with
U+FFFD (a valid surrogate pair becomes its character) and costs one
``isascii()`` for the common case.
"""

from __future__ import annotations

__all__ = ["safe_text"]


def safe_text(text: str) -> str:
    """``text``, with lone surrogates replaced by U+FFFD so that it encodes as UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
