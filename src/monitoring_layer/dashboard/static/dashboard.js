// monitoring-layer dashboard. Builds every element with createElement/textContent (data never goes through
// an HTML parser), so log messages, labels, span names and rule texts always show as text.
"use strict";

const REFRESH_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const state = { token: sessionStorage.getItem("ml-token") || "", trace: null, metric: "", actions: false };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString() : value.toFixed(digits ?? 2);
  return String(value);
}

function timeOf(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleTimeString([], { hour12: false });
}

async function api(path, params, options) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
  const headers = Object.assign({ Accept: "application/json" }, (options && options.headers) || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch(url, Object.assign({}, options || {}, { headers, cache: "no-store" }));
  if (response.status === 401) {
    document.getElementById("auth").classList.remove("hidden");
    throw new Error("unauthorized");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ---------------------------------------------------------------- summary cards

function card(label, value, tone, testid) {
  return el("div", { class: "stat " + (tone || ""), "data-testid": testid || "" },
    el("div", { class: "label", text: label }), el("div", { class: "value", text: value }));
}

function renderSummary(s) {
  const status = document.getElementById("status");
  status.textContent = s.status;
  status.className = "badge " + s.status;
  document.getElementById("source").textContent = s.source === "home" ? "reading " + s.home : "live";
  state.actions = !!s.actions_enabled;
  const c = s.counts, a = s.active_alerts, t = s.self_telemetry || {};
  const alerts = (a.critical || 0) + (a.high || 0) + (a.medium || 0) + (a.low || 0);
  document.getElementById("cards").replaceChildren(
    card("traces", fmt(c.traces), "", "card-traces"),
    card("error traces", fmt(c.error_traces), c.error_traces ? "warn" : "", "card-error-traces"),
    card("error rate", fmt(100 * (s.error_rate || 0), 1) + " %", s.error_rate > 0.05 ? "bad" : "", "card-error-rate"),
    card("p95 latency", s.p95_latency_ms === null ? "–" : fmt(s.p95_latency_ms, 1) + " ms", "", "card-p95"),
    card("logs", fmt(c.logs), "", "card-logs"),
    card("log errors", fmt(c.log_errors), c.log_errors ? "warn" : "", "card-log-errors"),
    card("metrics", fmt(c.metrics), "", "card-metrics"),
    card("active alerts", alerts + (a.critical ? " (" + a.critical + " critical)" : ""), a.critical ? "bad" : alerts ? "warn" : "", "card-alerts"),
    card("unhealthy", fmt(c.unhealthy_components), c.unhealthy_components ? "bad" : "", "card-unhealthy"),
    card("dropped / export errors", fmt(t.dropped_records) + " / " + fmt(t.export_errors), t.dropped_records ? "warn" : "", "card-selfmon"),
  );
  // What was dropped, by signal/reason, as the self-telemetry card's tooltip.
  const dropped = Object.entries(t.dropped || {}).filter(([, n]) => n).map(([k, n]) => k + ": " + n);
  document.querySelector("[data-testid=card-selfmon]").title = dropped.length ? dropped.join("\n") : "nothing dropped";
}

// ---------------------------------------------------------------- charts (SVG)

function lineChart(container, series, options) {
  const width = 600, height = 180, pad = { l: 44, r: 8, t: 10, b: 22 };
  const all = series.flatMap((s) => s.points);
  container.replaceChildren();
  if (!all.length) { container.append(el("p", { class: "muted", text: "no data yet" })); return; }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(0, ...ys), y1 = Math.max(...ys) || 1;
  const sx = (x) => pad.l + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - ((y - y0) / (y1 - y0 || 1)) * (height - pad.t - pad.b);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "plot", role: "img" });
  root.append(svg("line", { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, class: "axis" }));
  root.append(svg("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b, class: "axis" }));
  const top = svg("text", { x: 2, y: pad.t + 8, class: "tick" }); top.textContent = fmt(y1, 1); root.append(top);
  const bottom = svg("text", { x: 2, y: height - pad.b, class: "tick" }); bottom.textContent = fmt(y0, 1); root.append(bottom);
  const left = svg("text", { x: pad.l, y: height - 4, class: "tick" }); left.textContent = new Date(x0).toLocaleTimeString([], { hour12: false }); root.append(left);
  const right = svg("text", { x: width - pad.r, y: height - 4, class: "tick end" }); right.textContent = new Date(x1).toLocaleTimeString([], { hour12: false }); root.append(right);
  series.forEach((s, i) => {
    const cls = "series s" + (i % 6);
    root.append(svg("polyline", { class: cls, points: s.points.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ") }));
    for (const p of s.points.slice(-120)) {
      const dot = svg("circle", { class: cls + " point", cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: 2.5 });
      const tip = svg("title"); tip.textContent = s.name + ": " + fmt(p[1], 2) + " at " + new Date(p[0]).toLocaleTimeString([], { hour12: false });
      dot.append(tip);
      root.append(dot);
    }
  });
  container.append(root);
  const legend = el("div", { class: "legend" });
  series.forEach((s, i) => legend.append(el("span", { class: "key s" + (i % 6), text: s.name })));
  container.append(legend);
  if (options && options.note) container.append(el("div", { class: "muted", text: options.note }));
}

function renderTimeline(t) {
  document.getElementById("timeline-note").textContent = `(last ${t.hours} h, ${t.bucket_minutes}-minute buckets)`;
  const active = t.buckets.filter((b) => b.requests || b.errors || Object.keys(b.logs).length);
  const first = active.length ? active[0].start_ms : null;
  const shown = t.buckets.filter((b) => first !== null && b.start_ms >= first);
  lineChart(document.getElementById("timeline-chart"), [
    { name: "requests", points: shown.map((b) => [b.start_ms, b.requests]) },
    { name: "errors", points: shown.map((b) => [b.start_ms, b.errors]) },
    { name: "log records", points: shown.map((b) => [b.start_ms, Object.values(b.logs).reduce((x, y) => x + y, 0)]) },
    { name: "alerts fired", points: shown.map((b) => [b.start_ms, b.alerts_fired]) },
  ]);
}

function labelText(labels) {
  const parts = Object.entries(labels || {}).map(([k, v]) => k + "=" + v);
  return parts.length ? "{" + parts.join(", ") + "}" : "";
}

async function refreshMetrics() {
  const overview = await api("/api/metrics");
  const select = document.getElementById("metric-select");
  const names = overview.metrics.map((m) => m.name);
  if (!state.metric || !names.includes(state.metric)) {
    // Start on something that moves: a histogram, else a gauge, else any metric with several points.
    const moving = (m) => m.series.some((s) => s.points.length > 1);
    const preferred = ["histogram", "summary", "gauge"].map((t) => overview.metrics.find((m) => m.type === t && moving(m)))
      .find(Boolean) || overview.metrics.find(moving);
    state.metric = preferred ? preferred.name : names[0] || "";
  }
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  }
  select.value = state.metric;
  if (!state.metric) { lineChart(document.getElementById("metric-chart"), []); return; }
  const detail = await api("/api/metrics", { name: state.metric });
  const metric = detail.metrics[0];
  if (!metric) return;
  const st = metric.statistics || {};
  document.getElementById("metric-stats").textContent =
    `${metric.type} · ${metric.unit || "no unit"} · count ${fmt(st.count)} · p50 ${fmt(st.p50)} · p95 ${fmt(st.p95)} · p99 ${fmt(st.p99)}`;
  lineChart(document.getElementById("metric-chart"),
    metric.series.slice(0, 6).map((s) => ({ name: metric.name + labelText(s.labels), points: s.points })));
}

// ---------------------------------------------------------------- traces + waterfall

async function refreshTraces() {
  const panel = await api("/api/traces", {
    status: document.getElementById("trace-status").value,
    service: document.getElementById("trace-service").value.trim(),
    limit: 25,
  });
  const rows = panel.traces.map((t) => {
    const row = el("tr", { class: "clickable " + (t.status === "ERROR" ? "error" : ""), tabindex: 0, "data-trace-id": t.trace_id },
      el("td", { text: timeOf(t.start) }), el("td", { text: t.service }), el("td", { text: t.name }),
      el("td", { text: t.status }), el("td", { class: "num", text: fmt(t.duration_ms, 1) }));
    row.addEventListener("click", () => openTrace(t.trace_id));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") openTrace(t.trace_id); });
    return row;
  });
  document.getElementById("traces").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no traces" }))]));
}

async function openTrace(traceId) {
  state.trace = traceId;
  const trace = await api("/api/traces", { trace_id: traceId });
  const box = document.getElementById("waterfall");
  box.classList.remove("hidden");
  const total = Math.max(trace.duration_ms || 0, ...trace.spans.map((s) => (s.offset_ms || 0) + (s.duration_ms || 0)), 0.001);
  const depth = {};
  for (const s of trace.spans) depth[s.span_id] = s.parent_span_id && depth[s.parent_span_id] !== undefined ? depth[s.parent_span_id] + 1 : 0;
  const close = el("button", { type: "button", class: "close", text: "close" });
  close.addEventListener("click", () => { box.classList.add("hidden"); state.trace = null; });
  box.replaceChildren(
    el("div", { class: "wf-head" }, el("strong", { text: trace.name || trace.trace_id }),
      el("span", { class: "muted", text: ` ${trace.service} · ${fmt(trace.duration_ms, 2)} ms · ${trace.span_count} spans · ${trace.trace_id}` }), close),
    ...trace.spans.map((s) => {
      // Span statuses: SUCCESS, ERROR, TIMEOUT (an error too), CANCELLED, ABANDONED (docs/files.md).
      const failed = s.status === "ERROR" || s.status === "TIMEOUT";
      const bar = el("div", { class: "bar " + (failed ? "error" : ""), title: s.status || "" });
      bar.style.marginLeft = (100 * (s.offset_ms || 0) / total).toFixed(2) + "%";
      bar.style.width = Math.max(0.5, 100 * (s.duration_ms || 0) / total).toFixed(2) + "%";
      const name = el("div", { class: "wf-name", text: (s.name || "") + (s.component ? " · " + s.component : "") +
        (s.status && s.status !== "SUCCESS" ? " · " + s.status : "") });
      name.style.paddingLeft = (depth[s.span_id] * 12) + "px";
      return el("div", { class: "wf-row", "data-testid": "waterfall-span" }, name,
        el("div", { class: "wf-track" }, bar), el("div", { class: "num", text: fmt(s.duration_ms, 2) + " ms" }));
    }),
  );
}

// ---------------------------------------------------------------- logs

async function refreshLogs() {
  const panel = await api("/api/logs", {
    query: document.getElementById("log-query").value.trim(),
    level: document.getElementById("log-level").value,
    component: document.getElementById("log-component").value.trim(),
    limit: 100,
  });
  const items = panel.logs.map((r) => el("li", { class: "log " + String(r.level).toLowerCase(), "data-testid": "log-line" },
    el("span", { class: "time", text: timeOf(r.time) }), el("span", { class: "level", text: r.level }),
    el("span", { class: "component", text: r.component }), el("span", { class: "message", text: r.message })));
  document.getElementById("logs").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "no matching records" })]));
}

