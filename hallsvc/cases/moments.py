"""A moment of the warning scheduler (C5), pure: the changes by time that
fall on one instant, grouped as they are announced (by window and
department, by levels), and what is told of them. See docs/cases.md."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hallsvc.cases import notices
from hallsvc.cases.assess import Assessed
from hallsvc.cases.level_store import LevelWrite
from hallsvc.cases.levels import Level
from hallsvc.cases.record import CaseRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ceil_ms(t: datetime) -> int:
    """Epoch milliseconds rounded up, exactly as the cases_armed trigger does."""
    us = (t - _EPOCH) // timedelta(microseconds=1)
    return -(-us // 1000)


@dataclass(slots=True)
class Moment:
    """One moment's changes recorded ahead, by (window, department) and by
    (level, previous); the cases to settle after it; those to reckon at it
    on the full path (C6 deemed consents, C3a procedures)."""

    at: datetime
    changes: dict[tuple[str, str], dict[tuple[Level, Level], list[int]]] = field(
        default_factory=dict)
    ids: list[int] = field(default_factory=list)
    later: list[int] = field(default_factory=list)

    def add(self, window: str, department: str, level: Level, previous: Level,
            case_id: int) -> None:
        self.changes.setdefault((window, department), {}).setdefault(
            (level, previous), []).append(case_id)

    def told(self, hall: str, now: datetime,
             dropped: Set[int] = frozenset()) -> tuple[int, list[tuple[str, bytes]]]:
        """C5: how many changes are announced at `now`, and the messages: one
        per window and department, and the manager's tally. `dropped`: cases
        an event undid before the moment, left out."""
        changes = self.changes
        if dropped:
            changes = {k: {g: [i for i in ids if i not in dropped] for g, ids in v.items()}
                       for k, v in changes.items()}
        count = sum(len(ids) for v in changes.values() for ids in v.values())
        return count, notices.moment(hall, self.at, now, changes)


def announcements(hall: str, writes: Iterable[LevelWrite],
                  now: datetime) -> list[tuple[str, bytes]]:
    """C5: the messages of changes written at `now` (found due then), per
    moment (`level_at`: when each changed)."""
    by_moment: dict[datetime, Moment] = {}
    for w in writes:
        by_moment.setdefault(w.level_at, Moment(w.level_at)).add(
            w.window, w.department, w.level, w.previous, w.case_id)
    return [m for _, moment in sorted(by_moment.items()) for m in moment.told(hall, now)[1]]


def procedures_changed(rec: CaseRecord, a: Assessed) -> bool:
    """C3a: a special procedure's level changes too (announced on the full path)."""
    before = {p.id: p.level for p in rec.pauses}
    return any(p.level != before.get(p.id, Level.GREEN) for p in a.after.pauses
               if p.kind.special)
