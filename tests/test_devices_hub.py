"""The device hub's pure state (hallsvc/devices/hub.py, monitor.py): what it
sends, and when, with no broker and no clock. The end-to-end behaviour over
the real broker is in tests/test_devicebus_*.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from hallsvc.config import HallConfig, parse_hall
from hallsvc.devices import announcements as ann
from hallsvc.devices import wire
from hallsvc.devices.hub import MAX_WAITING, Announced, Hub, Send, ms
from hallsvc.devices.monitor import ClearAlarm, Monitor, OpenAlarm, RaiseAlarm
from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import HallTopics
from tests.conftest import hall_raw

AT = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)  # Monday 09:00 in the hall (Shanghai)


def _hall(**changes: Any) -> tuple[HallConfig, Registry]:
    cfg = parse_hall(hall_raw("h1", **changes), source="test")
    return cfg, Registry.for_hall(cfg.devices, [w.id for w in cfg.windows])


def _hub(**changes: Any) -> Hub:
    cfg, registry = _hall(**changes)
    return Hub(cfg, registry, HallTopics("h1"))


def _call(ticket: str, window: str = "W01", at: datetime = AT, kind: str = "call",
          seq: int = 0) -> wire.CallEvent:
    name = f"{window[-1]}号窗口"
    return wire.CallEvent(kind=kind, hall="h1", ticket=ticket, service="A01",  # type: ignore[arg-type]
                          window=window, window_name=name, at_ms=ms(at), seq=seq,
                          text="" if kind == "skip" else wire.announcement(
                              ticket, name, recall=kind == "recall"))


def _says(effects: list[Any]) -> list[str]:
    return [e.payload.text for e in effects
            if isinstance(e, Send) and isinstance(e.payload, wire.SayCommand)]


def _boards(effects: list[Any]) -> list[wire.WindowBoardState]:
    return [e.payload for e in effects
            if isinstance(e, Send) and isinstance(e.payload, wire.WindowBoardState)]


def test_a_call_told_in_process_and_again_from_the_outbox_is_said_once() -> None:
    hub = _hub()
    hub.caller_online("CALLER-1", True, AT)
    hub.window_verb("login", "W01", "clerk1", None, None, AT)
    first = hub.window_verb("call", "W01", "clerk1", "A001", None, AT, _call("A001"))
    assert _says(first) == ["请A001号到1号窗口办理"]
    assert [b.ticket for b in _boards(first)] == ["A001"]
    again = hub.call_event(_call("A001", seq=41), AT)  # the outbox's copy, with its seq
    assert again == [] and not hub.unsynced
    assert hub.call_event(_call("A001", seq=41), AT) == []  # at least once: seq seen


def test_the_outbox_copy_first_then_the_hook_needs_no_reread() -> None:
    hub = _hub()
    hub.call_event(_call("A001", seq=7), AT)  # published and back before the hook ran
    hub.window_verb("call", "W01", "clerk1", "A001", None, AT, _call("A001"))
    for _ in range(3):
        hub.tick(AT)
    assert not hub.unsynced


def test_a_call_of_another_process_has_its_window_read_again() -> None:
    hub = _hub()
    hub.call_event(_call("A002", window="W02", seq=9), AT)
    hub.tick(AT)
    hub.tick(AT)
    assert not hub.unsynced
    hub.tick(AT)
    assert hub.unsynced == {"W02"}
    before = hub.windows["W02"].version
    assert [b.ticket for b in _boards(hub.window_synced(
        "W02", "open", "clerk2", "A002", before, AT))] == ["A002"]
    assert not hub.unsynced


def test_a_hot_state_read_older_than_a_verb_is_dropped() -> None:
    hub = _hub()
    version = hub.windows["W01"].version
    hub.window_verb("login", "W01", "clerk1", None, None, AT)  # meanwhile
    assert hub.window_synced("W01", "closed", None, None, version, AT) == []
    assert hub.windows["W01"].state == "serving"


def test_a_board_state_is_sent_only_when_what_it_shows_changes() -> None:
    hub = _hub()
    hub.window_verb("login", "W01", "clerk1", None, None, AT)
    assert hub.window_verb("login", "W01", "clerk1", None, None, AT + timedelta(seconds=9)) == []
    paused = _boards(hub.window_verb("pause", "W01", "clerk1", None, None, AT))
    assert [b.lines[1].text for b in paused] == ["暂停服务"]


def test_after_a_restart_what_the_record_says_was_said_is_not_said_again() -> None:
    hub = _hub()
    hub.caller_online("CALLER-1", True, AT)
    said = {"CALLER-1": {ann.announcement_id(_call("A001"))}}
    out = hub.call_event(_call("A001", seq=1), AT, spoken=said)
    out += hub.call_event(_call("A002", window="W02", seq=2), AT, spoken=said)
    assert _says(out) == ["请A002号到2号窗口办理"]


def test_a_replayed_call_goes_stale_from_its_own_time() -> None:
    hub = _hub()
    hub.caller_online("CALLER-1", True, AT)
    old = _call("A001", at=AT - timedelta(minutes=6), seq=1)  # stale_after: 5 minutes
    out = hub.call_event(old, AT)
    assert _says(out) == [] and [e.done.outcome for e in out if isinstance(e, Announced)] \
        == ["expired"]


def test_an_unheard_caller_keeps_a_bounded_queue() -> None:
    hub = _hub()
    out: list[Any] = []
    for i in range(MAX_WAITING + 3):
        out += hub.call_event(_call(f"A{i + 1:03d}", seq=i + 1), AT)
    assert hub.caller_status()["CALLER-1"] == (False, None, MAX_WAITING)
    assert [e.done.announcement.ticket for e in out if isinstance(e, Announced)] == \
        ["A001", "A002", "A003"]
    later = hub.tick(AT + timedelta(minutes=6))  # offline, and now stale: none left
    assert len([e for e in later if isinstance(e, Announced)]) == MAX_WAITING
    assert hub.caller_status()["CALLER-1"] == (False, None, 0)


def test_a_new_broker_connection_sends_the_announcement_in_flight_again() -> None:
    hub = _hub()
    hub.caller_online("CALLER-1", True, AT)
    assert _says(hub.call_event(_call("A001", seq=1), AT)) == ["请A001号到1号窗口办理"]
    assert hub.reset_callers(AT) == []
    again = hub.caller_online("CALLER-1", True, AT)
    says = [e.payload for e in again if isinstance(e, Send)]
    assert [(s.id, s.text) for s in says] == [(ann.announcement_id(_call("A001")),  # type: ignore[union-attr]
                                              "请A001号到1号窗口办理")]


def test_every_state_is_offered_again_on_a_new_connection() -> None:
    hub = _hub()
    states = hub.all_states(AT)
    topics = sorted(str(s.topic).split("/", 2)[2] for s in states)
    assert len(states) == 4 + 1 + 4  # window boards, the hall board, pads
    assert topics[0] == "dev/hall_board/HB-1/state"
    assert all(msgspec.structs.replace(s.payload, at_ms=0) ==  # type: ignore[type-var]
               msgspec.structs.replace(t.payload, at_ms=0)  # type: ignore[type-var]
               for s, t in zip(states, hub.all_states(AT + timedelta(seconds=5)), strict=True))


# -- the monitor ----------------------------------------------------------------------

def test_an_offline_board_alarms_after_the_grace_counted_from_its_will() -> None:
    cfg, registry = _hall(device_bus={"offline_grace_seconds": 60})
    mon = Monitor(cfg, registry, AT)
    for d in registry.devices:
        mon.presence(d.id, True, "fw", AT)
    assert mon.check(AT, {"W03"}, {"W03": "clerk3"}) == []
    mon.presence("WB-W03", False, "", AT + timedelta(seconds=10))  # its last will
    # Not looked at again until 65 s later: the grace still counts from the will.
    raised = mon.check(AT + timedelta(seconds=75), {"W03"}, {"W03": "clerk3"})
    assert [(r.kind, r.subject, r.since) for r in raised if isinstance(r, RaiseAlarm)] == \
        [("device_offline", "WB-W03", AT + timedelta(seconds=10))]
    mon.presence("WB-W03", True, "fw", AT + timedelta(seconds=80))
    cleared = mon.check(AT + timedelta(seconds=81), {"W03"}, {"W03": "clerk3"})
    assert [(c.kind, c.subject) for c in cleared if isinstance(c, ClearAlarm)] == \
        [("device_offline", "WB-W03")]


def test_a_window_whose_clerk_clocked_out_is_unstaffed_after_the_hand_over_grace() -> None:
    cfg, registry = _hall(device_bus={"unstaffed_grace_seconds": 300,
                                      "staffed_windows": ["W01"]})
    mon = Monitor(cfg, registry, AT)
    tap = wire.ClockEvent(at_ms=ms(AT), id="t1", staff="clerk1", direction="out")
    mon.tap("READER-1", tap, AT)
    assert not [r for r in mon.check(AT, {"W01"}, {"W01": "clerk1"})
                if isinstance(r, RaiseAlarm)]
    late = mon.check(AT + timedelta(minutes=5), {"W01"}, {"W01": "clerk1"})
    assert [(r.kind, r.subject, r.detail["clocked_out"]) for r in late
            if isinstance(r, RaiseAlarm) and r.kind == "unstaffed"] == [("unstaffed", "W01", True)]


def test_open_alarms_of_the_record_are_cleared_when_their_condition_is_gone() -> None:
    cfg, registry = _hall()
    mon = Monitor(cfg, registry, AT)
    mon.restore([OpenAlarm("temperature", "TEMP-1", AT, {"side": "high"}),
                 OpenAlarm("device_offline", "WB-W01", AT, {})], [])
    back = mon.reading("TEMP-1", wire.TemperatureReading(at_ms=0, celsius=21.0), AT)
    assert [(c.kind, c.subject) for c in back if isinstance(c, ClearAlarm)] == \
        [("temperature", "TEMP-1")]
    gone = mon.check(AT, set(), {})  # no window open: a board offline is no alarm
    assert [(c.kind, c.subject) for c in gone if isinstance(c, ClearAlarm)] == \
        [("device_offline", "WB-W01")]
