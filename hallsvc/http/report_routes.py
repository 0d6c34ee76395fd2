"""The report API (issue 7 point 4), on the same Registry as the rest, all
behind READ_REPORTS: ticket arrivals and waits per service and hour, window
utilisation, ratings per window and clerk (H8), clerk scores with their
deductions (H5); each as JSON, as CSV and as an SVG chart; the case
report's chart (C9; its JSON and CSV are in case_routes).

Every report takes the same period: `from` and `to`, local dates of the
hall, both included (default: today). A period that ends before it starts,
a malformed date or one longer than 92 days is a 400 naming the field."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hallsvc.auth import Right
from hallsvc.cases.reports import Reports
from hallsvc.devicebus.reports import rating_stats
from hallsvc.devices.attendance import Finding
from hallsvc.devices.ratings import Level
from hallsvc.hours import WorkingDays, service_day
from hallsvc.http import report_schemas as rs
from hallsvc.http.api import Call
from hallsvc.http.routes import api
from hallsvc.web import follow_ups as fu
from hallsvc.web import plots, report_csv
from hallsvc.web import report_math as rm
from hallsvc.web.report_store import ReportStore

if TYPE_CHECKING:
    from hallsvc.http.app import Hall

_TAG = "reports"
_SVG = "image/svg+xml"
_LEVEL_COLORS = ("#c62828", "#e07b00", "#b59a00", "#7cb342", "#1a7f37")


def _period(hall: Hall, call: Call) -> rm.Period:
    q: rs.ReportPeriod = call.query
    return rm.period(q.start, q.end, service_day(call.now, hall.cfg.zone))


def _store(hall: Hall) -> ReportStore:
    return ReportStore(hall.db, hall.cfg.hall.id, hall.cfg.zone.key)


def _working_days(hall: Hall) -> WorkingDays:
    return WorkingDays.of(hall.cfg.hours.local_closures)


def _clerk_name(hall: Hall, user: str) -> str:
    u = hall.cfg.user_by_name.get(user)
    return (u.display_name or u.name) if u else user


def _window_name(hall: Hall, window: str) -> str:
    w = hall.cfg.window_by_id.get(window)
    return w.name if w else window


def _file(hall: Hall, p: rm.Period, kind: str, body: str, media: str) -> web.Response:
    ext = "csv" if media == "text/csv" else "svg"
    name = f"{kind}-{hall.cfg.hall.id}-{p.first}-{p.last}.{ext}"
    headers = {"Cache-Control": "no-store"}
    if ext == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.Response(text=body, content_type=media, charset="utf-8", headers=headers)


def _op(path: str, summary: str, **kw: Any) -> Callable[[Any], Any]:
    kw.setdefault("query", rs.ReportPeriod)
    return api.op("GET", f"/api/v1/reports/{path}", summary=summary, tag=_TAG,
                  right=Right.READ_REPORTS, **kw)


# -- tickets: arrivals, waits, utilisation ------------------------------------------------

def _waits(name: str, s: rm.ServiceHours) -> rs.ServiceWaits:
    return rs.ServiceWaits(
        service=s.service, name=name, arrivals=s.total.arrivals, called=s.total.called,
        mean_wait_minutes=s.total.mean_minutes, p95_wait_minutes=s.total.p95_minutes,
        hourly=[rs.HourlyWaits(hour=h, arrivals=w.arrivals, called=w.called,
                               mean_wait_minutes=w.mean_minutes, p95_wait_minutes=w.p95_minutes)
                for h, w in s.hourly.items()])


async def _ticket_report(hall: Hall, p: rm.Period, now: datetime) -> rs.TicketReport:
    cfg, store = hall.cfg, _store(hall)
    arrivals, servings = await store.tickets(p)
    hours = rm.shown_hours(cfg.sessions, {a.hour for a in arrivals})
    services = [s for s in rm.arrivals_by_hour(arrivals, [s.code for s in cfg.services], hours)
                if s.total.arrivals]
    opened = rm.open_time(p, cfg.sessions, cfg.zone, now, _working_days(hall),
                          {s.start.astimezone(cfg.zone).date() for s in servings})
    used = rm.utilisation(servings, [w.id for w in cfg.windows], opened, now)

    def service_name(code: str) -> str:
        s = cfg.service_by_code.get(code)
        return s.name if s else code

    return rs.TicketReport(
        hall=cfg.hall.id, start=p.first, end=p.last, open_days=list(opened.days),
        provisional=opened.provisional,
        target_wait_minutes=cfg.thresholds.wait_target_minutes,  # Q9, the hall file's
        hours=hours, services=[_waits(service_name(s.service), s) for s in services],
        hall_total=_waits("全部业务", rm.all_services(arrivals, hours)),
        windows=[rs.WindowUtilisation(
            window=u.window, name=_window_name(hall, u.window),
            department=(w.department if (w := cfg.window_by_id.get(u.window)) else None),
            calls=u.calls, served=u.served, open_minutes=u.open_minutes,
            serving_minutes=u.serving_minutes, after_hours_minutes=u.after_hours_minutes,
            utilisation=u.utilisation) for u in used])


# The reports page asks for the ticket report four times at once (its JSON
# and three charts): requests for the same hall, period and second share one
# reading while it runs (nothing is kept once it is done).
_running: dict[tuple[int, date, date, datetime], asyncio.Task[rs.TicketReport]] = {}


async def ticket_report(hall: Hall, p: rm.Period, call: Call) -> rs.TicketReport:
    key = (id(hall), p.first, p.last, call.now.replace(microsecond=0))
    task = _running.get(key)
    if task is None:
        task = asyncio.create_task(_ticket_report(hall, p, call.now),
                                   name=f"ticket-report-{p.first}-{p.last}")
        _running[key] = task
        task.add_done_callback(lambda t: _done(key, t))
    return await asyncio.shield(task)  # one caller gone does not cancel the others'


def _done(key: tuple[int, date, date, datetime], task: asyncio.Task[rs.TicketReport]) -> None:
    _running.pop(key, None)
    if not task.cancelled():
        task.exception()  # seen by its callers; marked retrieved if they all left


@_op("tickets", "Arrivals and waits (mean, p95) per service and hour; window utilisation",
     response=rs.TicketReport)
async def tickets_report(hall: Hall, call: Call) -> rs.TicketReport:
    return await ticket_report(hall, _period(hall, call), call)


@_op("arrivals.csv", "Arrivals and waits per service and hour, as CSV", produces="text/csv")
async def arrivals_csv(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    return _file(hall, p, "arrivals", report_csv.arrivals(await ticket_report(hall, p, call)),
                 "text/csv")


@_op("utilisation.csv", "Window utilisation, as CSV", produces="text/csv")
async def utilisation_csv(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    return _file(hall, p, "utilisation",
                 report_csv.utilisation(await ticket_report(hall, p, call)), "text/csv")


def _hour_labels(r: rs.TicketReport) -> list[str]:
    return [f"{h:02d}:00" for h in r.hours]


@_op("arrivals.svg", "Chart: arrivals per hour, one bar per service", produces=_SVG)
async def arrivals_svg(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    r = await ticket_report(hall, p, call)
    # a longer period adds its days up, hour by hour: say so
    title = "每小时到达人数" if p.days == 1 else f"各时段到达人数 ({p.days} 天合计)"
    svg = plots.grouped_bars(
        title, _hour_labels(r),
        [plots.Series(s.name, [h.arrivals for h in s.hourly]) for s in r.services],
        y_label="人数", x_label="取号时段", integers=True)
    return _file(hall, p, "arrivals", svg, _SVG)


@_op("waits.svg", "Chart: mean wait per hour of arrival, per service, against the target",
     produces=_SVG)
async def waits_svg(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    r = await ticket_report(hall, p, call)
    series = [plots.Series(s.name, [h.mean_wait_minutes for h in s.hourly]) for s in r.services]
    if series:  # Q9: the local target, for comparison
        series.append(plots.Series(f"目标 {r.target_wait_minutes} 分钟",
                                   [r.target_wait_minutes] * len(r.hours), color="#c62828",
                                   dashed=True))
    svg = plots.line_chart("平均等候时间", _hour_labels(r), series, y_label="分钟",
                           x_label="取号时段")
    return _file(hall, p, "waits", svg, _SVG)


@_op("utilisation.svg", "Chart: each window's utilisation", produces=_SVG)
async def utilisation_svg(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    r = await ticket_report(hall, p, call)
    svg = plots.bar_chart("窗口利用率", [w.name for w in r.windows],
                          [w.utilisation for w in r.windows], name="利用率",
                          y_label="办理时间 / 开放时间", y_max=1.0, fmt=plots.percent)
    return _file(hall, p, "utilisation", svg, _SVG)


# -- ratings (H8) ------------------------------------------------------------------------

async def ratings_report(hall: Hall, p: rm.Period, now: datetime) -> rs.RatingsReport:
    rows = await _store(hall).ratings(p)
    today = service_day(now, hall.cfg.zone)

    def stats(key: str, name: Callable[[Hall, str], str]) -> list[rs.RatingRow]:
        return [rs.RatingRow(key=s.key, name=name(hall, s.key), count=s.count,
                             by_level=list(s.by_level), average=s.average, negative=s.negative)
                for s in rating_stats(rows, key)]

    return rs.RatingsReport(hall=hall.cfg.hall.id, start=p.first, end=p.last, count=len(rows),
                            levels=[lv.label for lv in Level],
                            windows=stats("window_id", _window_name),
                            clerks=stats("clerk", _clerk_name),
                            **_follow_ups(hall, rows, today))


def _follow_ups(hall: Hall, rows: Sequence[Any], today: date) -> dict[str, Any]:
    """H8a: the follow-ups of the period's negative ratings, soonest due first."""
    out = []
    for r in sorted((r for r in rows if r["follow_up"]), key=lambda r: (r["due"], r["at"])):
        state = fu.state_of(r["due"], r["closed_at"], today)
        out.append(rs.FollowUpRow(
            ticket=r["ticket"], service_day=r["service_day"], window=r["window_id"],
            window_name=_window_name(hall, r["window_id"]), clerk=r["clerk"],
            clerk_name=_clerk_name(hall, r["clerk"]), level=r["level"],
            level_name=Level(r["level"]).label, rated_at=r["at"], due=r["due"],
            provisional=r["provisional"], steps=list(r["steps"]), state=state.value,
            overdue=state is fu.State.OVERDUE))
    return {"follow_ups": out,
            "follow_ups_open": sum(f.state != fu.State.CLOSED for f in out),
            "follow_ups_overdue": sum(f.overdue for f in out)}


