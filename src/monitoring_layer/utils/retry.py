"""``retry_with_tracking``: retries with exponential backoff and jitter, counted.

Attempt ``n`` (1-based) that fails with one of ``exceptions`` is followed,
while retries remain, by a pause of ``min(max_delay, base_delay * 2**(n-1))``
scaled by a random factor in [0.5, 1] ("equal jitter": clients that failed
together do not retry together, and the pause never collapses to zero).
``max_retries=3`` means at most 4 attempts. An exception not in
``exceptions`` is not retried. When the call fails for good, the last
exception is re-raised unchanged.

Metrics (labels ``component``, ``function``): ``retry_attempts_total`` (every
attempt), ``retry_retries_total`` (every retry scheduled) and
``retry_failures_total`` (+ ``error_type``: calls that failed for good).
``component`` defaults to the function's module.

Works on plain functions, methods and ``async def`` functions (which pause with
``asyncio.sleep``). Generator functions are refused: a generator cannot be
re-run from where it failed.
"""

from __future__ import annotations

import functools
import inspect
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ._collectors import check_collector, check_text, default, ensure_registered, fault
from ._wrap import is_async

__all__ = ["retry_with_tracking"]

_F = TypeVar("_F", bound=Callable[..., Any])

ATTEMPTS = "retry_attempts_total"
RETRIES = "retry_retries_total"
FAILURES = "retry_failures_total"
_FAMILIES = (ATTEMPTS, RETRIES, FAILURES)


def _number(value: Any, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond what a float holds (10**400)
        raise ValueError(f"{argument} must be a finite number >= 0, got {value!r}") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"{argument} must be a finite number >= 0, got {value!r}")
    return number


def _exception_types(value: Any) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    if not types or not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise TypeError(f"exceptions must be an exception class or a tuple of them, got {value!r}")
    return types


def retry_with_tracking(max_retries: int = 3, base_delay: float = 0.1, max_delay: float = 10.0,
                        exceptions: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
                        metrics_collector: Any = None, *, component: str | None = None,
                        sleep: Callable[[float], Any] | None = None,
                        random_factor: Callable[[], float] = random.random) -> Callable[[_F], _F]:
    """Decorator: retry the call on ``exceptions`` with exponential backoff and jitter.

    ``sleep`` (default ``time.sleep``, or ``asyncio.sleep`` for ``async def``)
    and ``random_factor`` (a float in [0, 1)) are injectable for tests.

    >>> @retry_with_tracking(max_retries=3)          # doctest: +SKIP
    ... def unreliable_operation(): ...
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int, got {type(max_retries).__name__}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    base = _number(base_delay, "base_delay")
    cap = _number(max_delay, "max_delay")
    if cap < base:
        raise ValueError(f"max_delay ({max_delay}) must be >= base_delay ({base_delay})")
    retry_on = _exception_types(exceptions)
    fixed = check_collector(metrics_collector, "metrics_collector", "metrics")
    given_component = None if component is None else check_text(component, "component")

    def delay(attempt: int) -> float:
        return min(cap, base * 2 ** (attempt - 1)) * (0.5 + random_factor() / 2)

    def decorate(func: _F) -> _F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError("retry_with_tracking cannot decorate a generator function: "
                            "a generator cannot be re-run from where it failed")
        if not callable(func):
            raise TypeError(f"can only decorate a callable, got {type(func).__name__}")
        function = getattr(func, "__qualname__", None) or type(func).__qualname__
        labels = {"component": given_component or getattr(func, "__module__", None) or "unknown",
                  "function": function}

        def record(name: str, error: BaseException | None = None) -> None:
            try:
                metrics = fixed if fixed is not None else default("metrics")
                ensure_registered(metrics, _FAMILIES)
                metrics.increment_counter(
                    name, 1, labels if error is None else {**labels, "error_type": type(error).__name__})
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)

        if is_async(func):
            import asyncio  # here, not at the top: only an async function needs it (and runs in a loop)

            pause = sleep or asyncio.sleep

            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
                attempt = 0
                while True:
                    attempt += 1
                    record(ATTEMPTS)
                    try:
                        return await func(*args, **kwargs)
                    except BaseException as exc:
                        if not isinstance(exc, retry_on) or attempt > max_retries:
                            if isinstance(exc, Exception):
                                record(FAILURES, exc)
                            raise
                    record(RETRIES)
                    await pause(delay(attempt))

            return async_wrapper  # type: ignore[return-value]

        pause_sync = sleep or time.sleep

        @functools.wraps(func)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            attempt = 0
            while True:
                attempt += 1
                record(ATTEMPTS)
                try:
                    return func(*args, **kwargs)
                except BaseException as exc:
                    if not isinstance(exc, retry_on) or attempt > max_retries:
                        if isinstance(exc, Exception):
                            record(FAILURES, exc)
                        raise
                record(RETRIES)
                pause_sync(delay(attempt))

        return wrapper  # type: ignore[return-value]

    return decorate
