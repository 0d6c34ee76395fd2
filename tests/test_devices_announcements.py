"""The voice caller's announcement queue (Q6): one at a time, never cut off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hallsvc.devices.announcements import (
    Announcement,
    CallerPolicy,
    CallerQueue,
    Done,
    Say,
    Step,
    deadline,
    enqueue,
    from_call,
    presence,
    report,
    tick,
)
from hallsvc.devices.wire import CallEvent, announcement

T0 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
POLICY = CallerPolicy(start_timeout=timedelta(seconds=3), max_attempts=3,
                      speak_base=timedelta(seconds=5), speak_per_char=timedelta(seconds=0.5),
                      stale_after=timedelta(minutes=5))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ann(ident: str, queued: float = 0, text: str = "请A001号到1号窗口办理") -> Announcement:
    return Announcement(ident, text, "A001", "W01", False, at(queued))


def said(actions: tuple[object, ...]) -> list[tuple[str, int]]:
    return [(a.announcement.id, a.attempt) for a in actions if isinstance(a, Say)]


def done(actions: tuple[object, ...]) -> list[tuple[str, str]]:
    return [(a.announcement.id, a.outcome) for a in actions if isinstance(a, Done)]


def online_queue() -> CallerQueue:
    q, actions = presence(CallerQueue(), True, at(0), POLICY)
    assert actions == ()
    return q


def test_from_call_skips_say_nothing_and_ids_differ_per_recall() -> None:
    def event(kind: str, at_ms: int) -> CallEvent:
        return CallEvent(kind=kind, hall="h", ticket="A012", service="A01",  # type: ignore[arg-type]
                         window="W03", window_name="3号窗口", at_ms=at_ms,
                         text="" if kind == "skip" else
                         announcement("A012", "3号窗口", recall=kind == "recall"))
    call, recall = from_call(event("call", 1), T0), from_call(event("recall", 2), T0)
    assert call is not None and recall is not None
    assert call.text == "请A012号到3号窗口办理" and recall.text.endswith("(重呼)")
    assert call.id != recall.id and recall.recall
    assert from_call(event("skip", 3), T0) is None


def test_one_at_a_time_the_next_after_finished() -> None:
    q = online_queue()
    q, a1 = enqueue(q, ann("a"), at(0), POLICY)
    q, a2 = enqueue(q, ann("b"), at(0.1), POLICY)
    assert said(a1) == [("a", 1)] and a2 == ()
    q, a3 = report(q, "a", "started", at(0.2), POLICY)
    assert a3 == ()
    q, a4 = report(q, "a", "finished", at(3), POLICY)
    assert done(a4) == [("a", "finished")] and said(a4) == [("b", 1)]
    q, _ = report(q, "b", "started", at(3.1), POLICY)
    q, a5 = report(q, "b", "finished", at(6), POLICY)
    assert done(a5) == [("b", "finished")] and q.current is None and q.waiting == ()


def test_nothing_is_sent_to_an_offline_caller() -> None:
    q, actions = enqueue(CallerQueue(), ann("a"), at(0), POLICY)
    assert actions == () and [a.id for a in q.waiting] == ["a"]
    q, actions = presence(q, True, at(1), POLICY)
    assert said(actions) == [("a", 1)]


def test_the_same_announcement_twice_is_said_once() -> None:
    q = online_queue()
    q, _ = enqueue(q, ann("a"), at(0), POLICY)
    q, actions = enqueue(q, ann("a"), at(0.5), POLICY)  # the call event came again
    assert actions == () and q.waiting == ()
    q, _ = report(q, "a", "finished", at(3), POLICY)
    q, actions = enqueue(q, ann("a"), at(4), POLICY)  # and again, after it was said
    assert actions == () and q.current is None


def test_no_start_is_sent_again_then_given_up() -> None:
    q = online_queue()
    q, _ = enqueue(q, ann("a"), at(0), POLICY)
    q, _ = enqueue(q, ann("b"), at(0), POLICY)
    assert deadline(q, POLICY) == at(3)
    q, actions = tick(q, at(2.9), POLICY)
    assert actions == ()
    q, actions = tick(q, at(3), POLICY)
    assert said(actions) == [("a", 2)]
    q, actions = tick(q, at(6), POLICY)
    assert said(actions) == [("a", 3)]
    q, actions = tick(q, at(9), POLICY)
    assert done(actions) == [("a", "gave_up")] and said(actions) == [("b", 1)]


def test_a_caller_that_dies_mid_sentence_is_not_waited_for_forever() -> None:
    q = online_queue()
    text = "请A001号到1号窗口办理"
    q, _ = enqueue(q, ann("a", text=text), at(0), POLICY)
    q, _ = enqueue(q, ann("b"), at(0), POLICY)
    q, _ = report(q, "a", "started", at(1), POLICY)
    limit = POLICY.speak_limit(text)
    assert deadline(q, POLICY) == at(1) + limit
    q, actions = tick(q, at(1) + limit - timedelta(milliseconds=1), POLICY)
    assert actions == ()  # Q6: still speaking, not cut off
    q, actions = tick(q, at(1) + limit, POLICY)
    assert done(actions) == [("a", "abandoned")] and said(actions) == [("b", 1)]


def test_cut_off_by_going_offline_it_is_said_again_whole() -> None:
    q = online_queue()
    q, _ = enqueue(q, ann("a"), at(0), POLICY)
    q, _ = enqueue(q, ann("b"), at(0), POLICY)
    q, _ = report(q, "a", "started", at(0.5), POLICY)
    q, actions = presence(q, False, at(1), POLICY)  # the caller's last will
    assert actions == () and q.current is None and [a.id for a in q.waiting] == ["a", "b"]
    q, actions = tick(q, at(60), POLICY)
    assert actions == ()
    q, actions = presence(q, True, at(61), POLICY)
    assert said(actions) == [("a", 1)]


def test_a_late_finished_of_a_requeued_announcement_is_not_said_again() -> None:
    q = online_queue()
    q, _ = enqueue(q, ann("a"), at(0), POLICY)
    q, _ = presence(q, False, at(1), POLICY)
    q, actions = report(q, "a", "finished", at(2), POLICY)
    assert done(actions) == [("a", "finished")] and q.waiting == ()


def test_stale_announcements_are_not_read_out_late() -> None:
    q, _ = enqueue(CallerQueue(), ann("old", queued=0), at(0), POLICY)
    q, _ = enqueue(q, ann("new", queued=400), at(400), POLICY)
    q, actions = presence(q, True, at(400), POLICY)
    assert done(actions) == [("old", "expired")] and said(actions) == [("new", 1)]


def test_stale_reports_are_ignored() -> None:
    q = online_queue()
    q, _ = enqueue(q, ann("a"), at(0), POLICY)
    for ident, event in [("zzz", "started"), ("zzz", "finished")]:
        q2, actions = report(q, ident, event, at(1), POLICY)  # type: ignore[arg-type]
        assert q2 == q and actions == ()


# -- invariants over any sequence of events ------------------------------------------

ops = st.lists(st.one_of(
    st.tuples(st.just("enqueue"), st.integers(0, 6)),
    st.tuples(st.just("started"), st.integers(0, 6)),
    st.tuples(st.just("finished"), st.integers(0, 6)),
    st.tuples(st.just("online"), st.booleans()),
    st.tuples(st.just("wait"), st.floats(0, 30)),
), max_size=60)


@settings(max_examples=300)
@given(ops)
def test_never_two_announcements_in_flight_and_none_lost(script: list[tuple[str, object]]
                                                         ) -> None:
    q = CallerQueue()
    now = T0
    in_flight: str | None = None  # what the caller was last told to say, not yet done
    outcomes: dict[str, str] = {}
    enqueued: set[str] = set()
    for op, arg in script:
        step: Step
        if op == "enqueue":
            ident = f"id{arg}"
            step = enqueue(q, Announcement(ident, "请A001号到1号窗口办理", "A001", "W01", False,
                                           now), now, POLICY)
            enqueued.add(ident)
        elif op in ("started", "finished"):
            step = report(q, f"id{arg}", op, now, POLICY)  # type: ignore[arg-type]
        elif op == "online":
            step = presence(q, bool(arg), now, POLICY)
            if not arg:
                in_flight = None  # the caller is gone; what it said is requeued
        else:
            now += timedelta(seconds=float(arg))  # type: ignore[arg-type]
            step = tick(q, now, POLICY)
        q, actions = step
        for a in actions:
            if isinstance(a, Done):
                assert a.announcement.id not in outcomes, "an announcement ended twice"
                outcomes[a.announcement.id] = a.outcome
                if in_flight == a.announcement.id:
                    in_flight = None
            else:
                ident = a.announcement.id
                assert ident not in outcomes, "said after it was done"
                # Q6: a new announcement only when the previous one is over.
                assert in_flight in (None, ident), f"{ident} sent while {in_flight} in flight"
                assert q.online
                in_flight = ident
        assert (q.current is None) == (in_flight is None)
        # Nothing is lost: each announcement is done, in flight, or waiting.
        waiting = {a.id for a in q.waiting}
        current = {q.current.announcement.id} if q.current else set()
        assert enqueued == set(outcomes) | waiting | current
        assert len(q.waiting) == len(waiting) and not (waiting & current)
