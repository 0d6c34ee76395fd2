"""A level change recorded ahead of its moment (C5), pure: the record as of
any instant, an event undoing a change recorded ahead, and the messages of
one moment (one per window and department, and the manager's tally)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.cases import notices
from hallsvc.cases.assess import assess
from hallsvc.cases.deadline import WorkingTime
from hallsvc.cases.levels import Level, Thresholds
from hallsvc.cases.model import CaseType, PauseKind
from hallsvc.cases.record import CaseRecord, PauseRow
from hallsvc.hours import WorkingDays

SHANGHAI = ZoneInfo("Asia/Shanghai")
HALL = WorkingTime(WorkingDays(), SHANGHAI, time(17, 30))
G, Y, R = Level.GREEN, Level.YELLOW, Level.RED
ACCEPTED = datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)  # Monday; 5 days: due 03-16 17:30
YELLOW = datetime(2026, 3, 12, 17, 30, tzinfo=SHANGHAI)  # 2 working days left
US = timedelta(microseconds=1)


def case(**changes: object) -> CaseRecord:
    rec = CaseRecord(
        id=7, number="20260309-000007", service_code="A01", service_name="营业执照",
        department="市场监管局", type=CaseType.PROMISED, state="open", window="W01",
        clerk="clerk1", ticket_id=None, applicant="张三", phone=None, subject="",
        statutory_days=20, promised_days=5, joint=False, law_extension=None,
        accepted_at=ACCEPTED, level=G, level_at=ACCEPTED, next_change=YELLOW, version=3)
    return replace(rec, **changes)  # type: ignore[arg-type]


AHEAD = case(level_next=Y, level_next_at=YELLOW, next_change=datetime(2026, 3, 16, 17, 30,
                                                                        tzinfo=SHANGHAI))


@pytest.mark.parametrize(("rec", "t", "level", "since"), [
    # C5: recorded ahead, in force from its moment, not a microsecond before.
    (AHEAD, YELLOW - US, G, ACCEPTED),
    (AHEAD, YELLOW, Y, YELLOW),
    (AHEAD, YELLOW + timedelta(days=1), Y, YELLOW),
    # brought in step (settled): the same at any instant from the moment on.
    (replace(AHEAD, level=Y, level_at=YELLOW), YELLOW, Y, YELLOW),
    # a later change written over it (an event after the moment) wins.
    (replace(AHEAD, level=G, level_at=YELLOW + timedelta(hours=1)),
     YELLOW + timedelta(hours=2), G, YELLOW + timedelta(hours=1)),
    # nothing recorded ahead.
    (case(), YELLOW, G, ACCEPTED),
])
def test_the_record_as_of_an_instant(rec: CaseRecord, t: datetime, level: Level,
                                     since: datetime) -> None:
    got = rec.settled(t)
    assert (got.level, got.level_at) == (level, since)


@given(st.integers(min_value=-3 * 86400, max_value=3 * 86400))
def test_the_level_in_force_is_what_the_pure_core_reckons(offset: int) -> None:
    """C5: a change recorded ahead as of its moment agrees with reckoning the
    case from its facts at any instant around the moment (within its yellow
    span: red comes at 03-16 17:30)."""
    t = YELLOW + timedelta(seconds=offset)
    assert AHEAD.settled(t).level == assess(case(), HALL, t, Thresholds()).watch.level


def test_an_event_before_the_moment_undoes_the_change_recorded_ahead() -> None:
    """C5, C3a: suspended a second before the moment, the case stays green
    (its clock stands still); the change recorded ahead is dropped and the
    writer is told which moment it belonged to and what it said."""
    suspended = replace(AHEAD, state="suspended", pauses=(PauseRow(
        0, PauseKind.SUSPENSION, "等待检测报告", "告知书 9", YELLOW - timedelta(seconds=1)),))
    a = assess(suspended, HALL, YELLOW - timedelta(seconds=1), Thresholds())
    assert a.dropped == (YELLOW, Y)
    assert (a.after.level, a.after.level_next, a.after.level_next_at) == (G, None, None)
    assert not a.changed and a.after.next_change is None


def test_an_event_after_the_moment_keeps_the_change() -> None:
    """C5: after the moment, the change is in force: nothing is dropped and the
    event reckons from yellow."""
    a = assess(AHEAD, HALL, YELLOW + timedelta(minutes=1), Thresholds())
    assert a.dropped is None and not a.changed
    assert (a.after.level, a.after.level_at) == (Y, YELLOW)


def test_one_moment_is_one_message_per_window_and_department_and_a_tally() -> None:
    """C5: the cases of one moment, grouped by window and department (a proxy
    window serves several departments: each lead is told of theirs), each
    listed by id under its levels; the manager gets the counts."""
    changes = {("W02", "税务局"): {(Y, G): [3]},
               ("W01", "市场监管局"): {(Y, G): [1, 4], (R, Y): [2]},
               ("W09", "税务局"): {(Y, G): []}}
    now = YELLOW + timedelta(milliseconds=40)
    out = notices.moment("demo", YELLOW, now, changes)
    assert [t for t, _ in out] == ["hallsvc/demo/cases/levels/W01",
                                   "hallsvc/demo/cases/levels/W02", "hallsvc/demo/cases/levels"]
    first = notices.decode(out[0][1])
    assert isinstance(first, notices.CaseLevels)
    assert first.changes == [notices.LevelChange(R, Y, [2]), notices.LevelChange(Y, G, [1, 4])]
    assert first.changed == 3
    assert first.to == ["window:W01", "department:市场监管局", "manager"]
    assert (first.since_ms, first.at_ms) == (notices.ms(YELLOW), notices.ms(now))
    tally = notices.decode(out[2][1])
    assert isinstance(tally, notices.CaseLevelTally)
    assert (tally.changed, tally.to) == (4, ["manager"])
    assert tally.windows == [notices.WindowTally("W01", "市场监管局", 0, 2, 1),
                             notices.WindowTally("W02", "税务局", 0, 1, 0)]
    # the ids are plain msgpack ints: about 5 bytes a case at a million cases
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(notices.LevelChange(Y, G, [1]))) == [
        "yellow", "green", [1]]


def test_a_payload_of_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(msgspec.ValidationError, match="kind"):
        notices.decode(msgspec.msgpack.encode({"kind": "case_levelz"}))
    bad = msgspec.msgpack.encode({"kind": "case_levels", "hall": "demo"})
    with pytest.raises(msgspec.ValidationError, match="window"):
        notices.decode(bad)