@_op("ratings", "Ratings per window and clerk, by level (H8)", response=rs.RatingsReport)
async def ratings(hall: Hall, call: Call) -> rs.RatingsReport:
    return await ratings_report(hall, _period(hall, call), call.now)


@_op("ratings.csv", "Ratings per window or clerk, as CSV (H8)", query=rs.RatingsByQuery,
     produces="text/csv")
async def ratings_csv(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    by = call.query.by
    r = await ratings_report(hall, p, call.now)
    return _file(hall, p, f"ratings-{by}", report_csv.ratings(r, by), "text/csv")


@_op("ratings.svg", "Chart: ratings per window or clerk, one bar per level (H8)",
     query=rs.RatingsByQuery, produces=_SVG)
async def ratings_svg(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    by = call.query.by
    r = await ratings_report(hall, p, call.now)
    rows = r.windows if by == "window" else r.clerks
    series = [plots.Series(label, [x.by_level[i] for x in rows], _LEVEL_COLORS[i])
              for i, label in enumerate(r.levels)][::-1]  # 非常满意 first
    svg = plots.grouped_bars("各窗口评价" if by == "window" else "各工作人员评价",
                             [x.name for x in rows], series, y_label="评价次数",
                             integers=True)
    return _file(hall, p, f"ratings-{by}", svg, _SVG)


# -- clerk scores (H4, H5) ---------------------------------------------------------------

def _deduction(d: Any) -> rs.ScoreDeduction:
    e = d.evidence
    taps = e.taps if isinstance(e, Finding) else ()
    return rs.ScoreDeduction(
        section=d.section, points=float(d.points), why=d.why, kind=e.kind.value, at=d.at,
        minutes=round(e.minutes, 1) if e.minutes else None,
        taps=[rs.ScoreTap(direction=t.direction, at=t.at, device=t.device) for t in taps])


async def score_report(hall: Hall, p: rm.Period, call: Call) -> rs.ScoreReport:
    taps = await _store(hall).taps(*p.bounds(hall.cfg.zone))
    ps = rm.period_scores(hall.cfg, p, taps, call.now, _working_days(hall))
    clerks = []
    for staff, sc in ps.scores.items():
        clerks.append(rs.ClerkScore(
            staff=staff, name=_clerk_name(hall, staff), points=float(sc.points),
            attendance_deducted=float(sc.by_section["attendance"]),
            service_deducted=float(sc.by_section["service"]), capped=sorted(sc.capped),
            deductions=[_deduction(d) for d in sc.deductions]))
    return rs.ScoreReport(hall=hall.cfg.hall.id, start=p.first, end=p.last,
                          working_days=ps.working_days, provisional=ps.provisional,
                          in_progress=ps.in_progress, clerks=clerks)


@_op("scores", "Each clerk's points for the period with every deduction and the taps "
     "behind it (H4, H5)", response=rs.ScoreReport)
async def scores(hall: Hall, call: Call) -> rs.ScoreReport:
    return await score_report(hall, _period(hall, call), call)


@_op("scores.csv", "Clerk scores, or one row per deduction, as CSV (H5)",
     query=rs.ScoresByQuery, produces="text/csv")
async def scores_csv(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    by = call.query.by
    return _file(hall, p, f"scores-{by}",
                 report_csv.scores(await score_report(hall, p, call), by), "text/csv")


@_op("scores.svg", "Chart: each clerk's deductions by section (H5)", produces=_SVG)
async def scores_svg(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    r = await score_report(hall, p, call)
    svg = plots.grouped_bars(
        "考核扣分", [c.name for c in r.clerks],
        [plots.Series("到岗情况", [c.attendance_deducted for c in r.clerks]),
         plots.Series("服务规范", [c.service_deducted for c in r.clerks], "#e07b00")],
        y_label="扣分")
    return _file(hall, p, "scores", svg, _SVG)


# -- cases (C9) --------------------------------------------------------------------------

@_op("cases.svg", "Chart: on-time rate per window or department (C9)", query=rs.CasesByQuery,
     produces=_SVG)
async def cases_svg(hall: Hall, call: Call) -> web.Response:
    p = _period(hall, call)
    by = call.query.by
    r = await Reports(hall.cfg, hall.db).cases(p.first, p.last)
    rates: Sequence[Any] = r.by[by]
    svg = plots.bar_chart("各窗口按时办结率" if by == "window" else "各部门按时办结率",
                          [x.name for x in rates], [x.rate for x in rates], name="按时办结率",
                          y_label="按时办结 / 办结", y_max=1.0, fmt=plots.percent)
    return _file(hall, p, f"cases-{by}", svg, _SVG)
