"""The JSON Schemas of the documented files, and a small validator for them.

The schemas in ``schemas/`` are standard JSON Schema (draft 2020-12; the test
suite checks them with the ``jsonschema`` package). ``validate`` implements the
part of the standard they use (``type``, ``enum``, ``required``,
``properties``, ``additionalProperties``, ``items``, ``pattern``, ``minimum``)
so ``monitoring-layer check`` needs no extra dependency.

A file of an older ``schema_version`` that the library still reads (and
migrates on read) is checked against ``schemas/<name>.v<version>.schema.json``
when that exists (``schema_for``); otherwise against the current schema.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

__all__ = ["FILES", "load_schema", "schema_for", "validate"]

#: Documented file (relative to MONITORING_HOME) -> schema name in ``schemas/``.
FILES: dict[str, str] = {
    "metrics/metrics_registry.json": "metrics",
    "logs/logs.json": "logs",
    "traces/traces.json": "traces",
    "alerts/rules.json": "alert_rules",
    "alerts/incidents.json": "alert_incidents",
    "alerts/audit_log.json": "alert_audit",
    "health/health_status.json": "health_status",
    "health/health_history.json": "health_history",
}

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.schema.json`` shipped in the package."""
    text = resources.files(__package__).joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def schema_for(name: str, doc: Any) -> str:
    """The schema name for ``doc``, a document of kind ``name``: ``<name>.v<N>`` when the document says
    ``schema_version`` N and that older schema ships, else ``name`` (the current one)."""
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if isinstance(version, int) and not isinstance(version, bool):
        older = f"{name}.v{version}"
        if resources.files(__package__).joinpath("schemas", f"{older}.schema.json").is_file():
            return older
    return name


def validate(instance: Any, schema: dict[str, Any], *, max_errors: int = 20) -> list[str]:
    """Problems of ``instance`` against ``schema``, as ``"$.path: reason"`` strings (empty: valid)."""
    errors: list[str] = []
    _check(instance, schema, "$", errors, max_errors)
    return errors


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool):  # bool is an int subclass in Python, not in JSON
        return name == "boolean"
    if name == "integer":
        return isinstance(value, int)
    if name == "number":
        return isinstance(value, (int, float))
    return isinstance(value, _TYPES[name])


def _check(value: Any, schema: dict[str, Any], path: str, errors: list[str], limit: int) -> None:
    if len(errors) >= limit:
        return
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, name) for name in names):
            errors.append(f"{path}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and _is_type(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            child = f"{path}.{key}"
            if key in properties:
                _check(item, properties[key], child, errors, limit)
            elif extra is False:
                errors.append(f"{path}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, child, errors, limit)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", errors, limit)
            if len(errors) >= limit:
                return
