"""The HTTP API's operations. Handlers validate nothing by hand: the types in
`schemas.py` do; they call the queue service and shape its answer."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from hallsvc import auth
from hallsvc.adapters.postgres import TicketRow
from hallsvc.auth import Principal, Right
from hallsvc.config import Role
from hallsvc.errors import HallError, bad_request
from hallsvc.hours import service_day
from hallsvc.http import schemas as s
from hallsvc.http.api import Call, Registry
from hallsvc.queue.model import Channel, Priority

if TYPE_CHECKING:
    from hallsvc.http.app import Hall

api = Registry()
SESSION_HOURS = 12
_sms_encoder = msgspec.msgpack.Encoder()


def _ticket_fields(t: TicketRow) -> dict[str, Any]:
    return {"number": t.number, "service": t.service_code, "state": t.state,
            "priority": t.priority, "channel": t.channel, "service_day": t.service_day,
            "issued_at": t.issued_at, "window": t.window_id, "clerk": t.clerk,
            "recalls": t.recalls, "called_at": t.called_at, "finished_at": t.finished_at}


def ticket_view(t: TicketRow) -> s.TicketView:
    return s.TicketView(**_ticket_fields(t))


def _who(call: Call) -> Principal:
    assert call.who is not None
    return call.who


def _own_window(call: Call) -> tuple[str, str]:
    """A clerk acts on the window they are logged in to, and is named on it."""
    who = _who(call)
    window = call.path["window"]
    if who.window != window:
        raise HallError(403, "not_your_window",
                        f"you are logged in to {who.window or 'no window'}, not {window}")
    return window, who.user


# -- sessions --------------------------------------------------------------------

@api.op("POST", "/api/v1/login", summary="Log in (clerks name their window)", tag="sessions",
        body=s.LoginRequest, response=s.LoginResponse, status=201, errors=(401, 403, 404))
async def login(hall: Hall, call: Call) -> s.LoginResponse:
    body: s.LoginRequest = call.body
    user = hall.cfg.user_by_name.get(body.user)
    stored = user.password_hash if user else None
    # Verify even for an unknown user, so timing does not tell who exists.
    ok = await asyncio.to_thread(auth.verify_password, body.password,
                                 stored or auth.DUMMY_HASH)
    if user is None or stored is None or not ok:
        raise HallError(401, "bad_credentials", "unknown user or wrong password")
    window = body.window
    if user.role is Role.CLERK:
        if window is None:
            raise bad_request("window_required", "a clerk logs in to a window", "window")
        if window not in hall.cfg.window_by_id:
            raise HallError(404, "unknown_window", f'no window "{window}"', "window")
        if user.windows and window not in user.windows:
            raise HallError(403, "window_not_allowed",
                            f"{user.name} may not work at window {window}", "window")
    elif window is not None:
        raise bad_request("no_window_for_role", f"a {user.role} does not log in to a window",
                          "window")
    if window is not None:
        # H2 hand-over: the colleague who takes the window is the one named on
        # its actions from now on; the previous clerk's session there ends.
        for digest in await hall.db.end_window_sessions(hall.cfg.hall.id, window, call.now):
            hall.sessions.forget(digest)
    token = auth.new_token()
    digest = auth.token_digest(token)
    expires = call.now + timedelta(hours=SESSION_HOURS)
    await hall.db.create_session(token_sha256=digest, hall=hall.cfg.hall.id,
                                 user=user.name, role=user.role.value, window=window,
                                 at=call.now, expires=expires)
    hall.sessions.remember(digest, Principal(user.name, user.role, window))
    if window is not None:
        await hall.queue.login(window, user.name, call.now)
    return s.LoginResponse(token=token, user=user.name, role=user.role.value, window=window,
                           expires_at=expires)


@api.op("POST", "/api/v1/logout", summary="Log out (a clerk closes the window)",
        tag="sessions", status=204, right=Right.READ_QUEUE, errors=(409,))
async def logout(hall: Hall, call: Call) -> None:
    who = _who(call)
    if who.window is not None:
        await hall.queue.logout(who.window, who.user, call.now)
    await hall.sessions.end(call.request, call.now)


# -- catalogue and tickets -----------------------------------------------------------

@api.op("GET", "/api/v1/services", summary="The service catalogue (H10) with waiting counts",
        tag="tickets", response=s.Catalogue)
async def catalogue(hall: Hall, call: Call) -> s.Catalogue:
    counts = await hall.queue.waiting_counts(call.now)
    return s.Catalogue(hall=hall.cfg.hall.id, name=hall.cfg.hall.name,
                       timezone=hall.cfg.hall.timezone, services=[
        s.ServiceView(code=v.code, name=v.name, line=v.line, department=v.department,
                      statutory_days=v.statutory_days, promised_days=v.promised_days,
                      waiting=counts.get(v.code, 0), legal_basis=v.legal_basis,
                      procedure=v.procedure, conditions=v.conditions, materials=v.materials,
                      fees=v.fees, progress=v.progress)
        for v in hall.cfg.services])


@api.op("POST", "/api/v1/tickets", summary="Issue a ticket at a kiosk (Q1)", tag="tickets",
        body=s.IssueTicketRequest, response=s.TicketIssued, status=201,
        right=Right.ISSUE_TICKET, errors=(404, 409, 503))
async def issue_ticket(hall: Hall, call: Call) -> s.TicketIssued:
    body: s.IssueTicketRequest = call.body
    key = body.idempotency_key or call.request.headers.get("Idempotency-Key")
    if key is not None and not 8 <= len(key) <= 128:
        raise bad_request("validation_failed", "Idempotency-Key must be 8–128 characters",
                          "idempotency_key")
    issued = await hall.queue.issue(
        body.service, channel=Channel.KIOSK, now=call.now, priority=body.priority,
        idempotency_key=f"{_who(call).user}:{key}" if key else None)
    return s.TicketIssued(ticket=ticket_view(issued.ticket), ahead=issued.ahead,
                          estimated_wait_minutes=issued.estimated_wait_minutes,
                          replayed=issued.replay)


_CODE = re.compile(r"[A-Za-z0-9_-]+")


@api.op("POST", "/api/v1/sms/inbound", summary="SMS gateway webhook: take a ticket by SMS",
        tag="tickets", body=s.SmsInbound, response=s.SmsReply, right=Right.SMS_INBOUND,
        errors=(503,))
async def sms_inbound(hall: Hall, call: Call) -> s.SmsReply:
    """The text names a service code ("A01", or "取号 A01"); the reply goes out
    through the outbound SMS adapter and is also returned here."""
    body: s.SmsInbound = call.body
    codes = {c.upper(): c for c in hall.cfg.service_by_code}
    wanted = next((codes[w.upper()] for w in _CODE.findall(body.text) if w.upper() in codes),
                  None)
    number: str | None = None
    if wanted is None:
        menu = "；".join(f"{v.code} {v.name}" for v in hall.cfg.services)
        text = f"请回复业务代码取号：{menu}"
    else:
        try:
            issued = await hall.queue.issue(
                wanted, channel=Channel.SMS, now=call.now, phone=body.sender,
                idempotency_key=f"sms:{body.message_id}")
        except HallError as e:
            if e.status != 409:
                raise
            text = f"取号失败：{e.message}"
        else:
            number = issued.ticket.number
            text = hall.cfg.sms.reply_template.format(
                number=number, ahead=issued.ahead, wait=issued.estimated_wait_minutes,
                service=hall.cfg.service_by_code[wanted].name)
    await hall.db.enqueue_outbox(hall.cfg.hall.id, "sms", body.sender,
                                 _sms_encoder.encode({"to": body.sender, "text": text}))
    return s.SmsReply(to=body.sender, text=text, ticket=number)


@api.op("GET", "/api/v1/tickets/{number}",
        summary="A ticket of today, with its state and, while it waits, its place and "
                "estimated wait (Q1)",
        tag="tickets", response=s.TicketStanding, right=Right.READ_QUEUE, errors=(404,))
async def get_ticket(hall: Hall, call: Call) -> s.TicketStanding:
    st = await hall.queue.standing(call.path["number"], call.now)
    return s.TicketStanding(**_ticket_fields(st.ticket), ahead=st.ahead,
                            estimated_wait_minutes=st.estimated_wait_minutes)


@api.op("POST", "/api/v1/tickets/{number}/restore",
        summary="Restore a skipped ticket to its old place (Q5)", tag="tickets",
        response=s.TicketView, right=Right.RESTORE, errors=(404, 409))
async def restore(hall: Hall, call: Call) -> s.TicketView:
    return ticket_view(await hall.queue.restore(call.path["number"], _who(call).user, call.now))


# -- windows (Q5) ------------------------------------------------------------------

@api.op("POST", "/api/v1/windows/{window}/call-next", summary="Call the next ticket (Q3)",
        tag="windows", response=s.CallResult, right=Right.WINDOW_VERBS, errors=(409, 503))
async def call_next(hall: Hall, call: Call) -> s.CallResult:
    window, clerk = _own_window(call)
    called = await hall.queue.call_next(window, clerk, call.now)
    if called is None:
        return s.CallResult(ticket=None, message="nobody is waiting for this window")
    return s.CallResult(ticket=ticket_view(called.ticket), reason=called.reason)


@api.op("POST", "/api/v1/windows/{window}/recall",
        summary="Call the current ticket again (Q6); past the limit it becomes a no-show",
        tag="windows", response=s.TicketView, right=Right.WINDOW_VERBS, errors=(409,))
async def recall(hall: Hall, call: Call) -> s.TicketView:
    window, clerk = _own_window(call)
    return ticket_view(await hall.queue.recall(window, clerk, call.now))


@api.op("POST", "/api/v1/windows/{window}/skip", summary="Skip a no-show (过号)",
        tag="windows", response=s.TicketView, right=Right.WINDOW_VERBS, errors=(409,))
async def skip(hall: Hall, call: Call) -> s.TicketView:
    window, clerk = _own_window(call)
    return ticket_view(await hall.queue.skip(window, clerk, call.now))


@api.op("POST", "/api/v1/windows/{window}/finish", summary="Finish serving the current ticket",
        tag="windows", response=s.TicketView, right=Right.WINDOW_VERBS, errors=(409,))
async def finish(hall: Hall, call: Call) -> s.TicketView:
    window, clerk = _own_window(call)
    return ticket_view(await hall.queue.finish(window, clerk, call.now))


@api.op("POST", "/api/v1/windows/{window}/transfer",
        summary="Pass the current ticket to another service or window (首问负责)",
        tag="windows", body=s.TransferRequest, response=s.TicketView,
        right=Right.WINDOW_VERBS, errors=(404, 409))
async def transfer(hall: Hall, call: Call) -> s.TicketView:
    window, clerk = _own_window(call)
    body: s.TransferRequest = call.body
    return ticket_view(await hall.queue.transfer(window, clerk, call.now,
                                                 to_service=body.to_service,
                                                 to_window=body.to_window))


@api.op("POST", "/api/v1/windows/{window}/pause", summary="Pause the window (暂停服务)",
        tag="windows", response=s.WindowStatus, right=Right.WINDOW_VERBS, errors=(409,))
async def pause(hall: Hall, call: Call) -> s.WindowStatus:
    window, clerk = _own_window(call)
    await hall.queue.pause(window, clerk, call.now)
    return await window_status(hall, window, call)


@api.op("POST", "/api/v1/windows/{window}/resume", summary="Resume the window",
        tag="windows", response=s.WindowStatus, right=Right.WINDOW_VERBS, errors=(409,))
async def resume(hall: Hall, call: Call) -> s.WindowStatus:
    window, clerk = _own_window(call)
    await hall.queue.resume(window, clerk, call.now)
    return await window_status(hall, window, call)


@api.op("GET", "/api/v1/windows/{window}", summary="A window's state and waiting count",
        tag="windows", response=s.WindowStatus, right=Right.READ_QUEUE, errors=(404,))
async def get_window(hall: Hall, call: Call) -> s.WindowStatus:
    return await window_status(hall, call.path["window"], call)


async def window_status(hall: Hall, window: str, call: Call) -> s.WindowStatus:
    state, clerk, serving, waiting = await hall.queue.window_status(window, call.now)
    w = hall.cfg.window_by_id[window]
    return s.WindowStatus(window=w.id, name=w.name, kind=w.kind.value, state=state,
                          clerk=clerk, serving=serving, waiting=waiting)


# -- hall ------------------------------------------------------------------------

@api.op("GET", "/api/v1/queues", summary="Waiting count per service", tag="hall",
        response=list[s.QueueStatus], right=Right.READ_QUEUE)
async def queues(hall: Hall, call: Call) -> list[s.QueueStatus]:
    counts = await hall.queue.waiting_counts(call.now)
    return [s.QueueStatus(service=v.code, name=v.name, waiting=counts.get(v.code, 0),
                          windows=[w.id for w in hall.cfg.windows_serving(v.code)])
            for v in hall.cfg.services]


@api.op("GET", "/api/v1/hall", summary="The hall at a glance: windows, queues, today's tickets",
        tag="hall", response=s.HallSnapshot, right=Right.READ_HALL)
async def snapshot(hall: Hall, call: Call) -> s.HallSnapshot:
    day = service_day(call.now, hall.cfg.zone)
    windows = [await window_status(hall, w.id, call) for w in hall.cfg.windows]
    return s.HallSnapshot(hall=hall.cfg.hall.id, name=hall.cfg.hall.name, at=call.now,
                          service_day=day, windows=windows, queues=await queues(hall, call),
                          tickets_today=await hall.db.count_by_state(hall.cfg.hall.id, day))


@api.op("GET", "/healthz", summary="Liveness: the process answers", tag="hall",
        response=s.Health)
async def healthz(hall: Hall, call: Call) -> s.Health:
    return s.Health(status="ok")


__all__ = ["Priority", "api"]
