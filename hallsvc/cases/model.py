"""The timing facts of a case: plain values that check themselves, no I/O
(C1, C2, C3, C3a, C4). The arithmetic over them is in `deadline.py`, the
warning levels in `levels.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class CaseRuleError(ValueError):
    """A case fact that breaks a rule: a stable `code` for the API, the domain
    `rule` it breaks (C2, C3a …) and the `field` at fault."""

    def __init__(self, code: str, message: str, *, rule: str, field: str | None = None) -> None:
        super().__init__(f"{message} ({rule})")
        self.code = code
        self.rule = rule
        self.field = field
        self.message = message


def _aware(t: datetime | None, field: str) -> None:
    if t is not None and t.utcoffset() is None:
        raise CaseRuleError("naive_datetime", f"{field} must carry its time zone", rule="C3",
                            field=field)


def _said(text: str, field: str, rule: str) -> None:
    if not text.strip():
        raise CaseRuleError(f"{field}_missing", f"{field} must be given", rule=rule, field=field)


class CaseType(StrEnum):
    """C1: the seven types of case (办件分类)."""

    IMMEDIATE = "immediate"  # 即办件: finished on the spot or the same day
    PROMISED = "promised"  # 承诺件: a promised completion date
    JOINT = "joint"  # 联办件: two or more departments
    FORWARDED = "forwarded"  # 上报件: decided higher up; the local part within the promise
    REJECTED = "rejected"  # 退办件: written reasons, the right to review or sue
    INCOMPLETE = "incomplete"  # 补办件: materials missing; the clock waits for them (C3)
    URGENT = "urgent"  # 急办件: first, fastest

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def same_day(self) -> bool:
        """C2: 即办件 are due the same calendar day; a rejection is said at once."""
        return self in (CaseType.IMMEDIATE, CaseType.REJECTED)


_LABELS = {
    CaseType.IMMEDIATE: "即办件", CaseType.PROMISED: "承诺件", CaseType.JOINT: "联办件",
    CaseType.FORWARDED: "上报件", CaseType.REJECTED: "退办件", CaseType.INCOMPLETE: "补办件",
    CaseType.URGENT: "急办件",
}


class PauseKind(StrEnum):
    """C3a: what stops the clock: a suspension (挂起) or one of the special
    procedures of 行政许可法 art. 45, whose time is not counted in the limit."""

    SUSPENSION = "suspension"  # 挂起
    HEARING = "hearing"  # 听证
    TENDER = "tender"  # 招标
    AUCTION = "auction"  # 拍卖
    INSPECTION = "inspection"  # 检验
    TESTING = "testing"  # 检测
    QUARANTINE = "quarantine"  # 检疫
    APPRAISAL = "appraisal"  # 鉴定
    EXPERT_REVIEW = "expert_review"  # 专家评审

    @property
    def special(self) -> bool:
        """C3a: a special procedure has its own limit and warns like a case."""
        return self is not PauseKind.SUSPENSION


# C2: where the law sets no limit (003 6.5.4), in working days.
DEFAULT_LIMIT_ONE_DEPARTMENT = 20
DEFAULT_LIMIT_SEVERAL_DEPARTMENTS = 45


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """C2: a service's statutory limit (法定时限) and its promised limit
    (承诺时限, never longer), in working days; C4: how far it may be extended.

    `law_extension`: the extension a specific law or regulation sets for this
    service (行政许可法 art. 42: 法律、法规另有规定的，依照其规定); when None,
    the cap of art. 42 applies, see `extension_cap`."""

    statutory: int
    promised: int
    joint: bool = False  # 联合办理: several departments (art. 42: 45 days, +15)
    law_extension: int | None = None

    def __post_init__(self) -> None:
        if self.statutory < 1:
            raise CaseRuleError("limit_not_positive", "a statutory limit is at least 1 working "
                                f"day, not {self.statutory}", rule="C2", field="statutory")
        if not 1 <= self.promised <= self.statutory:
            raise CaseRuleError("promised_over_statutory",
                                f"a promised limit is 1–{self.statutory} working days (the "
                                f"statutory limit), not {self.promised}", rule="C2",
                                field="promised")
        if self.law_extension is not None and self.law_extension < 0:
            raise CaseRuleError("extension_negative", "a legal extension is ≥ 0 working days",
                                rule="C4", field="law_extension")

    @classmethod
    def for_service(cls, *, statutory: int | None, promised: int | None,
                    departments: int = 1, law_extension: int | None = None) -> TimeLimit:
        """C2: where the law sets no limit, 20 working days for one
        department and 45 for several; the promise defaults to the limit."""
        if departments < 1:
            raise CaseRuleError("departments_missing", "a service has at least one department",
                                rule="C2", field="departments")
        if statutory is None:
            statutory = (DEFAULT_LIMIT_ONE_DEPARTMENT if departments == 1
                         else DEFAULT_LIMIT_SEVERAL_DEPARTMENTS)
        return cls(statutory, statutory if promised is None else promised,
                   joint=departments > 1, law_extension=law_extension)

    @property
    def extension_cap(self) -> int:
        """C4: the most working days all extensions of a case may add up to.
        行政许可法 art. 42 gives +10 on the general 20-day limit (one half) and
        +15 on the 45-day joint limit (one third); a statutory limit of
        another length gets the same share, rounded down, unless its own law
        sets the extension (`law_extension`)."""
        if self.law_extension is not None:
            return self.law_extension
        return self.statutory // 3 if self.joint else self.statutory // 2


@dataclass(frozen=True, slots=True)
class Suspension:
    """C3a: a suspension (挂起) or special procedure, recorded with its reason,
    start, end (None while open) and the written notice given. A special
    procedure has its own limit in working days; a plain suspension has none."""

    kind: PauseKind
    reason: str
    notice: str  # the written notice given to the applicant (its number or text)
    start: datetime
    end: datetime | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        _aware(self.start, "start")
        _aware(self.end, "end")
        _said(self.reason, "reason", "C3a")
        _said(self.notice, "notice", "C3a")
        if self.end is not None and self.end < self.start:
            raise CaseRuleError("suspension_ends_before_start",
                                f"the {self.kind.value} ends ({self.end.isoformat()}) before it "
                                f"starts ({self.start.isoformat()})", rule="C3a", field="end")
        if self.kind.special and (self.limit is None or self.limit < 1):
            raise CaseRuleError("procedure_limit_missing",
                                f"a special procedure ({self.kind.value}) has its own limit of "
                                f"at least 1 working day, not {self.limit}", rule="C3a",
                                field="limit")
        if not self.kind.special and self.limit is not None:
            raise CaseRuleError("suspension_has_limit", "a plain suspension has no limit of its "
                                "own; record a special procedure instead", rule="C3a",
                                field="limit")

    @property
    def open(self) -> bool:
        return self.end is None


@dataclass(frozen=True, slots=True)
class Extension:
    """C4: a lawful extension: who authorised it, why, the new date, and the
    working days it adds (counted from the due day when it was granted).
    Made by `deadline.grant_extension`, which checks the cap."""

    authorised_by: str
    reason: str
    new_due: date
    working_days: int
    granted_at: datetime

    def __post_init__(self) -> None:
        _said(self.authorised_by, "authorised_by", "C4")
        _said(self.reason, "reason", "C4")
        _aware(self.granted_at, "granted_at")
        if self.working_days < 1:
            raise CaseRuleError("extension_not_later", "an extension adds at least 1 working "
                                f"day, not {self.working_days}", rule="C4", field="new_due")


@dataclass(frozen=True, slots=True)
class Step:
    """C5, C7: one step of the case on the tracking sheet, with its own limit
    in working days from its start (a joint case's departments work in
    parallel steps, each within its limit)."""

    name: str
    start: datetime
    limit: int
    end: datetime | None = None

    def __post_init__(self) -> None:
        _said(self.name, "name", "C7")
        _aware(self.start, "start")
        _aware(self.end, "end")
        if self.limit < 1:
            raise CaseRuleError("limit_not_positive", f"a step's limit is at least 1 working "
                                f"day, not {self.limit}", rule="C5", field="limit")
        if self.end is not None and self.end < self.start:
            raise CaseRuleError("step_ends_before_start", f"step {self.name!r} ends before it "
                                "starts", rule="C7", field="end")

    def running_at(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass(frozen=True, slots=True)
class CaseClock:
    """The facts that decide a case's deadline and level: its type, when it
    was accepted, its limit, when the materials were complete (C3), its
    suspensions and special procedures (C3a, kept sorted by start), its
    extensions (C4), its steps, and when the decision was sealed (C3)."""

    type: CaseType
    accepted: datetime
    limit: TimeLimit | None = None  # None only for a same-day case (即办件, 退办件)
    materials_complete: datetime | None = None  # C3: the clock of a 补办件 starts here
    suspensions: tuple[Suspension, ...] = ()
    extensions: tuple[Extension, ...] = ()
    steps: tuple[Step, ...] = ()
    finished: datetime | None = None  # C3: the decision sealed (加盖审批专用章)

    def __post_init__(self) -> None:
        _aware(self.accepted, "accepted")
        _aware(self.materials_complete, "materials_complete")
        _aware(self.finished, "finished")
        if self.type.same_day:
            if self.suspensions or self.extensions:
                raise CaseRuleError("same_day_case_paused", f"a {self.type.label} is finished "
                                    "the same day: it is neither suspended nor extended",
                                    rule="C2", field="type")
        elif self.limit is None:
            raise CaseRuleError("limit_missing", f"a {self.type.label} needs a time limit",
                                rule="C2", field="limit")
        if self.materials_complete is not None and self.materials_complete < self.accepted:
            raise CaseRuleError("complete_before_accepted", "the materials cannot be complete "
                                "before the case is accepted", rule="C3",
                                field="materials_complete")
        if self.finished is not None and self.finished < self.accepted:
            raise CaseRuleError("finished_before_accepted", "a case cannot be finished before "
                                "it is accepted", rule="C3", field="finished")
        pauses = tuple(sorted(self.suspensions, key=lambda s: s.start))
        object.__setattr__(self, "suspensions", pauses)
        for s in pauses:
            if s.start < self.accepted:
                raise CaseRuleError("suspension_before_accepted", "a suspension cannot start "
                                    "before the case is accepted", rule="C3a", field="start")
            if self.finished is not None and (s.end is None or s.end > self.finished):
                raise CaseRuleError("suspension_after_finished", "a finished case has no open "
                                    "suspension", rule="C3a", field="end")
        for x in self.extensions:
            if x.granted_at < self.accepted:
                raise CaseRuleError("extension_before_accepted", "an extension cannot be "
                                    "granted before the case is accepted", rule="C4",
                                    field="granted_at")
        if self.limit is not None:
            total = sum(x.working_days for x in self.extensions)
            if total > self.limit.extension_cap:
                raise CaseRuleError("extension_over_cap", f"extensions of {total} working days "
                                    f"exceed the cap of {self.limit.extension_cap}", rule="C4",
                                    field="extensions")
        for step in self.steps:
            if step.start < self.accepted:
                raise CaseRuleError("step_before_accepted", "a step cannot start before the "
                                    "case is accepted", rule="C7", field="start")

    @property
    def clock_start(self) -> datetime | None:
        """C3: acceptance, or for a 补办件 the moment the materials were
        complete; None while a 补办件 still waits for them."""
        if self.materials_complete is not None:
            return self.materials_complete
        return None if self.type is CaseType.INCOMPLETE else self.accepted

    @property
    def extended(self) -> int:
        """C4: the working days all extensions add."""
        return sum(x.working_days for x in self.extensions)
