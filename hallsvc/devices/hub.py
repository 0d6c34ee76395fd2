"""The device hub's state: what each board, pad and caller should have now,
and what to send them. Pure: no I/O, no clock (`now` is an argument); the
I/O loop (hallsvc/devicebus/service.py) carries out the effects it returns.

What it is told, and from where:
- `window_verb`: each window verb, in-process, once the queue service has
  recorded it (login, pause, resume, logout, call, finish, skip, transfer):
  the window's board (Q5) and, after a finish, its pad (H8a);
- `window_synced`: a window's hot state (Redis), re-read now and then and
  for a call made by another process: the same board, corrected;
- `call_event`: the `calls` topic (the outbox's durable events), and after a
  (re)start the outbox's recent call rows: the hall board's last calls and
  every caller's announcements (Q6), de-duplicated by seq;
- `set_waiting`: the waiting counts, read from the hot state at most once a
  second (the hall board; never on the kiosk's path);
- the callers' `online` and `spoken` reports, and `tick` for their timeouts.

A board's or pad's state is sent only when what it shows changes (the time
stamp aside), and `latest_only`: under load an unsent earlier state of the
same topic is replaced by the newer one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from hallsvc.config import HallConfig
from hallsvc.devices import announcements as ann
from hallsvc.devices import boards, wire
from hallsvc.devices.ratings import Accepted, RatingRequest, Refused, Served, judge, request_for
from hallsvc.devices.registry import DeviceSpec, Registry
from hallsvc.devices.topics import DeviceKind, DeviceTopic, HallTopics, Leaf
from hallsvc.hours import WorkingDays

# Q6: a caller that hears nothing (offline) keeps at most this many
# announcements; more could not be said before they went stale anyway.
MAX_WAITING = 100
_REMEMBER_SEQS = 4096  # call seqs kept for de-duplication


@dataclass(frozen=True, slots=True)
class Send:
    topic: DeviceTopic
    payload: wire.ToDevice | bytes  # bytes: sent as it is (an error reply, seq 0)
    latest_only: bool = False  # a state: an unsent earlier one of this topic is dropped


@dataclass(frozen=True, slots=True)
class Announced:
    """An announcement ended at a caller (finished, abandoned, gave_up, expired)."""

    caller: str
    done: ann.Done


Effect = Send | Announced


@dataclass(slots=True)
class WindowNow:
    state: boards.WindowShown = "closed"
    ticket: str | None = None
    clerk: str | None = None
    version: int = 0  # bumped by every verb: a hot-state read older than it is dropped


@dataclass(slots=True)
class PadAsk:
    request: RatingRequest
    rated: bool = False


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Hub:
    def __init__(self, cfg: HallConfig, registry: Registry, topics: HallTopics) -> None:
        self.cfg = cfg
        self.registry = registry
        self.topics = topics
        rules = cfg.device_bus
        self.policy = rules.caller.policy()
        self.ask_for = timedelta(seconds=rules.rating.ask_seconds)
        self.windows = {w.id: WindowNow() for w in cfg.windows}
        self.recent: tuple[wire.RecentCall, ...] = ()  # Q6, newest first
        self.waiting: tuple[wire.WaitingCount, ...] = ()
        self.hall_dirty = False
        self.callers = {d.id: ann.CallerQueue() for d in registry.of_kind(DeviceKind.CALLER)}
        self.pads: dict[str, PadAsk] = {}
        self.unsynced: set[str] = set()  # windows whose hot state should be re-read
        # Calls and skips told in-process, and those seen only from the outbox
        # so far (the outbox's copy may come first): after two ticks without
        # the in-process word, another process made it; its window is re-read.
        self._told: dict[str, deque[tuple[str | None, int]]] = {}
        self._unconfirmed: dict[str, tuple[tuple[str, int], int]] = {}
        self._callers = {w: tuple(c.id for c in registry.callers_for(w)) for w in self.windows}
        self._topics: dict[tuple[DeviceKind, str, Leaf], DeviceTopic] = {}
        self._shown: dict[str, msgspec.Struct] = {}  # topic -> state sent, at_ms 0
        self._seqs: set[int] = set()
        self._seq_order: deque[int] = deque()

    # -- windows (Q5) -------------------------------------------------------------

    def window_verb(self, verb: str, window: str, clerk: str, ticket: str | None,
                    served: Served | None, now: datetime,
                    call: wire.CallEvent | None = None) -> list[Effect]:
        """`call`: the event a call, recall or skip wrote to the outbox."""
        w = self.windows.get(window)
        if w is None:
            return []
        w.version += 1
        if verb in ("login", "resume"):
            w.state, w.clerk = "serving", clerk
        elif verb == "pause":
            w.state, w.clerk = "paused", clerk  # Q5 暂停服务: the clerk is still there
        elif verb == "logout":
            w.state, w.clerk, w.ticket = "closed", None, None
        elif verb == "call":
            w.ticket = ticket
            self._tell(window, ticket, now)
        elif verb in ("finish", "skip", "transfer"):
            w.ticket = None
            if verb == "skip":
                self._tell(window, ticket, now)
        out: list[Effect] = [*self._window_boards(window, now)]
        if verb == "finish" and served is not None:
            out += self._ask(served, now)
        if call is not None:
            # Q6: announced at once; the outbox's copy of this event (with its
            # seq) comes later over MQTT and changes nothing (same announcement id).
            out += self.call_event(call, now)
        return out

    def _tell(self, window: str, ticket: str | None, now: datetime) -> None:
        key = (ticket, ms(now))
        self._told.setdefault(window, deque(maxlen=4)).append(key)
        if window in self._unconfirmed and self._unconfirmed[window][0] == key:
            del self._unconfirmed[window]

    def window_synced(self, window: str, state: str, clerk: str | None, ticket: str | None,
                      version: int, now: datetime) -> list[Effect]:
        """The hot state read while the window was at `version`; dropped if a
        verb came meanwhile (that verb is newer than the read)."""
        w = self.windows.get(window)
        if w is None:
            return []
        self.unsynced.discard(window)
        if w.version != version:
            return []
        w.state = "serving" if state == "open" else "paused" if state == "paused" else "closed"
        w.clerk = clerk if w.state != "closed" else None
        w.ticket = ticket
        return list(self._window_boards(window, now))

    def open_windows(self) -> frozenset[str]:
        return frozenset(w for w, n in self.windows.items() if n.state != "closed")

    def logged_in(self) -> dict[str, str | None]:
        return {w: (n.clerk if n.state != "closed" else None) for w, n in self.windows.items()}

    def _window_boards(self, window: str, now: datetime) -> list[Send]:
        w = self.windows[window]
        name = self.cfg.window_by_id[window].name
        out: list[Send] = []
        for board in self.registry.boards_of(window):
            state = boards.window_board(window=window, window_name=name, state=w.state,
                                        ticket=w.ticket, width=board.width, rows=board.rows,
                                        at_ms=ms(now))
            out += self._state(self._topic(DeviceKind.WINDOW_BOARD, board.id,
                                                  Leaf.STATE), state)
        return out

    # -- the hall board (Q6, H7) ----------------------------------------------------

    def set_waiting(self, counts: Mapping[str, int]) -> None:
        waiting = tuple(wire.WaitingCount(service=s.code, name=s.name[:64],
                                          waiting=max(0, counts.get(s.code, 0)))
                        for s in self.cfg.services)
        if waiting != self.waiting:
            self.waiting = waiting
            self.hall_dirty = True

    def hall_board(self, now: datetime) -> list[Effect]:
        if not self.hall_dirty:
            return []
        self.hall_dirty = False
        out: list[Effect] = []
        for board in self.registry.of_kind(DeviceKind.HALL_BOARD):
            state = boards.hall_board(calls=self.recent, waiting=self.waiting,
                                      notices=self.cfg.device_bus.notices, width=board.width,
                                      rows=board.rows, at_ms=ms(now))
            out += self._state(self._topic(DeviceKind.HALL_BOARD, board.id, Leaf.STATE),
                               state)
        return out

    # -- calls and the callers (Q6) ---------------------------------------------------

    def call_event(self, event: wire.CallEvent, now: datetime,
                   spoken: Mapping[str, Set[str]] | None = None) -> list[Effect]:
        """A call, recall or skip from the outbox. `spoken`: per caller, the
        announcement ids the record says were said already (after a restart)."""
        if event.seq:
            if event.seq in self._seqs:
                return []  # at least once: the same row again
            self._seqs.add(event.seq)
            self._seq_order.append(event.seq)
            if len(self._seq_order) > _REMEMBER_SEQS:
                self._seqs.discard(self._seq_order.popleft())
        if event.window not in self.windows or event.hall != self.topics.hall:
            return []
        recent = boards.remember_call(self.recent, event, keep=self.cfg.device_bus.recent_calls)
        if recent != self.recent:
            self.recent, self.hall_dirty = recent, True
        key = (event.ticket, event.at_ms)
        if event.kind != "recall" and key not in self._told.get(event.window, ()):
            self._unconfirmed[event.window] = (key, 0)
        # Q6: said from when it was called, so that a call replayed after a
        # restart goes stale from its own time, not from now.
        a = ann.from_call(event, min(now, datetime.fromtimestamp(event.at_ms / 1000, UTC)))
        if a is None:
            return []
        out: list[Effect] = []
        for caller in self._callers[event.window]:
            if spoken is not None and a.id in spoken.get(caller, ()):
                continue
            q = self.callers[caller]
            out += self._step(caller, ann.enqueue(q, a, now, self.policy), now)
            out += self._bound(caller, now)
        return out

    def spoken(self, caller: str, announcement: str,
               event: Literal["started", "finished"], now: datetime) -> list[Effect]:
        q = self.callers.get(caller)
        if q is None:
            return []
        return self._step(caller, ann.report(q, announcement, event, now, self.policy), now)

    def caller_online(self, caller: str, online: bool, now: datetime) -> list[Effect]:
        q = self.callers.get(caller)
        if q is None:
            return []
        return self._step(caller, ann.presence(q, online, now, self.policy), now)

    def reset_callers(self, now: datetime) -> list[Effect]:
        """The hub's broker connection was new: a `say` in flight may be lost.
        Each caller's current announcement goes back to the head of its queue
        and is sent again (same id: a caller that did hear it does not say it
        twice) once its `online` flag comes."""
        out: list[Effect] = []
        for caller, q in self.callers.items():
            out += self._step(caller, ann.presence(q, False, now, self.policy), now)
        return out

    def tick(self, now: datetime) -> list[Effect]:
        """Timeouts: callers gone quiet (Q6), pads whose question expired (H8a);
        calls of other processes (their windows are re-read)."""
        for window, (key, ticks) in list(self._unconfirmed.items()):
            if ticks >= 2:
                del self._unconfirmed[window]
                self.unsynced.add(window)
            else:
                self._unconfirmed[window] = (key, ticks + 1)
        out: list[Effect] = []
        for caller, q in self.callers.items():
            if q.online:
                out += self._step(caller, ann.tick(q, now, self.policy), now)
            elif q.waiting:
                out += self._expire(caller, now)
        for pad, ask in self.pads.items():
            if not ask.rated and now > ask.request.expires_at:
                out += self._pad_prompt(pad, now)
        return out

    def caller_status(self) -> dict[str, tuple[bool, str | None, int]]:
        """Per caller: online, the announcement in flight, how many wait."""
        return {c: (q.online, q.current.announcement.id if q.current else None, len(q.waiting))
                for c, q in self.callers.items()}

    def _step(self, caller: str, step: ann.Step, now: datetime) -> list[Effect]:
        q, actions = step
        self.callers[caller] = q
        out: list[Effect] = []
        for a in actions:
            if isinstance(a, ann.Say):
                say = self._topic(DeviceKind.CALLER, caller, Leaf.SAY)
                out.append(Send(say, a.command(ms(now))))
            else:
                out.append(Announced(caller, a))
        return out

    def _bound(self, caller: str, now: datetime) -> list[Effect]:
        q = self.callers[caller]
        if len(q.waiting) <= MAX_WAITING:
            return []
        self.callers[caller] = replace(q, waiting=q.waiting[-MAX_WAITING:])
        return [Announced(caller, ann.Done(a, "expired", now))
                for a in q.waiting[:-MAX_WAITING]]

    def _expire(self, caller: str, now: datetime) -> list[Effect]:
        """Q6: nothing is read out stale, and an unheard queue does not grow."""
        q = self.callers[caller]
        keep = tuple(a for a in q.waiting if now - a.queued_at <= self.policy.stale_after)
        if len(keep) == len(q.waiting):
            return []
        self.callers[caller] = replace(q, waiting=keep)
        return [Announced(caller, ann.Done(a, "expired", now))
                for a in q.waiting if a not in keep]

    # -- rating pads (H8, H8a) ----------------------------------------------------------

    def _ask(self, served: Served, now: datetime) -> list[Effect]:
        out: list[Effect] = []
        for pad in self.registry.pads_of(served.window):
            self.pads[pad.id] = PadAsk(request_for(served, pad.id, now, ttl=self.ask_for))
            out += self._pad_prompt(pad.id, now)
        return out

    def restore_pads(self, finishes: Iterable[Served]) -> None:
        """H8a: the questions the pads were asking when the hub stopped,
        re-derived from the record (the last unrated finish of each window):
        asked from the finish, so they expire as they would have."""
        for served in finishes:
            for pad in self.registry.pads_of(served.window):
                self.pads[pad.id] = PadAsk(request_for(served, pad.id, served.finished_at,
                                                       ttl=self.ask_for))

    def _pad_prompt(self, pad: str, now: datetime) -> list[Send]:
        ask = self.pads.get(pad)
        topic = self._topic(DeviceKind.PAD, pad, Leaf.STATE)
        if ask is None or ask.rated or now > ask.request.expires_at:
            return self._state(topic, wire.PadPrompt(at_ms=ms(now), state="idle"))
        r, s = ask.request, ask.request.served
        user = self.cfg.user_by_name.get(s.clerk)
        service = self.cfg.service_by_code.get(s.service)
        return self._state(topic, wire.PadPrompt(
            at_ms=ms(now), state="asking", request=r.id, ticket=s.ticket, window=s.window,
            clerk=((user.display_name if user else None) or s.clerk)[:64],
            service=(service.name if service else s.service)[:64],
            expires_at_ms=ms(r.expires_at)))

    def rating(self, pad: DeviceSpec, answer: wire.RatingAnswer, now: datetime,
               calendar: WorkingDays) -> tuple[Accepted | Refused, list[Effect]]:
        """H8a, judged against what the pad is asking; the record's unique
        key is the last word on 'rated once' (the I/O loop writes it)."""
        ask = self.pads.get(pad.id)
        verdict = judge(pad=pad.id, pad_window=pad.window,
                        request=ask.request if ask else None, request_ref=answer.request,
                        ticket=answer.ticket, level=answer.level,
                        already_rated=ask.rated if ask else False, now=now, calendar=calendar,
                        follow_up_days=self.cfg.device_bus.rating.follow_up_working_days)
        if isinstance(verdict, Refused) or ask is None:
            return verdict, []
        ask.rated = True
        return verdict, list(self._pad_prompt(pad.id, now))

    # -- every state at once (a new broker connection) ------------------------------------

    def all_states(self, now: datetime) -> list[Send]:
        """The state of every board and pad, changed or not: the I/O loop
        sends each again, as the same bytes (same seq: a board that still
        shows it drops it) where it is what was sent last."""
        self._shown.clear()
        out: list[Send] = []
        for window in self.windows:
            out += self._window_boards(window, now)
        self.hall_dirty = True
        out += [s for s in self.hall_board(now) if isinstance(s, Send)]
        for pad in self.registry.of_kind(DeviceKind.PAD):
            out += self._pad_prompt(pad.id, now)
        return out

    def _topic(self, kind: DeviceKind, device: str, leaf: Leaf) -> DeviceTopic:
        """Topics check themselves as they are made: made once per device."""
        key = (kind, device, leaf)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = self.topics.device(kind, device, leaf)
        return topic

    def _state(self, topic: DeviceTopic, state: wire.ToDevice) -> list[Send]:
        key = str(topic)
        bare = bare_state(state)
        if self._shown.get(key) == bare:
            return []
        self._shown[key] = bare
        return [Send(topic, state, latest_only=True)]


def bare_state(state: wire.ToDevice) -> msgspec.Struct:
    """What a state shows, without when it was made or sent."""
    return msgspec.structs.replace(state, at_ms=0, seq=0)


def served_ids(rows: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """(caller, announcement id) rows → per caller, the ids said already."""
    out: dict[str, set[str]] = {}
    for caller, ident in rows:
        out.setdefault(caller, set()).add(ident)
    return out
