"""One wrapper builder for every decorator: plain functions, methods, ``async def``,
generators and async generators.

``instrument(func, start, finish)`` returns a ``functools.wraps`` wrapper that
calls ``start()`` before the work and ``finish(token, exc)`` after it, where
``token`` is what ``start()`` returned and ``exc`` the exception that ended
the work (None on success). The exception is then re-raised unchanged.
``start``/``finish`` contain their own faults: the wrapper adds no try
blocks of its own beyond the one that sees the outcome.

What "the work" is, decided once at decoration time:

* a plain function or method: the call;
* ``async def``: the awaited coroutine, so the timing covers the awaited work;
* a generator function: from the first ``next()`` to exhaustion, an
  exception, or ``close()`` (reported as ``cancelled``); ``send()``/``throw()``
  are forwarded (``yield from``);
* an async generator function: likewise from the first ``__anext__()``;
  ``asend()``/``athrow()``/``aclose()`` are forwarded.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["instrument", "is_async", "is_plain_function"]


def is_async(func: Any) -> bool:
    """``async def`` functions, and callable objects whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - looking for an async __call__
    return not inspect.isroutine(func) and call is not None and inspect.iscoroutinefunction(call)


def is_plain_function(func: Any) -> bool:
    """A function or method that neither is async nor a generator: ``instrument`` would use ``_sync``."""
    return (callable(func) and not isinstance(func, (staticmethod, classmethod)) and not is_async(func)
            and not inspect.isasyncgenfunction(func) and not inspect.isgeneratorfunction(func))


def instrument(func: Callable[..., Any], start: Callable[[], Any],
               finish: Callable[[Any, BaseException | None], None]) -> Callable[..., Any]:
    if isinstance(func, (staticmethod, classmethod)):
        # Decorators listed above @staticmethod/@classmethod: wrap the function inside.
        return type(func)(instrument(func.__func__, start, finish))
    if not callable(func):
        raise TypeError(f"can only decorate a callable, got {type(func).__name__}")
    if is_async(func):
        return _async(func, start, finish)
    if inspect.isasyncgenfunction(func):
        return _async_gen(func, start, finish)
    if inspect.isgeneratorfunction(func):
        return _gen(func, start, finish)
    return _sync(func, start, finish)


def _sync(func, start, finish):  # type: ignore[no-untyped-def]
    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        token = start()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            finish(token, exc)
            raise
        finish(token, None)
        return result

    return wrapper


def _async(func, start, finish):  # type: ignore[no-untyped-def]
    @functools.wraps(func)
    async def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        token = start()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            finish(token, exc)
            raise
        finish(token, None)
        return result

    return wrapper


def _gen(func, start, finish):  # type: ignore[no-untyped-def]
    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        generator = func(*args, **kwargs)
        token = start()
        try:
            result = yield from generator
        except BaseException as exc:
            finish(token, exc)
            raise
        finish(token, None)
        return result

    return wrapper


def _async_gen(func, start, finish):  # type: ignore[no-untyped-def]
    @functools.wraps(func)
    async def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        agen = func(*args, **kwargs)
        token = start()
        try:
            item = await agen.__anext__()
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:  # athrow() on the wrapper: pass it on
                    item = await agen.athrow(thrown)
                else:
                    item = await (agen.asend(sent) if sent is not None else agen.__anext__())
        except StopAsyncIteration:
            finish(token, None)
            return
        except BaseException as exc:
            finish(token, exc)
            raise

    return wrapper
