"""What the LED boards show: the retained `state` payloads, composed. Pure.

The server composes every line and fits it to the board's width (the board's
`DeviceSpec.width`), so that a plain LED controller only draws rows; a row
that is too long either gets truncated (window boards, calls) or rolls (H7:
waiting counts and notices). Publish the result on the board's `state` topic,
retained, through the outbox.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

from hallsvc.devices import text as fit
from hallsvc.devices.wire import (
    BoardLine,
    CallEvent,
    HallBoardState,
    RecentCall,
    WaitingCount,
    WindowBoardState,
)

WindowShown = Literal["serving", "paused", "closed"]
# Q5: what a window board says when it is not calling anyone.
IDLE_TEXT = "欢迎光临"
PAUSED_TEXT = "暂停服务"
CLOSED_TEXT = "窗口已关闭"
MAX_LINE = 512  # characters: wire.LineText


# Pure, with an immutable result, and asked the same few hundred window
# names and numbers all day: fitted once each.
@functools.lru_cache(maxsize=4096)
def fit_line(line: str, width: int, *, roll: bool = False) -> BoardLine:
    """A row for a board `width` cells wide: as is if it fits; else rolled
    (when `roll`) or truncated."""
    line = fit.clean(line)[:MAX_LINE]
    if fit.fits(line, width):
        return BoardLine(text=line)
    if roll:
        return BoardLine(text=line, roll=True)
    return BoardLine(text=fit.truncate(line, width))


def window_board(*, window: str, window_name: str, state: WindowShown, ticket: str | None,
                 width: int, rows: int, at_ms: int) -> WindowBoardState:
    """A window board: the window's name, then the number it serves or its
    state (Q5: 暂停服务 when paused). A one-row board shows both on one row."""
    if state == "paused":
        status = PAUSED_TEXT
    elif state == "closed":
        status = CLOSED_TEXT
    elif ticket:
        status = f"请{ticket}号"
    else:
        status = IDLE_TEXT
    texts = [window_name, status] if rows >= 2 else [f"{window_name} {status}"]
    return WindowBoardState(
        at_ms=at_ms, window=window, window_name=window_name, state=state,
        ticket=(ticket or "") if state == "serving" else "", width=width,
        lines=[fit_line(t, width) for t in texts])


def remember_call(calls: Sequence[RecentCall], event: CallEvent, *,
                  keep: int = 5) -> tuple[RecentCall, ...]:
    """Q6: the hall board's last few calls, newest first. A recall moves the
    ticket to the top again; a skip takes it off. Idempotent: the same event
    delivered twice changes nothing."""
    others = tuple(c for c in calls
                   if not (c.ticket == event.ticket and c.window == event.window))
    if event.kind == "skip":
        return others[:keep]
    new = RecentCall(ticket=event.ticket, window=event.window,
                     window_name=event.window_name, recall=event.kind == "recall",
                     at_ms=event.at_ms)
    if calls and calls[0] == new:
        return tuple(calls[:keep])
    return (new, *others)[:keep]


def call_line(call: RecentCall) -> str:
    return f"{call.ticket} 请到{call.window_name}" + ("(重呼)" if call.recall else "")


def waiting_line(waiting: Sequence[WaitingCount]) -> str:
    return "等候: " + "  ".join(f"{w.name}{w.waiting}人" for w in waiting)


def hall_board(*, calls: Sequence[RecentCall], waiting: Sequence[WaitingCount],
               notices: Sequence[str], width: int, rows: int, at_ms: int) -> HallBoardState:
    """The hall board: the last calls on top (Q6), then the waiting counts and
    the notices, which roll when longer than the board (H7). With too few
    rows, calls come first, then notices, then waiting counts."""
    # Below the calls, by priority: notices, then the waiting counts.
    extra: dict[str, BoardLine] = {}
    if notices:
        extra["notices"] = fit_line("  ".join(fit.clean(n) for n in notices), width, roll=True)
    if waiting:
        extra["waiting"] = fit_line(waiting_line(waiting), width, roll=True)
    n_calls = min(len(calls), max(rows - len(extra), 1))
    kept = dict(list(extra.items())[:max(rows - n_calls, 0)])
    lines = [fit_line(call_line(c), width) for c in calls[:n_calls]]
    lines += [kept[k] for k in ("waiting", "notices") if k in kept]
    return HallBoardState(at_ms=at_ms, calls=list(calls), waiting=list(waiting),
                          notices=[fit.clean(n) for n in notices], width=width,
                          lines=lines)