// ---------------------------------------------------------------- health, alerts, services

async function refreshHealth() {
  const panel = await api("/api/health");
  const body = document.getElementById("health");
  if (!panel.configured) { body.replaceChildren(el("tr", {}, el("td", { colspan: 2, class: "muted", text: "health checks not configured" }))); return; }
  body.replaceChildren(...panel.components.map((c) => el("tr", {},
    el("td", { text: c.component }), el("td", {}, el("span", { class: "badge " + c.status, text: c.status })))));
}

async function act(action, alertId) {
  try {
    await api("/api/alerts/" + action, {}, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ alert_id: alertId, by: "dashboard" }) });
  } catch (e) { document.getElementById("updated").textContent = action + " failed: " + e.message; }
  refreshAlerts();
}

async function refreshAlerts() {
  const panel = await api("/api/alerts");
  const list = document.getElementById("alerts");
  if (!panel.configured) { list.replaceChildren(el("li", { class: "muted", text: "alerts not configured" })); }
  else if (!panel.alerts.length) { list.replaceChildren(el("li", { class: "muted", text: "no active alerts" })); }
  else {
    list.replaceChildren(...panel.alerts.map((a) => {
      const ack = el("button", { type: "button", text: "acknowledge" });
      const resolve = el("button", { type: "button", text: "resolve" });
      ack.disabled = resolve.disabled = !panel.actions_enabled;
      if (!panel.actions_enabled) ack.title = resolve.title = "set MONITORING_DASHBOARD_TOKEN to enable actions";
      ack.addEventListener("click", () => act("acknowledge", a.alert_id));
      resolve.addEventListener("click", () => act("resolve", a.alert_id));
      return el("li", { class: "alert " + String(a.severity || "").toLowerCase(), "data-testid": "alert" },
        el("span", { class: "badge " + String(a.severity || "").toLowerCase(), text: a.severity || "?" }),
        el("strong", { text: " " + (a.name || a.rule_name || a.rule_id || a.alert_id) + " " }),
        el("span", { class: "muted", text: (a.state || a.status || "") + " " }),
        el("span", { class: "message", text: a.message || a.description ||
          (a.metric ? a.metric + " = " + fmt(a.value, 2) + (a.condition ? " (" + a.condition + ")" : "") : "") }),
        el("span", { class: "actions" }, ack, resolve));
    }));
  }
  const incidents = document.getElementById("incidents");
  incidents.replaceChildren(...(panel.incidents.length ? panel.incidents.map((i) => el("li", {},
    el("strong", { text: i.title || i.name || i.rule_id || i.incident_id || i.id || "incident" }),
    el("span", { class: "muted", text: " " + (i.severity ? i.severity + " · " : "") + (i.state || i.status || "open") +
      (i.opened_at ? " since " + timeOf(i.opened_at) : "") }))) : [el("li", { class: "muted", text: "none" })]));
}

