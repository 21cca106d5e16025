"""Property: every ``extra=`` field of a stdlib logging call reaches the exported record (issue 15, item 10)."""

from __future__ import annotations

import itertools
import json
import logging
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitoring_layer._safe import safe_text
from monitoring_layer._scrub import REDACTED, Scrubber
from tests._strategies import HOSTILE_TEXT

# What a LogRecord already has (logging refuses these in extra=), what the bridge reads specially, and
# names starting with "_" (libraries keep private state on records that way; documented as not recorded).
_TAKEN = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName",
                                                                      "exception", "exc_info"}
_KEYS = st.one_of(HOSTILE_TEXT, st.from_regex(r"[a-z][a-z0-9_.]{0,15}", fullmatch=True)).filter(
    lambda k: k not in _TAKEN and not k.startswith("_"))
# Plain values: the property is that fields arrive, not how text is scrubbed (test_properties_scrub).
_VALUES = st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats(allow_nan=False),
                    st.text(st.characters(exclude_characters="=:", exclude_categories=("Cs",)), max_size=20))
_SCRUBBER = Scrubber()


@pytest.mark.slow
def test_every_extra_field_is_kept(process_wide) -> None:
    from monitoring_layer import get_log_aggregator

    logs = get_log_aggregator()
    logger = logs.create_python_logger("bridged")
    home = process_wide.settings.home
    serial = itertools.count()

    @given(extra=st.dictionaries(_KEYS, _VALUES, max_size=5))
    @example(extra={"order_id": "A-1"})  # the single extra field Python 3.11 lost
    @example(extra={})
    @example(extra={"component": "other"})
    @example(extra={"code.line.number": "mine", "password": "pw"})
    def check(extra: dict[str, object]) -> None:
        message = f"bridged #{next(serial)}"
        logger.info("bridged #%d", int(message[9:]), extra=extra)
        record = logs.get_logs(limit=1)[0]
        assert record["message"] == message
        # An extra "component" field names the component in place of the logger (documented).
        assert record["component"] == extra.get("component", "bridged")
        for key, value in extra.items():
            assert key in record["attributes"], (key, record["attributes"])
            kept = str(value) if isinstance(value, float) and not math.isfinite(value) else value  # JSON has no inf
            assert record["attributes"][key] == (REDACTED if _SCRUBBER.sensitive(key) else kept)
        assert process_wide.flush() is True
        [exported] = [r for r in json.loads((home / "logs/logs.json").read_text("utf-8"))["records"]
                      if r["message"] == message]
        assert {safe_text(key) for key in extra} <= set(exported["attributes"]), exported

    try:
        check()
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
