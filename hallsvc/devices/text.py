"""Fitting text to an LED board's width. Pure.

LED boards count in half-width cells: a Chinese (full-width or wide)
character takes two, ASCII one (`unicodedata.east_asian_width`: F and W are
two cells; A, "ambiguous" such as … · —, is one unless the board's font draws
it wide). A line longer than the board is either truncated (never splitting a
wide character) or rolled (H7: boards roll notices), as a list of frames each
exactly the board's width.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

Align = Literal["left", "center", "right"]


def char_cells(ch: str, *, ambiguous_wide: bool = False) -> int:
    """Cells one character takes: 2 for wide, 0 for combining marks and
    controls, 1 otherwise."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf", "Mn", "Me"):
        return 0
    eaw = unicodedata.east_asian_width(ch)
    if eaw in ("F", "W") or (ambiguous_wide and eaw == "A"):
        return 2
    return 1


def cells(text: str, *, ambiguous_wide: bool = False) -> int:
    return sum(char_cells(c, ambiguous_wide=ambiguous_wide) for c in text)


def clean(text: str) -> str:
    """One line: line breaks and tabs become spaces, other controls go."""
    out = []
    for c in text:
        if c in "\r\n\t\v\f":
            out.append(" ")
        elif unicodedata.category(c) != "Cc":
            out.append(c)
    return "".join(out)


def _take(text: str, width: int, ambiguous_wide: bool) -> tuple[str, int]:
    """The longest prefix of `text` that fits in `width` cells, and its cells.
    Zero-width marks stay with the character before them."""
    used = 0
    end = 0
    for i, c in enumerate(text):
        w = char_cells(c, ambiguous_wide=ambiguous_wide)
        if used + w > width:
            break
        used += w
        end = i + 1
    return text[:end], used


def truncate(text: str, width: int, *, ellipsis: str = "…",
             ambiguous_wide: bool = False) -> str:
    """`text` if it fits in `width` cells; else its longest prefix that fits
    together with `ellipsis` (dropped when even that does not fit)."""
    if width < 0:
        raise ValueError(f"width must be ≥ 0, not {width}")
    text = clean(text)
    if cells(text, ambiguous_wide=ambiguous_wide) <= width:
        return text
    tail = cells(ellipsis, ambiguous_wide=ambiguous_wide)
    if tail > width:
        ellipsis, tail = "", 0
    head, _ = _take(text, width - tail, ambiguous_wide)
    return head + ellipsis


def pad(text: str, width: int, *, align: Align = "left", ambiguous_wide: bool = False) -> str:
    """Exactly `width` cells: truncated (without ellipsis) if too long, then
    filled with spaces."""
    head, used = _take(clean(text), width, ambiguous_wide)
    room = width - used
    if align == "right":
        return " " * room + head
    if align == "center":
        left = room // 2
        return " " * left + head + " " * (room - left)
    return head + " " * room


def roll_frames(text: str, width: int, *, gap: int = 4,
                ambiguous_wide: bool = False) -> tuple[str, ...]:
    """H7: the frames of a line rolling right to left, one character a step,
    each exactly `width` cells (a wide character that would be cut at the
    right edge waits, its cell shown blank). A line that fits is one frame."""
    if width < 1:
        raise ValueError(f"width must be ≥ 1, not {width}")
    text = clean(text)
    if cells(text, ambiguous_wide=ambiguous_wide) <= width:
        return (pad(text, width, ambiguous_wide=ambiguous_wide),)
    loop = text + " " * gap
    starts = [i for i, c in enumerate(loop)
              if char_cells(c, ambiguous_wide=ambiguous_wide) > 0]
    frames = []
    for i in starts:
        # One whole turn of the loop is longer than the board: it fills it.
        frames.append(pad(loop[i:] + loop[:i], width, ambiguous_wide=ambiguous_wide))
    return tuple(frames)


def fits(text: str, width: int, *, ambiguous_wide: bool = False) -> bool:
    return cells(clean(text), ambiguous_wide=ambiguous_wide) <= width
