"""Property: secrets are redacted by whole-word keys and by shape in every signal (issue 15, item 7).

Keys are built from words, so whether a key is sensitive is known by
construction: it holds a sensitive word as a whole word (``token`` and
``session`` only as its last word), in any spelling (``db_password``,
``db.password``, ``X-Api-Key``, ``dbPassword``, ``DBPassword``). Words that
only *contain* one (``tokenizer``, ``secretary``) never make a key sensitive.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitoring_layer._scrub import DEFAULT_REDACT_KEYS, LAST_WORD_REDACT_KEYS, REDACTED
from tests._strategies import fresh_ids

# Each sensitive word of the rules, as the words a key spells it with (``api_key`` is ``api`` + ``key``).
SECRET_WORDS = [tuple(word.split("_")) for word in DEFAULT_REDACT_KEYS]
LAST_WORDS = [(word,) for word in LAST_WORD_REDACT_KEYS]
# Words that contain a sensitive word without being one, and plain words; none of them, next to another,
# spells a sensitive word.
BENIGN = ["tokenizer", "secretary", "count", "user", "name", "db", "http", "aws", "region", "bytes", "retries",
          "passwordless", "cookiejar", "tokens2", "host", "header"]

_STYLES = ["snake", "dots", "kebab", "camel", "upper", "pascal_acronym"]


def _spell(words: list[str], style: str) -> str:
    if style == "snake":
        return "_".join(words)
    if style == "dots":
        return ".".join(words)
    if style == "kebab":
        return "-".join(w.capitalize() for w in words)
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if style == "upper":
        return "_".join(words).upper()
    # PascalCase with short benign words as acronyms: DBPassword, AWSSecretAccessKey, HTTPAuthorization
    return "".join(w.upper() if w in BENIGN and len(w) <= 4 else w.capitalize() for w in words)


@st.composite
def keys(draw: st.DrawFn) -> tuple[str, bool, list[str]]:
    """``(key, sensitive, words)``: a key spelled from words, and whether it names a secret."""
    before = draw(st.lists(st.sampled_from(BENIGN), max_size=2))
    kind = draw(st.sampled_from(["benign", "secret", "last", "not_last"]))
    if kind == "secret":
        middle = list(draw(st.sampled_from(SECRET_WORDS)))
        after = draw(st.lists(st.sampled_from(BENIGN), max_size=2))
    elif kind == "last":
        middle, after = list(draw(st.sampled_from(LAST_WORDS))), []
    elif kind == "not_last":  # token_count, session_count: kept
        middle = list(draw(st.sampled_from(LAST_WORDS)))
        after = draw(st.lists(st.sampled_from(BENIGN), min_size=1, max_size=2))
    else:
        middle, after = [], draw(st.lists(st.sampled_from(BENIGN), min_size=1, max_size=2))
    words = before + middle + after
    style = draw(st.sampled_from(_STYLES))
    return _spell(words, style), kind in ("secret", "last"), words


def _label_key(words: list[str]) -> str:
    return "_".join(words)  # label names are [a-zA-Z_][a-zA-Z0-9_]*


#: Values a reader could spot anywhere: no separators, no key=value, never AKIA-shaped.
VALUES = st.from_regex(r"[a-z0-9]{6,12}", fullmatch=True)
#: AWS access key ids (AKIA...: long-term, ASIA...: temporary).
AWS_KEY_IDS = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["AKIA", "ASIA"]),
                        st.from_regex(r"[0-9A-Z]{16}", fullmatch=True))


@pytest.mark.slow
def test_keys_are_redacted_by_whole_words_in_logs_spans_and_labels(process_wide) -> None:
    from monitoring_layer import get_log_aggregator, get_metrics_collector, get_tracing_collector

    metrics, logs, traces = get_metrics_collector(), get_log_aggregator(), get_tracing_collector()
    home = process_wide.settings.home
    serial = itertools.count()

    @given(key=keys(), value=VALUES)
    @example(key=("DBPassword", True, ["db", "password"]), value="hunter2")
    @example(key=("AWSSecretAccessKey", True, ["aws", "secret", "access", "key"]), value="wjalrxutnfemi")
    @example(key=("tokenizer", False, ["tokenizer"]), value="bert01")
    @example(key=("session_count", False, ["session", "count"]), value="five55")
    @example(key=("api.key", True, ["api", "key"]), value="000000")  # the message pre-check missed dotted keys
    @example(key=("privateKey", True, ["private", "key"]), value="000000")  # ... and camelCase ones
    def check(key: tuple[str, bool, list[str]], value: str) -> None:
        fresh_ids()
        name, sensitive, words = key
        value = f"v{next(serial)}x{value}"  # unique: found in a file, it is this example's
        expected = REDACTED if sensitive else value
        # logs: a field, and key=value inside the message
        logs.info("scrub", f"login {name}={value} done", **{name: value})
        record = logs.get_logs(component="scrub", limit=1)[0]
        assert record["attributes"][name] == expected, record
        assert (value in record["message"]) is not sensitive, record["message"]
        # spans: a tag at start, a tag added later, an event attribute
        trace_id = traces.start_trace(service="scrub")
        span = traces.start_span("op", component="scrub", tags={name: value})
        traces.add_tag(span, f"{name}", value)
        traces.add_event(span, "evt", {name: value})
        traces.end_span(span)
        traces.end_trace(trace_id)
        trace = traces.get_trace(trace_id)
        assert trace is not None
        (op,) = [s for s in trace["spans"] if s["operation_name"] == "op"]
        assert op["tags"][name] == expected, op
        assert op["events"][0]["attributes"][name] == expected, op
        # metric labels
        label = _label_key(words)
        metric = f"scrub_{next(serial)}"
        metrics.increment_counter(metric, labels={label: value})
        assert (f'{label}="{value}"' in metrics.export_prometheus_format()) is not sensitive
        [series] = metrics.export_metrics()["metrics"][metric]["series"]
        assert series["labels"][label] == expected, series
        assert process_wide.flush() is True
        for file in ("logs/logs.json", "traces/traces.json", "metrics/metrics_registry.json"):
            assert (value in (home / file).read_text("utf-8")) is not sensitive, file

    check()


@pytest.mark.slow
def test_aws_access_key_ids_are_redacted_anywhere(process_wide) -> None:
    from monitoring_layer import get_log_aggregator, get_metrics_collector, get_tracing_collector

    metrics, logs, traces = get_metrics_collector(), get_log_aggregator(), get_tracing_collector()
    home = process_wide.settings.home
    serial = itertools.count()
    separators = st.sampled_from([" ", "\n", ",", "(", ")", "/", '"', "'", "[", "]", ""])

    @given(key_id=AWS_KEY_IDS, before=st.text(max_size=8), after=st.text(max_size=8), left=separators,
           right=separators)
    @example(key_id="AKIAIOSFODNN7EXAMPLE", before="key", after="", left=" ", right="")
    def check(key_id: str, before: str, after: str, left: str, right: str) -> None:
        # Glued to letters or digits it is not a key id (AKIA... inside a longer token); else it is.
        before = before + left if left or not before else before + " "
        after = right + after if right or not after else " " + after
        fresh_ids()
        text = f"{before}{key_id}{after}"
        n = next(serial)
        logs.warning("aws", text, note=text)
        trace_id = traces.start_trace(service="aws")
        span = traces.start_span("upload", component="aws", tags={"note": text})
        traces.add_event(span, "evt", {"note": text})
        traces.end_span(span)
        traces.end_trace(trace_id)
        metrics.increment_counter(f"aws_{n}", labels={"note": text})
        answers = json.dumps([logs.get_logs(component="aws", limit=1), traces.get_trace(trace_id),
                              metrics.export_metrics()["metrics"][f"aws_{n}"]])
        assert key_id not in answers
        assert key_id not in metrics.export_prometheus_format()
        assert process_wide.flush() is True
        for file in ("logs/logs.json", "traces/traces.json", "metrics/metrics_registry.json"):
            assert key_id not in (home / file).read_text("utf-8"), file

    check()
