"""H2 no empty window: while the hall is open, a window that is to be open
must have a clerk logged in and on the premises. Pure.

"窗口单位必须保证在工作时间内有工作人员在岗" (002); a clerk who steps away hands
over to a colleague (000 art.26). Feed `unstaffed(...)` to `alarms.sustain`
with a grace period long enough for a handover (a few minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import date
from zoneinfo import ZoneInfo

from hallsvc.devices.attendance import Tap


def clocked_in(taps: Iterable[Tap], day: date, zone: ZoneInfo) -> frozenset[str]:
    """The staff whose last tap of `day` (local) is a clock-in."""
    last: dict[str, Tap] = {}
    for t in sorted(taps, key=lambda t: t.at):
        if t.at.astimezone(zone).date() == day:
            last[t.staff] = t
    return frozenset(s for s, t in last.items() if t.direction == "in")


def unstaffed(windows_to_open: Set[str], logged_in: Mapping[str, str | None], *,
              hall_open: bool, on_site: Set[str] | None = None) -> frozenset[str]:
    """The windows that should be open but have nobody at them: nobody logged
    in, or (when `on_site` is given, from the readers) the clerk logged in has
    clocked out. A paused window with its clerk is staffed (Q5: 暂停服务)."""
    if not hall_open:
        return frozenset()
    empty = set()
    for w in windows_to_open:
        clerk = logged_in.get(w)
        if clerk is None or (on_site is not None and clerk not in on_site):
            empty.add(w)
    return frozenset(empty)
