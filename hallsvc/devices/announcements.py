"""The announcement queue of one voice caller (Q6). A pure state machine.

Q6: announcements queue and never cut each other off. The server sends a
caller one `say` at a time and the next only after the caller reported
`spoken finished` for it. Where the caller goes quiet:

- `say` sent, no `started` within `start_timeout`: sent again (same id: a
  caller that did hear it answers from memory), up to `max_attempts`, then
  given up (`Done gave_up`, an alarm for the manager);
- `started`, no `finished` within `speak_limit(text)`: the caller died
  mid-sentence; the next one goes (`Done abandoned`);
- the caller goes offline (its last will): what it was saying goes back to
  the head of the queue, to be said whole when it is back; nothing is sent
  while it is offline;
- an announcement that waited longer than `stale_after` is not said any more
  (`Done expired`): a caller back after an hour does not read out the hour.

Every function returns the new state and the actions to carry out, in order:
`Say` (publish `Say.command(at_ms)` on the caller's `say` topic, each time as
a new message with a new `seq`, also when sent again: callers drop a seq they
have seen and de-duplicate the announcement by its id) and `Done` (log, count,
alarm on gave_up). Nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from hallsvc.devices.wire import CallEvent, SayCommand

Outcome = Literal["finished", "abandoned", "gave_up", "expired"]


@dataclass(frozen=True, slots=True)
class Announcement:
    id: str
    text: str
    ticket: str
    window: str
    recall: bool
    queued_at: datetime


def announcement_id(event: CallEvent) -> str:
    """Unique per call or recall: the window, the ticket and the call's time."""
    return f"{event.window}-{event.ticket}-{event.at_ms}"


def from_call(event: CallEvent, now: datetime) -> Announcement | None:
    """The announcement of a call or recall; a skip says nothing."""
    if event.kind == "skip" or not event.text:
        return None
    return Announcement(announcement_id(event), event.text, event.ticket, event.window,
                        event.kind == "recall", now)


@dataclass(frozen=True, slots=True)
class CallerPolicy:
    start_timeout: timedelta = timedelta(seconds=3)
    max_attempts: int = 3
    # A caller that started and did not finish within base + per_char × len(text)
    # is taken for dead mid-sentence.
    speak_base: timedelta = timedelta(seconds=5)
    speak_per_char: timedelta = timedelta(seconds=0.6)
    stale_after: timedelta = timedelta(minutes=5)
    remember: int = 512  # announcement ids kept for de-duplication

    def speak_limit(self, text: str) -> timedelta:
        return self.speak_base + self.speak_per_char * len(text)


DEFAULT_POLICY = CallerPolicy()


@dataclass(frozen=True, slots=True)
class InFlight:
    announcement: Announcement
    sent_at: datetime
    attempt: int
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallerQueue:
    online: bool = False
    waiting: tuple[Announcement, ...] = ()
    current: InFlight | None = None  # Q6: at most one announcement in flight
    seen: tuple[str, ...] = ()  # recent ids, oldest first: one call is said once


@dataclass(frozen=True, slots=True)
class Say:
    announcement: Announcement
    attempt: int

    def command(self, at_ms: int) -> SayCommand:
        a = self.announcement
        return SayCommand(at_ms=at_ms, id=a.id, text=a.text, ticket=a.ticket, window=a.window,
                          recall=a.recall, attempt=self.attempt)


@dataclass(frozen=True, slots=True)
class Done:
    announcement: Announcement
    outcome: Outcome
    at: datetime


Action = Say | Done
Step = tuple[CallerQueue, tuple[Action, ...]]


def enqueue(q: CallerQueue, a: Announcement, now: datetime,
            policy: CallerPolicy = DEFAULT_POLICY) -> Step:
    """Queue an announcement; an id seen before (queued, in flight or done)
    is ignored: the call event came twice (at least once delivery)."""
    if a.id in q.seen:
        return q, ()
    seen = (*q.seen, a.id)[-policy.remember:]
    return _pump(replace(q, waiting=(*q.waiting, a), seen=seen), now, policy)


def report(q: CallerQueue, announcement_id: str, event: Literal["started", "finished"],
           now: datetime, policy: CallerPolicy = DEFAULT_POLICY) -> Step:
    """The caller's `spoken` report. Reports of other ids are stale and ignored,
    except `finished` of a queued one (said before the caller went offline and
    reported late): it is not said again."""
    cur = q.current
    if cur is None or cur.announcement.id != announcement_id:
        if event == "finished":
            for a in q.waiting:
                if a.id == announcement_id:
                    rest = tuple(w for w in q.waiting if w is not a)
                    return replace(q, waiting=rest), (Done(a, "finished", now),)
        return q, ()
    if event == "started":
        if cur.started_at is not None:
            return q, ()
        return replace(q, current=replace(cur, started_at=now)), ()
    q, actions = _pump(replace(q, current=None), now, policy)
    return q, (Done(cur.announcement, "finished", now), *actions)


def presence(q: CallerQueue, online: bool, now: datetime,
             policy: CallerPolicy = DEFAULT_POLICY) -> Step:
    """The caller's retained `online` flag (or its last will)."""
    if online:
        return _pump(replace(q, online=True), now, policy)
    waiting = q.waiting
    if q.current is not None:
        # Q6: perhaps cut off mid-sentence; said again, whole, when it is back.
        waiting = (q.current.announcement, *waiting)
    return replace(q, online=False, current=None, waiting=waiting), ()


def tick(q: CallerQueue, now: datetime, policy: CallerPolicy = DEFAULT_POLICY) -> Step:
    """Apply the timeouts; call at `deadline(q)` (or every second or so)."""
    cur = q.current
    if cur is None:
        return _pump(q, now, policy)
    if cur.started_at is None:
        if now - cur.sent_at < policy.start_timeout:
            return q, ()
        if cur.attempt < policy.max_attempts:
            again = replace(cur, sent_at=now, attempt=cur.attempt + 1)
            return replace(q, current=again), (Say(cur.announcement, again.attempt),)
        q, actions = _pump(replace(q, current=None), now, policy)
        return q, (Done(cur.announcement, "gave_up", now), *actions)
    if now - cur.started_at < policy.speak_limit(cur.announcement.text):
        return q, ()
    q, actions = _pump(replace(q, current=None), now, policy)
    return q, (Done(cur.announcement, "abandoned", now), *actions)


def deadline(q: CallerQueue, policy: CallerPolicy = DEFAULT_POLICY) -> datetime | None:
    """When `tick` has something to do next; None while nothing is in flight."""
    cur = q.current
    if cur is None:
        return None
    if cur.started_at is None:
        return cur.sent_at + policy.start_timeout
    return cur.started_at + policy.speak_limit(cur.announcement.text)


def _pump(q: CallerQueue, now: datetime, policy: CallerPolicy) -> Step:
    """Send the next announcement if the caller is online and quiet."""
    if not q.online or q.current is not None:
        return q, ()
    done: list[Action] = []
    waiting = list(q.waiting)
    while waiting:
        a = waiting.pop(0)
        if now - a.queued_at > policy.stale_after:
            done.append(Done(a, "expired", now))
            continue
        flight = InFlight(a, now, 1)
        return (replace(q, waiting=tuple(waiting), current=flight),
                (*done, Say(a, 1)))
    return replace(q, waiting=()), tuple(done)
