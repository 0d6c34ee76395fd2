"""The printable documents of a case (C7; 003 6.6.4, appendices D–H): HTML
pages in Chinese, self-contained (no external resource), from the templates
in `templates/` (package data). Every value from the record is escaped."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from importlib import resources
from string import Template
from typing import Any

from hallsvc.cases.assess import Assessed
from hallsvc.cases.deadline import WorkingTime, supplement_notice_due
from hallsvc.cases.model import CaseType
from hallsvc.cases.record import CaseRecord
from hallsvc.config import HallConfig
from hallsvc.errors import conflict, not_found

DOCUMENTS = {
    "slip": "受理单",
    "promise": "承诺件通知书",
    "supplement": "补办件通知书",
    "rejection": "退办件通知书",
    "joint": "联办件通知书",
    "tracking": "审批跟踪表",
}
_TEMPLATES = {
    name: Template(resources.files("hallsvc.cases").joinpath("templates", f"{name}.html")
                   .read_text(encoding="utf-8"))
    for name in (*DOCUMENTS, "base")
}
EVENTS = {
    "accepted": "受理", "supplement_notice": "一次性告知补正材料", "rejected": "退办",
    "materials_complete": "材料补齐，开始计时", "suspended": "挂起／特别程序",
    "resumed": "恢复计时", "step_started": "环节开始", "step_ended": "环节完成",
    "deemed_consent": "视为同意", "extended": "延期", "finished": "办结",
    "result_ready": "短信通知领取", "collected": "结果已领取", "level": "预警等级变化",
}
STATES = {"waiting_materials": "待补正材料", "open": "办理中", "suspended": "挂起中",
          "finished": "已办结"}
LEVELS = {"green": "绿色（正常）", "yellow": "黄色（预警）", "red": "红色（超期）"}
PAUSES = {"suspension": "挂起", "hearing": "听证", "tender": "招标", "auction": "拍卖",
          "inspection": "检验", "testing": "检测", "quarantine": "检疫", "appraisal": "鉴定",
          "expert_review": "专家评审"}
OUTCOMES = {"approved": "准予", "refused": "不予批准", "forwarded": "已上报",
            "rejected": "退办", "consented": "同意", "deemed_consent": "视为同意",
            "done": "完成"}
PROVISIONAL = ("（该期限跨越国务院尚未公布节假日安排的年度，暂按周一至周五计算工作日，"
               "以公布的安排为准。）")


class Html(str):
    """Markup already escaped: substituted as it is."""


def _e(v: Any) -> str:
    return v if isinstance(v, Html) else html.escape("" if v is None else str(v))


def _fill(name: str, values: Mapping[str, Any]) -> str:
    return _TEMPLATES[name].substitute({k: _e(v) for k, v in values.items()})


def _rows(cells: Sequence[Sequence[Any]], empty: str, width: int) -> Html:
    if not cells:
        return Html(f'<tr><td colspan="{width}">{html.escape(empty)}</td></tr>')
    return Html("\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                          for row in cells))


def _items(items: Sequence[str]) -> Html:
    return Html("\n".join(f"<li>{html.escape(i)}</li>" for i in items))


class Documents:
    def __init__(self, cfg: HallConfig, wt: WorkingTime) -> None:
        self.cfg = cfg
        self.wt = wt

    def _when(self, t: datetime | None) -> str:
        return "" if t is None else f"{t.astimezone(self.cfg.zone):%Y年%m月%d日 %H:%M}"

    @staticmethod
    def _day(d: date) -> str:
        return f"{d:%Y年%m月%d日}"

    def render(self, name: str, rec: CaseRecord, looked: Assessed,
               events: Sequence[Mapping[str, Any]], now: datetime) -> str:
        if name not in DOCUMENTS:
            raise not_found("unknown_document", f'no document "{name}" (known: '
                            f'{", ".join(DOCUMENTS)})', "document")
        self._check_applies(name, rec, looked)
        w = self.cfg.window_by_id.get(rec.window)
        due = looked.after
        values: dict[str, Any] = {
            "applicant": rec.applicant, "phone": rec.phone or "", "number": rec.number,
            "service_name": rec.service_name, "service_code": rec.service_code,
            "subject": f"：{rec.subject}" if rec.subject else "", "department": rec.department,
            "type_label": rec.type.label, "window_name": w.name if w else rec.window,
            "clerk": self._person(rec.clerk), "accepted": self._when(rec.accepted_at),
            "statutory": rec.statutory_days or "", "promised": rec.promised_days or "",
            "limits": (f"{rec.statutory_days}／{rec.promised_days}个工作日"
                       if rec.promised_days else "当场（当日）办结"),
            "due": self._when(due.due_at) if due.due_at else "材料补齐后起算",
            "provisional": PROVISIONAL if due.provisional else "",
        }
        values.update(getattr(self, f"_{name}")(rec, looked, events))
        body = Html(_fill(name, values))
        return _fill("base", {"title": DOCUMENTS[name], "hall_name": self.cfg.hall.name,
                              "number": rec.number, "body": body,
                              "today": self._day(now.astimezone(self.cfg.zone).date())})

    @staticmethod
    def _check_applies(name: str, rec: CaseRecord, looked: Assessed) -> None:
        applies = {
            "promise": not rec.type.same_day and looked.after.due_at is not None,
            "supplement": rec.type is CaseType.INCOMPLETE,
            "rejection": rec.outcome in ("rejected", "refused"),
            "joint": rec.type is CaseType.JOINT,
        }.get(name, True)
        if not applies:
            raise conflict("document_not_for_case", f"a {DOCUMENTS[name]} is not given for "
                           f"case {rec.number} ({rec.type.label}, {rec.state})", "document")

    def _window(self, window: str | None) -> str:
        w = self.cfg.window_by_id.get(window or "")
        return w.name if w else (window or "")

    def _person(self, user: str | None) -> str:
        u = self.cfg.user_by_name.get(user or "")
        return (u.display_name or u.name) if u else (user or "系统")

    def _slip(self, rec: CaseRecord, looked: Assessed, events: Any) -> dict[str, Any]:
        return {}

    def _promise(self, rec: CaseRecord, looked: Assessed, events: Any) -> dict[str, Any]:
        return {}

    def _supplement(self, rec: CaseRecord, looked: Assessed, events: Any) -> dict[str, Any]:
        # C1 (000 art.14): at once, at the latest within 5 working days.
        due = supplement_notice_due(rec.clock(), self.wt)
        return {"missing": _items(rec.missing), "notice_due": self._day(due.day)}

    def _rejection(self, rec: CaseRecord, looked: Assessed, events: Any) -> dict[str, Any]:
        d = rec.decision or {}
        return {"decision": "决定不予受理" if rec.outcome == "rejected" else "决定不予批准",
                "reasons": _items(d.get("reasons", [])), "basis": d.get("basis", ""),
                "rights": d.get("rights", "")}

    def _joint(self, rec: CaseRecord, looked: Assessed, events: Any) -> dict[str, Any]:
        rows = []
        for s in rec.steps:
            if s.department is None:
                continue
            state = OUTCOMES.get(s.outcome or "", "办理中")
            if s.deemed:
                state += "（缺席默认）" if s.deemed == "absent" else "（超时默许）"
            rows.append([s.department, s.limit, self._when(s.end) if s.end else "", state])
        return {"departments": _rows(rows, "（无）", 4)}

    def _tracking(self, rec: CaseRecord, looked: Assessed,
                  events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        ev = [[self._when(e["at"]), EVENTS.get(e["kind"], e["kind"]),
               self._window(e["window_id"]), self._person(e["actor"]), _detail(e["detail"])]
              for e in events]
        pauses = [[PAUSES[p.kind.value], p.reason, p.notice, self._when(p.start),
                   self._when(p.end) if p.end else "（未结束）",
                   f"{p.limit}个工作日" if p.limit else ""] for p in rec.pauses]
        ext = [[self._person(x.authorised_by), x.reason, self._day(x.new_due),
                x.working_days, self._when(x.granted_at)] for x in rec.extensions]
        finished = self._when(rec.finished_at) if rec.finished_at else "（未办结）"
        if rec.on_time is not None:
            finished += "，按时" if rec.on_time else "，超期"
        return {"state": STATES.get(rec.state, rec.state),
                "level": LEVELS[looked.after.level.value], "finished": finished,
                "events": _rows(ev, "（无）", 5), "pauses": _rows(pauses, "（无）", 6),
                "extensions": _rows(ext, "（无）", 5)}


_WORDS: dict[str, Mapping[str, str]] = {
    "type": {t.value: t.label for t in CaseType}, "kind": PAUSES, "outcome": OUTCOMES,
    "from": LEVELS, "to": LEVELS, "deemed": {"absent": "缺席默认", "timeout": "超时默许"},
}


def _detail(detail: Any) -> str:
    """A tracking-sheet line's particulars, in a few words."""
    if not detail:
        return ""
    if isinstance(detail, str):
        detail = json.loads(detail)
    parts = []
    for key in ("type", "kind", "reason", "notice", "name", "department", "outcome",
                "deemed", "new_due", "missing", "from", "to"):
        v = detail.get(key)
        if v:
            words = _WORDS.get(key, {})
            parts.append("、".join(map(str, v)) if isinstance(v, list)
                         else words.get(str(v), str(v)))
    return "；".join(parts)
