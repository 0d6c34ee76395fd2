"""The report charts (hallsvc/web/plots.py): well-formed SVG, bars and
points where their values put them, every label escaped, round ticks."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallsvc.web import plots

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything not well-formed
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    return root


def valued(root: ET.Element, tag: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("data-value") is not None]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


@pytest.mark.parametrize(("high", "ticks"), [
    (7, [0, 2, 4, 6, 8]),
    (10, [0, 2, 4, 6, 8, 10]),
    (13, [0, 5, 10, 15]),
    (1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.3, [0, 0.1, 0.2, 0.3]),
    (100, [0, 20, 40, 60, 80, 100]),
    (0, [0, 1]),
    (float("nan"), [0, 1]),
])
def test_ticks_are_round_and_reach_the_highest_value(high: float, ticks: list[float]) -> None:
    assert plots.nice_ticks(high) == pytest.approx(ticks)


@given(st.floats(min_value=1e-3, max_value=1e7))
def test_ticks_cover_any_value_in_few_even_steps(high: float) -> None:
    ticks = plots.nice_ticks(high)
    # at or above the value; a float's last bit of noise (0.30000000000000004)
    # does not cost a whole extra step
    assert ticks[0] == 0 and ticks[-1] >= high * (1 - 1e-9) and 2 <= len(ticks) <= 11
    steps = {round((b - a) / ticks[1], 6) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_bars_are_as_tall_as_their_values_on_one_baseline() -> None:
    svg = plots.bar_chart("每小时到达人数", ["08:00", "09:00", "10:00"], [2, 8, 0],
                          y_label="人数")
    bars = valued(parse(svg), "rect")
    assert [b.get("data-value") for b in bars] == ["2", "8", "0"]
    heights = [float(b.get("height", "")) for b in bars]
    assert heights[1] == pytest.approx(4 * heights[0]) and heights[2] == 0
    bottoms = {round(float(b.get("y", "")) + float(b.get("height", "")), 2) for b in bars}
    assert len(bottoms) == 1  # all stand on the x axis
    xs = [float(b.get("x", "")) for b in bars]
    assert xs == sorted(xs)  # in the categories' order


def test_grouped_bars_side_by_side_with_a_legend_naming_each_series() -> None:
    svg = plots.grouped_bars("到达", ["09:00", "10:00"],
                             [plots.Series("企业设立登记", [3, 1]),
                              plots.Series("发票领用", [1, None])])
    root = parse(svg)
    bars = valued(root, "rect")
    got = {(b.get("data-series"), b.get("data-category")): float(b.get("height", "")) for b in bars}
    assert set(got) == {("企业设立登记", "09:00"), ("企业设立登记", "10:00"), ("发票领用", "09:00")}
    assert got[("企业设立登记", "09:00")] == pytest.approx(3 * got[("发票领用", "09:00")])
    legend = next(g for g in root.iter(f"{NS}g") if g.get("class") == "legend")
    assert texts(legend) == ["企业设立登记", "发票领用"]
    fills = {b.get("data-series"): b.get("fill") for b in bars}
    assert fills["企业设立登记"] != fills["发票领用"]


def test_a_fixed_scale_shows_shares_as_percent() -> None:
    root = parse(plots.bar_chart("窗口利用率", ["1号窗口", "2号窗口"], [0.5, 0.25], y_max=1.0,
                                 fmt=plots.percent))
    assert {"0%", "20%", "40%", "100%"} <= set(texts(root))
    a, b = (float(x.get("height", "")) for x in valued(root, "rect"))
    assert a == pytest.approx(2 * b)


def test_lines_put_points_at_their_values_and_break_where_one_is_missing() -> None:
    svg = plots.line_chart("平均等候时间", ["08:00", "09:00", "10:00", "11:00"],
                           [plots.Series("A", [10, 20, None, 5])], y_max=20)
    root = parse(svg)
    dots = valued(root, "circle")
    assert [d.get("data-value") for d in dots] == ["10", "20", "5"]
    ys = [float(d.get("cy", "")) for d in dots]
    base = float(next(e for e in root.iter(f"{NS}line") if e.get("stroke") == "#5b6b7c")
                 .get("y1", ""))
    assert base - ys[0] == pytest.approx((base - ys[1]) / 2)
    lines = list(root.iter(f"{NS}polyline"))
    assert len(lines) == 1 and len(lines[0].get("points", "").split()) == 2  # 08–09 only


def test_every_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & 税务'
    svg = plots.grouped_bars(evil, [evil], [plots.Series(evil, [1])], y_label=evil,
                             x_label=evil)
    root = parse(svg)
    assert "<script>" not in svg and not list(root.iter(f"{NS}script"))
    assert root.get("aria-label") == evil
    assert texts(root).count(evil) >= 4  # title, legend, category, axis labels
    bar = valued(root, "rect")[0]
    assert bar.get("data-series") == evil and bar.get("data-category") == evil


def test_nothing_to_show_says_so() -> None:
    root = parse(plots.line_chart("平均等候时间", ["09:00"], [plots.Series("A", [None])]))
    assert "无数据" in texts(root)
    root = parse(plots.grouped_bars("到达", [], []))
    assert "无数据" in texts(root) and not valued(root, "rect")


def test_a_long_legend_wraps_and_the_plot_makes_room_for_it() -> None:
    series = [plots.Series(f"第{i}项业务名称很长", [i]) for i in range(1, 9)]
    root = parse(plots.grouped_bars("到达", ["09:00"], series))
    legend = next(g for g in root.iter(f"{NS}g") if g.get("class") == "legend")
    rows = {float(r.get("y", "")) for r in legend.iter(f"{NS}rect")}
    assert len(rows) > 1
    xs = [float(r.get("x", "")) for r in legend.iter(f"{NS}rect")]
    assert max(xs) < 640
    tallest = max(valued(root, "rect"), key=lambda b: float(b.get("height", "")))
    assert float(tallest.get("y", "")) > max(rows) + 12  # below the legend


def test_a_reference_line_is_dashed_and_has_no_points() -> None:
    root = parse(plots.line_chart("平均等候时间", ["09:00", "10:00"],
                                  [plots.Series("企业设立登记", [12, 30]),
                                   plots.Series("目标 15 分钟", [15, 15], dashed=True)]))
    lines = {p.get("data-series"): p for p in root.iter(f"{NS}polyline")}
    assert lines["目标 15 分钟"].get("stroke-dasharray") and \
        not lines["企业设立登记"].get("stroke-dasharray")
    assert {d.get("data-series") for d in valued(root, "circle")} == {"企业设立登记"}


@pytest.mark.parametrize(("high", "ticks"), [
    (1, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (12, [0, 5, 10, 15]),
])
def test_counts_have_whole_ticks(high: int, ticks: list[int]) -> None:
    assert plots.nice_ticks(high, integers=True) == ticks


def test_a_lone_bar_is_a_bar_not_a_wall_and_stays_centred() -> None:
    root = parse(plots.bar_chart("各窗口按时办结率", ["1号窗口"], [1.0], y_max=1.0))
    (bar,) = valued(root, "rect")
    width, x = float(bar.get("width", "")), float(bar.get("x", ""))
    frame = plots.Frame()
    assert width <= 56
    assert x + width / 2 == pytest.approx(frame.left + frame.plot_w / 2)
