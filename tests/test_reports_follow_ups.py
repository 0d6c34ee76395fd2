"""Rating follow-ups as the manager's pages show them (hallsvc/web/follow_ups.py,
H8a), and what the dashboard's feed says when it cannot compose the view
(hallsvc/web/dashboard_feed.py): tables and a hypothesis property."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.errors import Unavailable
from hallsvc.web import follow_ups as fu
from hallsvc.web.dashboard_feed import stale_of

TUESDAY = date(2026, 3, 17)
CLOSED = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("due", "closed_at", "state"), [
    (date(2026, 3, 18), None, fu.State.OPEN),
    (TUESDAY, None, fu.State.OPEN),  # due today: until the end of the day
    (date(2026, 3, 16), None, fu.State.OVERDUE),  # the due day is over
    (date(2026, 3, 1), None, fu.State.OVERDUE),
    (date(2026, 3, 1), CLOSED, fu.State.CLOSED),  # closed, even if late
    (date(2026, 3, 20), CLOSED, fu.State.CLOSED),
])
def test_a_follow_ups_state(due: date, closed_at: datetime | None, state: fu.State) -> None:
    assert fu.state_of(due, closed_at, TUESDAY) is state


@pytest.mark.parametrize(("groups", "want"), [
    ([], fu.Counts(0, 0, None)),
    ([(date(2026, 3, 16), None, 2)], fu.Counts(2, 2, None)),
    ([(date(2026, 3, 16), None, 1), (TUESDAY, None, 3), (date(2026, 3, 24), None, 1)],
     fu.Counts(5, 1, TUESDAY)),
    ([(date(2026, 3, 16), CLOSED, 4), (date(2026, 3, 24), None, 1)],
     fu.Counts(1, 0, date(2026, 3, 24))),
    ([(TUESDAY, None, 0)], fu.Counts(0, 0, None)),
])
def test_counts_of_open_and_overdue_follow_ups(
        groups: list[tuple[date, datetime | None, int]], want: fu.Counts) -> None:
    assert fu.counts(groups, TUESDAY) == want


@given(st.lists(st.tuples(st.integers(-30, 30), st.booleans(), st.integers(0, 5))))
def test_overdue_is_part_of_open_and_the_nearest_due_is_ahead(
        rows: list[tuple[int, bool, int]]) -> None:
    groups = [(TUESDAY + timedelta(days=d), CLOSED if closed else None, n)
              for d, closed, n in rows]
    c = fu.counts(groups, TUESDAY)
    assert 0 <= c.overdue <= c.open == sum(n for _, closed, n in rows if not closed)
    if c.nearest_due is not None:
        assert c.nearest_due >= TUESDAY


SINCE = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("error", "code", "system", "reason"), [
    (Unavailable("postgres", "PostgreSQL does not answer: connection reset"),
     "unavailable", "postgres", "PostgreSQL does not answer: connection reset"),
    (Unavailable("redis", "Redis keeps losing the hot state"),
     "unavailable", "redis", "Redis keeps losing the hot state"),
    (KeyError("level"), "compose_failed", None, "KeyError: 'level'"),
])
def test_what_a_failed_composition_tells_the_dashboards(
        error: Exception, code: str, system: str | None, reason: str) -> None:
    s = stale_of(error, SINCE, None)
    assert (s.code, s.system, s.reason, s.since, s.last_view_at) == \
        (code, system, reason, SINCE, None)