async function refreshServices() {
  const panel = await api("/api/services");
  const rows = Object.entries(panel.services).map(([name, s]) => el("tr", {},
    el("td", { text: name }), el("td", {}, el("span", { class: "badge " + s.health, text: s.health })),
    el("td", { class: "num", text: fmt(s.request_rate_per_s, 2) }), el("td", { class: "num", text: fmt(100 * s.error_rate, 1) + " %" }),
    el("td", { text: timeOf(s.last_seen) })));
  document.getElementById("services").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no services yet" }))]));
}

// ---------------------------------------------------------------- refresh loop

async function refresh() {
  try {
    renderSummary(await api("/api/summary"));
    document.getElementById("auth").classList.add("hidden");
  } catch (e) { document.getElementById("updated").textContent = e.message; return; }
  const parts = [api("/api/timeline", { hours: 1 }).then(renderTimeline), refreshMetrics(), refreshTraces(),
    refreshLogs(), refreshHealth(), refreshAlerts(), refreshServices()];
  if (state.trace) parts.push(openTrace(state.trace));
  const results = await Promise.allSettled(parts);
  const failed = results.filter((r) => r.status === "rejected");
  document.getElementById("updated").textContent = (failed.length ? failed.length + " panel(s) failed · " : "") +
    "updated " + new Date().toLocaleTimeString([], { hour12: false });
  document.body.dataset.loaded = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("log-form").addEventListener("submit", (e) => { e.preventDefault(); refreshLogs(); });
  document.getElementById("log-level").addEventListener("change", refreshLogs);
  document.getElementById("trace-status").addEventListener("change", refreshTraces);
  document.getElementById("trace-service").addEventListener("change", refreshTraces);
  document.getElementById("metric-select").addEventListener("change", (e) => { state.metric = e.target.value; refreshMetrics(); });
  document.getElementById("auth-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = document.getElementById("token").value;
    sessionStorage.setItem("ml-token", state.token);
    refresh();
  });
  refresh();
  setInterval(() => { if (document.getElementById("autorefresh").checked && !document.hidden) refresh(); }, REFRESH_MS);
});
