"""Which devices are online, and which offline ones matter now. Pure.

Each device publishes a retained `online` flag and leaves `online: false` as
its MQTT last will, so the server's view is the last flag seen per device
(`observe`, with the time the server received it: a will carries no time).

Q6: a call must show on the window's board and be spoken by a caller, so a
window board, a hall board or a caller that is offline while a window it
serves is open (and the hall open) is an alarm. Feed `needed_offline(...)` to
`alarms.sustain` with a grace period, so that a board that reboots raises
nothing. Sensors, readers and pads offline are shown, not alarmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import datetime

from hallsvc.devices.registry import Registry
from hallsvc.devices.topics import DeviceKind

# Q6: the devices a call cannot do without.
CALL_DEVICES = frozenset({DeviceKind.WINDOW_BOARD, DeviceKind.HALL_BOARD, DeviceKind.CALLER})


@dataclass(frozen=True, slots=True)
class Seen:
    online: bool
    since: datetime
    firmware: str = ""


@dataclass(frozen=True, slots=True)
class PresenceBook:
    started: datetime  # a device never heard from is offline since then
    seen: Mapping[str, Seen] = field(default_factory=dict)


def observe(book: PresenceBook, device: str, online: bool, at: datetime,
            firmware: str = "") -> PresenceBook:
    """A presence message; a repeated flag keeps the time it first came."""
    before = book.seen.get(device)
    if before is not None and before.online == online:
        if firmware and firmware != before.firmware:
            return replace(book, seen={**book.seen, device: replace(before, firmware=firmware)})
        return book
    return replace(book, seen={**book.seen, device: Seen(online, at, firmware)})


def online_devices(book: PresenceBook) -> frozenset[str]:
    return frozenset(d for d, s in book.seen.items() if s.online)


def offline_since(book: PresenceBook, device: str) -> datetime | None:
    """None while online."""
    s = book.seen.get(device)
    if s is None:
        return book.started
    return None if s.online else s.since


@dataclass(frozen=True, slots=True)
class OfflineAlarm:
    device: str
    kind: DeviceKind
    windows: tuple[str, ...]  # the open windows it serves
    since: datetime
    place: str = ""


def needed_offline(book: PresenceBook, registry: Registry, open_windows: Set[str],
                   hall_open: bool) -> dict[str, OfflineAlarm]:
    """The call devices (boards, callers) offline while an open window they
    serve needs them, by device id."""
    if not hall_open:
        return {}
    out: dict[str, OfflineAlarm] = {}
    for d in registry.devices:
        if d.kind not in CALL_DEVICES:
            continue
        since = offline_since(book, d.id)
        if since is None:
            continue
        serves = registry.serves(d.id, open_windows)  # worked out once (issue 3)
        if serves:
            out[d.id] = OfflineAlarm(d.id, d.kind, serves, since, d.place)
    return out
