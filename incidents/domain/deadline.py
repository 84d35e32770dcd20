"""How long the current request may still wait on the services behind it (the incident store, ...).

An HTTP function sets the budget for everything it calls (`http_function(budget=...)` in incidents/http/problems.py):
Azure Monitor gives the webhook 10 s, so a store call must give up in time for the 503 to reach it. Adapters clip
their own timeouts to `time_left()` and give up at once when it is spent. Outside a request (timers, the command
line) there is no budget and adapters use their own bounds. A context variable, so each request thread has its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Within this block, `time_left()` counts down from `seconds` (or from an earlier, tighter budget)."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds left of the current budget (0 when spent), or None outside any budget."""
    end = _deadline.get()
    return None if end is None else max(0.0, end - time.monotonic())
