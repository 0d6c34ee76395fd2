"""C1: what a window accepts, and the checks each type of case brings. The
HTTP errors of the case verbs (a stable code, the field, the rule) are made
here too: 400 for a malformed request, 404 for an unknown name, 409 for the
wrong state, 422 for a value the rules refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hallsvc.cases.model import CaseRuleError, CaseType, TimeLimit
from hallsvc.errors import HallError

# C1 (000 art.14): a refusal tells the applicant their rights: administrative
# review within 60 days (行政复议法 art. 20), a lawsuit within 6 months
# (行政诉讼法 art. 46).
RIGHTS = ("如对本决定不服，可以自收到本通知之日起六十日内依法向本级人民政府或者上一级主管部门"
          "申请行政复议，或者自收到本通知之日起六个月内依法向人民法院提起行政诉讼。")
# Rule codes that say "not in this state" rather than "bad value".
_STATE_CODES = {"case_finished", "clock_not_started", "extension_after_deadline",
                "same_day_case_extended", "same_day_case_paused"}


def unprocessable(code: str, message: str, field: str | None = None) -> HallError:
    return HallError(422, code, message, field)


def rule_error(e: CaseRuleError) -> HallError:
    status = 409 if e.code in _STATE_CODES else 422
    return HallError(status, e.code, f"{e.message} ({e.rule})", e.field)


@dataclass(frozen=True, slots=True)
class Application:
    """C1: what a window accepts; the type decides which fields apply."""

    type: CaseType
    applicant: str
    service: str | None = None  # or the service of the ticket being served
    ticket: str | None = None
    phone: str | None = None
    subject: str = ""
    missing: tuple[str, ...] = ()  # 补办件: every missing item, told at once
    reasons: tuple[str, ...] = ()  # 退办件: the written reasons
    basis: str = ""  # 退办件: the policy basis
    departments: tuple[tuple[str, int | None], ...] = ()  # 联办件: (department, limit)


def check_refusal(reasons: Sequence[str], basis: str) -> None:
    """C1 (000 art.14): written reasons and the policy basis."""
    if not [r for r in reasons if r.strip()]:
        raise unprocessable("reasons_missing", "a refusal gives its reasons in writing",
                            "reasons")
    if not basis.strip():
        raise unprocessable("basis_missing", "a refusal names its policy basis", "basis")


def check_type_fields(app: Application) -> None:
    """C1: each type of case has its own facts, and only those."""
    given = {"missing": bool(app.missing), "reasons": bool(app.reasons or app.basis),
             "departments": bool(app.departments)}
    owner = {"missing": CaseType.INCOMPLETE, "reasons": CaseType.REJECTED,
             "departments": CaseType.JOINT}
    for name, present in given.items():
        if present and app.type is not owner[name]:
            raise unprocessable("field_not_for_type", f"a {app.type.label} has no {name}", name)
    if app.type is CaseType.INCOMPLETE and not [m for m in app.missing if m.strip()]:
        raise unprocessable("missing_items_required", "a 补办件's notice lists every missing "
                            "item at once (C1)", "missing")
    if app.type is CaseType.REJECTED:
        check_refusal(app.reasons, app.basis)
    if app.type is CaseType.JOINT:
        names = [d for d, _ in app.departments]
        if len(set(names)) < 2:
            raise unprocessable("departments_required", "a 联办件 needs two or more "
                                "departments (C1)", "departments")
        if len(set(names)) != len(names):
            raise unprocessable("department_twice", "a department is named twice",
                                "departments")


def part_limit(days: int | None, limit: TimeLimit | None, i: int) -> int:
    """C6: each department works within its limit, never past the case's."""
    assert limit is not None
    if days is None:
        return limit.promised
    if not 1 <= days <= limit.promised:
        raise unprocessable("limit_over_case", f"a department's limit is 1–{limit.promised} "
                            f"working days (the case's), not {days}",
                            f"departments[{i}].limit_days")
    return days

