"""Alarms that stand only after their condition held for a while. Pure.

`sustain` is fed the set of things whose condition holds now (devices
offline, windows unstaffed, …) and says which alarms to raise and which to
clear: a thing is raised once its condition held without a break for `hold`,
and cleared as soon as it stops. So a board that reboots in ten seconds, or a
clerk who hands over to a colleague (H2), raises nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Sustained(Generic[K]):
    since: Mapping[K, datetime] = field(default_factory=dict)  # condition holds since
    raised: frozenset[K] = frozenset()


@dataclass(frozen=True, slots=True)
class Change(Generic[K]):
    raised: frozenset[K]
    cleared: frozenset[K]

    def __bool__(self) -> bool:
        return bool(self.raised or self.cleared)


def sustain(state: Sustained[K], holding: Set[K], now: datetime,
            hold: timedelta) -> tuple[Sustained[K], Change[K]]:
    since = {k: state.since.get(k, now) for k in holding}
    due = frozenset(k for k, t in since.items() if now - t >= hold)
    raised = frozenset(state.raised & holding) | due
    change = Change(raised - state.raised, state.raised - raised)
    return Sustained(since, raised), change


def next_due(state: Sustained[K], hold: timedelta) -> datetime | None:
    """When the next pending alarm would be raised, if its condition holds."""
    pending = [t + hold for k, t in state.since.items() if k not in state.raised]
    return min(pending, default=None)
