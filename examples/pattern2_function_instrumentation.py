"""Pattern 2 of the spec: specific function instrumentation with stacked decorators.

    python examples/pattern2_function_instrumentation.py
"""

from __future__ import annotations

import monitoring_layer
from monitoring_layer import (
    LogFunction,
    TraceFunction,
    TrackExecution,
    get_log_aggregator,
    get_metrics_collector,
    get_tracing_collector,
)

metrics = get_metrics_collector()
logs = get_log_aggregator()
traces = get_tracing_collector()


def process_request(request):
    if request.get("bad"):
        raise ValueError(f"cannot process request {request['id']}")
    return {"id": request["id"], "status": "ok"}


@TrackExecution(component="api", metrics_collector=metrics)
@LogFunction(component="api", log_aggregator=logs)
@TraceFunction(component="api", tracing_collector=traces)
def api_handler(request):
    # Fully monitored: metrics + logs + traces
    return process_request(request)


def main() -> None:
    handled = failed = 0
    for n in range(20):
        try:
            api_handler({"id": n, "bad": n % 7 == 6})
            handled += 1
        except ValueError:
            failed += 1
    monitoring_layer.flush()
    print(f"handled {handled} requests, {failed} failed")
    print(f"files under {monitoring_layer.get_settings().home}")


if __name__ == "__main__":
    main()
