"""Assessment points (H5, 考核): each clerk starts a period at 100 points and
loses points for what attendance found (H4) and for incidents; the report
shows every deduction with the events behind it. Pure.

The numbers are 004 篇一 六:
- (一) 到岗情况, 20 points: late or early 0.2 each time (1); a missed clock-in
  0.2 (2) (a missed clock-out is counted the same: H4's "missed clock-in" is
  any missed tap); absent without a written leave note 0.5 (3); 无故脱岗 found
  by the manager 1 point (4); 脱岗 of 30–60 minutes 0.1 each time and half a
  day absent (60 minutes or more) 0.5 (4). "考勤扣分不封顶以此项分封顶": the
  section's deductions stop at its 20 points.
  The seed gives 脱岗 two numbers ("无故脱岗扣1分/人次(脱岗30—60分钟,扣0.1分/次)");
  we read the 0.1 as the one for a 30–60 minute absence seen at the readers
  and the 1 point as the one for a manager's finding of an unexcused absence.
  A hall that reads it otherwise sets `points[Kind.AWAY]`.
- (二) 服务规范, 30 points: leaving an applicant unattended 1 point, 2 when
  10 minutes or longer, 3 when complained about (4). We stop the section at
  its 30 points too (the seed says so for (一) only; configurable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from hallsvc.devices.attendance import Finding, Kind

Section = Literal["attendance", "service"]


class IncidentKind(StrEnum):
    UNATTENDED = "unattended"  # 将办事群众置于一边不管
    UNEXCUSED_AWAY = "unexcused_away"  # 无故脱岗, found by the manager
    NO_LEAVE_NOTE = "no_leave_note"  # 无特殊情况无书面假条


@dataclass(frozen=True, slots=True)
class Incident:
    staff: str
    at: datetime
    kind: IncidentKind
    minutes: float = 0.0  # how long the applicant was left unattended
    complained: bool = False
    ref: str = ""  # the ticket, complaint or inspection it comes from



@dataclass(frozen=True, slots=True)
class ScoringRules:
    start: Decimal = Decimal("100")
    points: Mapping[Kind, Decimal] = field(default_factory=lambda: {
        Kind.LATE: Decimal("0.2"), Kind.EARLY: Decimal("0.2"), Kind.MISSED_CLOCK_IN: Decimal("0.2"),
        Kind.MISSED_CLOCK_OUT: Decimal("0.2"), Kind.AWAY: Decimal("0.1"),
        Kind.ABSENT_HALF_DAY: Decimal("0.5")})
    unexcused_away: Decimal = Decimal("1")
    no_leave_note: Decimal = Decimal("0.5")
    unattended: Decimal = Decimal("1")
    unattended_long: Decimal = Decimal("2")
    unattended_long_from: timedelta = timedelta(minutes=10)
    unattended_complained: Decimal = Decimal("3")
    caps: Mapping[Section, Decimal] = field(default_factory=lambda: {
        "attendance": Decimal("20"), "service": Decimal("30")})


@dataclass(frozen=True, slots=True)
class Deduction:
    staff: str
    section: Section
    points: Decimal
    why: str  # in the hall's words
    at: datetime
    evidence: Finding | Incident


@dataclass(frozen=True, slots=True)
class Score:
    staff: str
    points: Decimal
    deductions: tuple[Deduction, ...]  # every one, in time order, before the caps
    by_section: Mapping[Section, Decimal]  # after the caps
    capped: frozenset[Section]


_WHY = {Kind.LATE: "迟到", Kind.EARLY: "早退", Kind.AWAY: "脱岗30—60分钟",
        Kind.ABSENT_HALF_DAY: "旷工半天", Kind.MISSED_CLOCK_IN: "未按时签到",
        Kind.MISSED_CLOCK_OUT: "未按时签退"}


def deduction_for_finding(f: Finding, rules: ScoringRules) -> Deduction:
    why = f"{_WHY[f.kind]} ({f.day.isoformat()} 第{f.session + 1}时段, {f.minutes:.0f}分钟)"
    return Deduction(f.staff, "attendance", rules.points[f.kind], why, f.start, f)


def deduction_for_incident(i: Incident, rules: ScoringRules) -> Deduction:
    if i.kind is IncidentKind.UNEXCUSED_AWAY:
        return Deduction(i.staff, "attendance", rules.unexcused_away, "无故脱岗", i.at, i)
    if i.kind is IncidentKind.NO_LEAVE_NOTE:
        return Deduction(i.staff, "attendance", rules.no_leave_note, "无书面假条", i.at, i)
    if i.complained:
        return Deduction(i.staff, "service", rules.unattended_complained,
                         "将办事群众置于一边不管, 被投诉", i.at, i)
    if i.minutes * 60 >= rules.unattended_long_from.total_seconds():
        return Deduction(i.staff, "service", rules.unattended_long,
                         f"长时间({i.minutes:.0f}分钟)不管办事群众", i.at, i)
    return Deduction(i.staff, "service", rules.unattended, "将办事群众置于一边不管", i.at, i)


def score(staff: str, findings: Iterable[Finding], incidents: Iterable[Incident] = (),
          rules: ScoringRules = ScoringRules()) -> Score:
    """H5: the clerk's points for a period, from that period's findings and
    incidents (other clerks' are ignored)."""
    deductions = [deduction_for_finding(f, rules) for f in findings if f.staff == staff]
    deductions += [deduction_for_incident(i, rules) for i in incidents if i.staff == staff]
    deductions.sort(key=lambda d: d.at)
    by_section: dict[Section, Decimal] = {"attendance": Decimal("0"), "service": Decimal("0")}
    for d in deductions:
        by_section[d.section] += d.points
    capped: set[Section] = set()
    for section, total in by_section.items():
        cap = rules.caps.get(section)
        if cap is not None and total > cap:
            by_section[section] = cap
            capped.add(section)
    return Score(staff, rules.start - sum(by_section.values(), Decimal("0")), tuple(deductions),
                 by_section, frozenset(capped))
