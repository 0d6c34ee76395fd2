"""LED text fitting and what the boards show (Q5, Q6, H7): pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.devices import boards
from hallsvc.devices.text import cells, clean, fits, pad, roll_frames, truncate
from hallsvc.devices.wire import CallEvent, RecentCall, WaitingCount

# Chinese, ASCII, full-width forms, ambiguous-width punctuation, a combining
# mark, and controls: what a hall's texts may hold.
hall_text = st.text(alphabet=st.sampled_from(
    [*"请A012号到3号窗口办理(重呼)暂停服务 abcXYZ-:：，。①·—…", "\u0301", "\n", "\t"]),
    max_size=40)


@pytest.mark.parametrize(("text", "width"), [
    ("", 0), ("A012", 4), ("请", 2), ("3号窗口", 7), ("请A012号到3号窗口办理", 21),
    ("请A012号到3号窗口办理(重呼)", 27), ("Ａ", 2), ("e\u0301", 1), ("…", 1),
])
def test_cells_count_full_width_double(text: str, width: int) -> None:
    assert cells(text) == width


def test_ambiguous_characters_can_count_double() -> None:
    assert cells("①…", ambiguous_wide=True) == 4
    assert cells("①…") == 2


@pytest.mark.parametrize(("text", "width", "out"), [
    ("请A012号", 8, "请A012号"),  # fits exactly
    ("请A012号", 7, "请A012…"),
    ("请A012号", 6, "请A01…"),
    ("窗口窗口", 5, "窗口…"),  # no half character
    ("窗口窗口", 4, "窗口窗口"[:1] + "…"),
    ("窗口", 1, "…"),  # the ellipsis alone fits, a wide character does not
    ("窗口窗口", 0, ""),
    ("一\n二", 5, "一 二"),  # one line
])
def test_truncate(text: str, width: int, out: str) -> None:
    assert truncate(text, width) == out


def test_truncate_without_ellipsis() -> None:
    assert truncate("请A012号到3号窗口办理", 9, ellipsis="") == "请A012号"


@pytest.mark.parametrize(("align", "out"), [
    ("left", "暂停服务    "), ("right", "    暂停服务"), ("center", "  暂停服务  ")])
def test_pad(align: str, out: str) -> None:
    assert pad("暂停服务", 12, align=align) == out  # type: ignore[arg-type]


def test_pad_leaves_a_blank_where_a_wide_character_would_be_cut() -> None:
    assert pad("窗口窗口", 5) == "窗口 "


def test_roll_frames() -> None:
    assert roll_frames("A012", 6) == ("A012  ",)  # fits: one frame
    frames = roll_frames("请到3号", 4, gap=1)
    # A wide character that would be cut at the right edge waits (a blank).
    assert frames == ("请到", "到3 ", "3号 ", "号  ", " 请 ")


@given(hall_text, st.integers(0, 40))
def test_truncate_never_exceeds_width(text: str, width: int) -> None:
    out = truncate(text, width)
    assert cells(out) <= width
    if fits(text, width):
        assert out == clean(text)
    else:
        assert clean(text).startswith(out.removesuffix("…"))


@given(hall_text, st.integers(0, 40), st.sampled_from(["left", "center", "right"]))
def test_pad_is_exactly_the_width(text: str, width: int, align: str) -> None:
    assert cells(pad(text, width, align=align)) == width  # type: ignore[arg-type]


@given(hall_text, st.integers(1, 30))
def test_every_roll_frame_is_exactly_the_width(text: str, width: int) -> None:
    frames = roll_frames(text, width)
    assert frames
    assert all(cells(f) == width for f in frames)


# -- window boards (Q5) -------------------------------------------------------------

@pytest.mark.parametrize(("state", "ticket", "lines"), [
    ("serving", "A012", ["3号窗口", "请A012号"]),
    ("serving", None, ["3号窗口", "欢迎光临"]),
    ("paused", "A012", ["3号窗口", "暂停服务"]),
    ("closed", None, ["3号窗口", "窗口已关闭"]),
])
def test_window_board(state: boards.WindowShown, ticket: str | None, lines: list[str]) -> None:
    s = boards.window_board(window="W03", window_name="3号窗口", state=state, ticket=ticket,
                            width=16, rows=2, at_ms=1)
    assert [ln.text for ln in s.lines] == lines
    assert s.ticket == (ticket or "" if state == "serving" else "")
    assert not any(ln.roll for ln in s.lines)


def test_a_narrow_one_row_window_board_truncates() -> None:
    s = boards.window_board(window="W09", window_name="9号综合代理窗口", state="serving",
                            ticket="E001", width=12, rows=1, at_ms=1)
    assert [ln.text for ln in s.lines] == ["9号综合代理…"]


# -- the hall board (Q6, H7) ----------------------------------------------------------

def _event(kind: str, ticket: str, window: str = "W03", at_ms: int = 1) -> CallEvent:
    return CallEvent(kind=kind, hall="h", ticket=ticket, service="A01",  # type: ignore[arg-type]
                     window=window, window_name=f"{window[-1]}号窗口", at_ms=at_ms,
                     text="x")


def test_recent_calls_newest_first_recall_moves_up_skip_removes() -> None:
    calls: tuple[RecentCall, ...] = ()
    for e in [_event("call", "A001", "W01", 1), _event("call", "B001", "W03", 2),
              _event("recall", "A001", "W01", 3)]:
        calls = boards.remember_call(calls, e, keep=5)
    assert [(c.ticket, c.recall) for c in calls] == [("A001", True), ("B001", False)]
    again = boards.remember_call(calls, _event("recall", "A001", "W01", 3))
    assert again == calls  # the same event twice changes nothing
    calls = boards.remember_call(calls, _event("skip", "A001", "W01", 4))
    assert [c.ticket for c in calls] == ["B001"]


def test_recent_calls_keep_only_the_last_few() -> None:
    calls: tuple[RecentCall, ...] = ()
    for i in range(1, 9):
        calls = boards.remember_call(calls, _event("call", f"A{i:03}", at_ms=i), keep=3)
    assert [c.ticket for c in calls] == ["A008", "A007", "A006"]


WAITING = [WaitingCount(service="A01", name="企业设立登记", waiting=3),
           WaitingCount(service="B01", name="发票领用", waiting=12)]
NOTICES = ["请保管好随身物品", "办事请出示身份证"]


@pytest.mark.parametrize(("rows", "n_calls", "shown"), [
    (8, 3, ["A003 请到3号窗口", "A002 请到3号窗口", "A001 请到3号窗口", "waiting", "notices"]),
    (3, 3, ["A003 请到3号窗口", "waiting", "notices"]),
    (2, 3, ["A003 请到3号窗口", "notices"]),  # notices come before waiting counts
    (1, 3, ["A003 请到3号窗口"]),
    (3, 0, ["waiting", "notices"]),
])
def test_hall_board_rows(rows: int, n_calls: int, shown: list[str]) -> None:
    calls: tuple[RecentCall, ...] = ()
    for i in range(1, n_calls + 1):
        calls = boards.remember_call(calls, _event("call", f"A{i:03}", at_ms=i))
    s = boards.hall_board(calls=calls, waiting=WAITING, notices=NOTICES, width=20, rows=rows,
                          at_ms=1)
    texts = [ln.text for ln in s.lines]
    expected = [boards.waiting_line(WAITING) if x == "waiting"
                else "  ".join(NOTICES) if x == "notices" else x for x in shown]
    assert texts == expected
    # H7: waiting counts and notices longer than the board roll; calls fit.
    assert all(fits(ln.text, 20) or ln.roll for ln in s.lines)
    assert [ln.roll for ln in s.lines] == [x in ("waiting", "notices") for x in shown]


@given(st.lists(hall_text, max_size=3), st.integers(4, 40), st.integers(1, 8))
def test_board_lines_fit_or_roll(notices: list[str], width: int, rows: int) -> None:
    s = boards.hall_board(calls=[], waiting=WAITING, notices=notices, width=width, rows=rows,
                          at_ms=1)
    assert len(s.lines) <= rows
    assert all(cells(ln.text) <= width or ln.roll for ln in s.lines)
