"""Rating follow-ups as the manager's pages show them (H8a). Pure: today is
an argument.

A 不满意 / 非常不满意 rating opens a follow-up (verify → fix → answer → call
back) due at the end of a working day (hallsvc/devices/ratings.py). The
record keeps when it was opened, its due date and steps, and a `closed_at`
that nothing sets yet: there is no workflow to advance or close a follow-up,
so every follow-up is open until such a workflow exists, and the pages say
only what the record holds: open or closed, and overdue once its due day
has passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class State(StrEnum):
    OPEN = "open"  # opened, not closed, due day not yet over
    OVERDUE = "overdue"  # open past the end of its due day (H8a)
    CLOSED = "closed"


def state_of(due: date, closed_at: datetime | None, today: date) -> State:
    """H8a: due "within N working days", i.e. by the end of the due day:
    overdue from the next day on, unless closed."""
    if closed_at is not None:
        return State.CLOSED
    return State.OVERDUE if today > due else State.OPEN


@dataclass(frozen=True, slots=True)
class Counts:
    open: int  # every follow-up not closed (the overdue ones among them)
    overdue: int
    nearest_due: date | None  # of the open ones that are not overdue yet


def counts(follow_ups: Iterable[tuple[date, datetime | None, int]], today: date) -> Counts:
    """(due, closed_at, how many) groups of follow-ups → how many are open,
    how many of them overdue, and the nearest due date still ahead."""
    open_, overdue = 0, 0
    nearest: date | None = None
    for due, closed_at, n in follow_ups:
        state = state_of(due, closed_at, today)
        if state is State.CLOSED or n <= 0:
            continue
        open_ += n
        if state is State.OVERDUE:
            overdue += n
        elif nearest is None or due < nearest:
            nearest = due
    return Counts(open_, overdue, nearest)
