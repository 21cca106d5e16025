"""What each channel type sends: Slack incoming-webhook bodies, Alertmanager webhook v4, Alertmanager API v2
alerts, and e-mail messages. Pure functions of alert snapshots (dicts), so they are easy to test.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any

from monitoring_layer._safe import safe_text

__all__ = ["alertmanager_alerts", "email_message", "json_bytes", "slack_body", "summary_line", "webhook_v4_body",
           "prom_labels"]


def prom_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """The alert's label set as Alertmanager sees it: ``alertname``, ``severity``, the rule's and the series'."""
    labels = {str(k): str(v) for k, v in alert.get("labels", {}).items()}
    labels["alertname"] = str(alert["rule_id"])
    labels["severity"] = str(alert["severity"])
    return labels


def _annotations(alert: Mapping[str, Any]) -> dict[str, str]:
    annotations = {"summary": str(alert["name"]), "value": _fmt(alert.get("value")),
                   "condition": f"{alert.get('metric', '')} {alert.get('condition', '')}".strip()}
    if alert.get("description"):
        annotations["description"] = str(alert["description"])
    annotations.update({str(k): str(v) for k, v in (alert.get("annotations") or {}).items()})
    return annotations


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _status(alert: Mapping[str, Any]) -> str:
    return "resolved" if alert["state"] == "resolved" else "firing"


def summary_line(alert: Mapping[str, Any]) -> str:
    """``[FIRING] High CPU Usage (critical): cpu_usage = 92 (> 85)`` — one line for logs and subjects."""
    return (f"[{_status(alert).upper()}] {alert['name']} ({alert['severity']}): "
            f"{alert.get('metric', '')} = {_fmt(alert.get('value'))} ({alert.get('condition', '')})")


def _label_text(labels: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"


def slack_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (the fallback and notification line) plus Block Kit ``blocks``."""
    firing = _status(alert) == "firing"
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    title = f"{icon} {_status(alert).upper()}: {alert['name']}"
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{alert['severity']}"},
        {"type": "mrkdwn", "text": f"*State*\n{alert['state']}"},
        {"type": "mrkdwn", "text": f"*Value*\n`{alert.get('metric', '')}` = {_fmt(alert.get('value'))}"},
        {"type": "mrkdwn", "text": f"*Condition*\n{alert.get('condition', '')}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"labels: {_label_text(alert.get('labels', {}))} · alert `{alert['alert_id']}` · "
            f"incident `{alert.get('incident_id', '')}` · since {alert.get('started_at', '')}")[:3000]}]},
    ]
    if alert.get("description"):
        blocks.insert(1, {"type": "section", "text": {"type": "mrkdwn", "text": str(alert["description"])[:3000]}})
    return {"text": summary_line(alert), "blocks": blocks}


def webhook_v4_body(alerts: Sequence[Mapping[str, Any]], receiver: str, group_labels: Mapping[str, str],
                    external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook payload (``version: "4"``) for a group of alerts."""
    items = [_webhook_alert(a) for a in alerts]
    label_sets = [item["labels"] for item in items]
    annotation_sets = [item["annotations"] for item in items]
    status = "firing" if any(item["status"] == "firing" for item in items) else "resolved"
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}"
    return {
        "version": "4", "groupKey": group_key, "truncatedAlerts": 0, "status": status, "receiver": receiver,
        "groupLabels": dict(group_labels), "commonLabels": _common(label_sets),
        "commonAnnotations": _common(annotation_sets), "externalURL": external_url, "alerts": items,
    }


def _common(dicts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def _webhook_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    resolved = _status(alert) == "resolved"
    return {
        "status": _status(alert), "labels": prom_labels(alert), "annotations": _annotations(alert),
        "startsAt": alert["started_at"],
        "endsAt": alert.get("ended_at") if resolved and alert.get("ended_at") else "0001-01-01T00:00:00Z",
        "generatorURL": "", "fingerprint": alert["fingerprint"],
    }


def alertmanager_alerts(alerts: Sequence[Mapping[str, Any]], ends_at_firing: str) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts``: firing alerts end at ``ends_at_firing`` unless re-sent (as
    Prometheus does, so Alertmanager resolves them itself if we stop); resolved ones end when they cleared."""
    body = []
    for alert in alerts:
        resolved = _status(alert) == "resolved"
        body.append({
            "labels": prom_labels(alert), "annotations": _annotations(alert), "startsAt": alert["started_at"],
            "endsAt": (alert.get("ended_at") or alert["updated_at"]) if resolved else ends_at_firing,
        })
    return body


def email_message(alert: Mapping[str, Any], from_addr: str, to_addrs: Sequence[str]) -> EmailMessage:
    """A plain-text + HTML message whose subject names the rule, severity and state."""
    message = EmailMessage()
    state = _status(alert).upper()
    message["Subject"] = f"[{state}] {alert['name']} ({alert['rule_id']}) severity={alert['severity']}"
    message["From"] = from_addr
    message["To"] = ", ".join(to_addrs)
    rows = [
        ("Rule", f"{alert['name']} ({alert['rule_id']})"), ("State", str(alert["state"])),
        ("Severity", str(alert["severity"])), ("Metric", str(alert.get("metric", ""))),
        ("Value", _fmt(alert.get("value"))), ("Condition", str(alert.get("condition", ""))),
        ("Labels", _label_text(alert.get("labels", {}))), ("Started", str(alert.get("started_at", ""))),
        ("Alert", str(alert["alert_id"])), ("Incident", str(alert.get("incident_id", ""))),
    ]
    if alert.get("description"):
        rows.append(("Description", str(alert["description"])))
    text = summary_line(alert) + "\n\n" + "\n".join(f"{k}: {v}" for k, v in rows) + "\n"
    message.set_content(text)
    cells = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    message.add_alternative(
        f"<html><body><h2>{html.escape(summary_line(alert))}</h2><table>{cells}</table></body></html>",
        subtype="html")
    return message


def json_bytes(body: Any) -> bytes:
    """Compact UTF-8 JSON (a lone surrogate in a label becomes U+FFFD rather than failing every attempt)."""
    return safe_text(json.dumps(body, separators=(",", ":"), ensure_ascii=False)).encode("utf-8")
