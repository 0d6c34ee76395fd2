#!/usr/bin/env python3
"""Simulated LED boards: a window board (条屏) and the hall board (综合屏).

A board keeps what it shows (the last `state` it accepted, retained on the
broker, so a rebooted board shows the right number at once) and can print
it. Rows marked `roll` are longer than the board and scroll (H7); `render`
draws the frame a given tick shows, counting full-width characters double
as the LED controller does.

    python firmware-sim/board.py --hall demo --id WB-W01 --width 16 --rows 2
    python firmware-sim/board.py --hall demo --id HB-1 --kind hall_board --width 32 --rows 8
"""

from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from devicekit import Device, MqttUrl, common_args, serve


def cell_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf", "Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("F", "W") else 1


def fill(text: str, width: int) -> str:
    """Exactly `width` cells: the characters that fit, then spaces."""
    out, used = [], 0
    for ch in text:
        w = cell_width(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def roll(text: str, width: int, tick: int, gap: int = 4) -> str:
    loop = text + " " * gap
    starts = [i for i, ch in enumerate(loop) if cell_width(ch) > 0] or [0]
    i = starts[tick % len(starts)]
    return fill(loop[i:] + loop[:i], width)


class WindowBoard(Device):
    kind: ClassVar[str] = "window_board"
    listens: ClassVar[tuple[str, ...]] = ("state",)

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *, width: int = 16,
                 rows: int = 2, **kw: Any) -> None:
        super().__init__(hall, device_id, mqtt, **kw)
        self.width = width
        self.rows = rows
        self.shown: dict[str, Any] | None = None  # the state on the board now
        self.updates = 0

    async def on_message(self, leaf: str, body: dict[str, Any]) -> None:
        if leaf != "state":
            return
        self.shown = body
        self.updates += 1
        if self.echo:
            print(self.render(), flush=True)

    def rows_text(self, tick: int = 0) -> list[str]:
        """The rows as lit at `tick` (each exactly `width` cells)."""
        lines = (self.shown or {}).get("lines") or []
        out = []
        for line in lines[: self.rows]:
            text = str(line.get("text", "")) if isinstance(line, dict) else ""
            rolling = isinstance(line, dict) and line.get("roll") is True
            out.append(roll(text, self.width, tick) if rolling else fill(text, self.width))
        return out + [" " * self.width] * (self.rows - len(out))

    def render(self, tick: int = 0) -> str:
        """The board in a frame, its id in the top edge (when it fits)."""
        label = f" {self.device_id} "
        room = self.width - sum(cell_width(c) for c in label)
        top = label + "─" * room if room >= 0 else "─" * self.width
        return "\n".join([f"┌{top}┐", *(f"│{row}│" for row in self.rows_text(tick)),
                          "└" + "─" * self.width + "┘"])

    @property
    def ticket(self) -> str:
        return str((self.shown or {}).get("ticket", ""))


class HallBoard(WindowBoard):
    kind: ClassVar[str] = "hall_board"

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *, width: int = 32,
                 rows: int = 8, **kw: Any) -> None:
        super().__init__(hall, device_id, mqtt, width=width, rows=rows, **kw)


if __name__ == "__main__":
    p = common_args("a simulated LED board")
    p.add_argument("--kind", choices=("window_board", "hall_board"), default="window_board")
    p.add_argument("--width", type=int, default=16, help="half-width cells a row")
    p.add_argument("--rows", type=int, default=2)
    a = p.parse_args()
    cls = HallBoard if a.kind == "hall_board" else WindowBoard
    serve(lambda: cls(a.hall, a.id, a.mqtt, width=a.width, rows=a.rows, prefix=a.prefix,
                      keepalive=a.keepalive, echo=True), verbose=a.verbose)
