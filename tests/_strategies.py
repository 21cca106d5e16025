"""Hypothesis strategies shared by the property tests (tests/test_properties_*.py)."""

from __future__ import annotations

import keyword
import os
import random

from hypothesis import strategies as st

#: Lone surrogates, what ``os.fsdecode`` gives for a non-UTF-8 file name (``"\\udcff"``).
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
#: Characters that mean something to JSON, the exposition format, logfmt or our scrubber.
_SPECIAL = st.sampled_from(['"', "\\", "\n", "\r", "\t", "\x00", "\x7f", "{", "}", "=", ":", ",", "#", " ",
                            "\u2028", "\ufeff", "\ufffd", "\U0001F600", "AKIA", "password="])

#: Any text: every code point (lone surrogates included, and likely), plus the characters above.
HOSTILE_TEXT = st.lists(
    st.one_of(st.characters(exclude_categories=()), SURROGATES, _SPECIAL), max_size=24).map("".join)

#: Valid metric names (``[a-zA-Z][a-zA-Z0-9_]*``), short so that they collide often.
METRIC_NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,12}", fullmatch=True)
#: Valid label names (``[a-zA-Z_][a-zA-Z0-9_]*``, not ``__*``, not the exposition's own).
LABEL_NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: n not in {"le", "quantile"} and not n.startswith("otel_"))

#: Field names a keyword argument can carry (``logs.info(..., **{name: value})``), hostile text included.
FIELD_NAMES = st.one_of(HOSTILE_TEXT.filter(bool), st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
                        .filter(lambda n: not keyword.iskeyword(n)))


def fresh_ids() -> None:
    """Reseed ``random`` from the OS inside an example.

    Hypothesis seeds the global ``random`` the same way for every example, and OTel's
    id generator draws trace and span ids from it: without this, every example's
    trace would have the same id and their spans would merge into one trace.
    Hypothesis restores the state after the example, so inputs stay reproducible.
    """
    random.seed(os.urandom(16))
