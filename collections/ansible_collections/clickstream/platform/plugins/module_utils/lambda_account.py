# Copyright: clickstream-analytics contributors
# MIT License
"""Room for reserved Lambda concurrency in an account (pure functions, no AWS calls)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# AWS keeps this many concurrent executions of every account unreserved: PutFunctionConcurrency fails when a
# reservation would leave fewer (Lambda quotas, "unreserved account concurrency").
MIN_UNRESERVED = 10


def reservation_room(unreserved: int, current: Mapping[str, int | None],
                     wanted: Mapping[str, int | None]) -> dict[str, Any]:
    """Whether the account can hold the `wanted` reservations (function -> executions, None = no reservation).

    `unreserved` is GetAccountSettings' AccountLimit.UnreservedConcurrentExecutions, `current` the functions'
    reservations today (their executions count as reserved now and come back when they change). AWS requires at
    least MIN_UNRESERVED executions to stay unreserved after the change.
    """
    requested = sum(v for v in wanted.values() if v)
    held = sum(v for v in current.values() if v)
    available = max(unreserved + held - MIN_UNRESERVED, 0)
    return {"fits": requested <= available, "requested": requested, "available": available,
            "unreserved_after": unreserved + held - requested}
