"""The hall file (TOML), parsed once into one immutable `HallConfig`.

Parsing happens in two passes, so that a bad file is reported whole:
1. shape: every table and array item is converted on its own with msgspec,
   so each broken item gives its own line (types, unknown keys, bad values);
2. meaning: cross references and hall rules (unknown service, letter used
   twice, proxy window without entrusted services, …).

Each problem is one line, `<file>: <key path>: <what is wrong>`, with
0-based indexes as in `windows[3].services[1]`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from hallsvc.devices.registry import DeviceSpec, Registry, RegistryError
from hallsvc.devices.rules import DeviceBusRules
from hallsvc.devices.rules import check as check_device_bus
from hallsvc.disclosure import FeeItem, Material
from hallsvc.disclosure import check as check_disclosure
from hallsvc.hours import Session
from hallsvc.queue.model import WindowKind
from hallsvc.queue.policy_table import PolicyTable
from hallsvc.queue.policy_table import check as check_policy

_T = TypeVar("_T")

Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Letter = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]$")]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Days = Annotated[int, msgspec.Meta(ge=0, le=3650)]


class Role(StrEnum):
    KIOSK = "kiosk"
    SMS_GATEWAY = "sms_gateway"
    CLERK = "clerk"
    LEAD = "lead"
    MANAGER = "manager"


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class HallInfo(_Strict, frozen=True, forbid_unknown_fields=True):
    id: Id
    name: str
    timezone: str = "Asia/Shanghai"


class Hours(_Strict, frozen=True, forbid_unknown_fields=True):
    """H1 opening hours, H3/Q8 end of day."""

    sessions: tuple[tuple[ClockTime, ...], ...] = (("08:30", "12:00"), ("13:00", "17:30"))
    # Kiosks start issuing this many minutes before the first session.
    issue_before_open_minutes: Annotated[int, msgspec.Meta(ge=0, le=240)] = 30
    # Q8/H3: unserved tickets are voided at this time, after closing.
    void_unserved_at: ClockTime = "19:00"
    # H1: only legal working days. A demo hall may switch this off.
    enforce: bool = True
    local_closures: tuple[str, ...] = ()


class Thresholds(_Strict, frozen=True, forbid_unknown_fields=True):
    recall_limit: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2  # Q6
    swamped_waiting: Annotated[int, msgspec.Meta(ge=1)] = 10  # Q9
    # Q8: tickets per business line per opening session; 0 means no cap.
    ticket_cap_per_session: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Q9 "a common local target": the average wait (issue → call) the
    # dashboard and the reports measure against, in minutes.
    wait_target_minutes: Annotated[int, msgspec.Meta(ge=1, le=240)] = 15


class Line(_Strict, frozen=True, forbid_unknown_fields=True):
    """A business line: one ticket letter (Q1)."""

    letter: Letter
    name: str
    ticket_cap_per_session: Annotated[int, msgspec.Meta(ge=0)] | None = None


class Service(_Strict, frozen=True, forbid_unknown_fields=True):
    code: Id
    name: str
    line: Letter
    department: str
    statutory_days: Days | None = None  # C2: None where the law sets no limit
    promised_days: Days | None = None
    average_minutes: Annotated[float, msgspec.Meta(gt=0, le=480)] = 10.0
    # H10 (十公开): the public disclosure, hallsvc/disclosure.py. None = not
    # disclosed (the kiosk says to ask at the desk); fees = () = free of charge.
    legal_basis: str | None = None
    procedure: tuple[str, ...] | None = None
    conditions: tuple[str, ...] | None = None
    materials: tuple[Material, ...] | None = None
    fees: tuple[FeeItem, ...] | None = None
    progress: str | None = None


class Window(_Strict, frozen=True, forbid_unknown_fields=True):
    id: Id
    name: str  # as spoken: "3号窗口"
    kind: WindowKind = WindowKind.DEPARTMENT
    department: str | None = None
    services: tuple[Id, ...] = ()
    takes_overflow: bool = False  # Q2: proxy window helps with others' overflow


class User(_Strict, frozen=True, forbid_unknown_fields=True):
    """A person or device with credentials. No secret is stored in clear:
    people have a scrypt `password_hash`, devices a sha256 `api_key_hash`."""

    name: Id
    role: Role
    password_hash: str | None = None
    api_key_hash: str | None = None
    windows: tuple[Id, ...] = ()  # clerks: the windows they may log in to (empty: any)
    display_name: str | None = None


class Sms(_Strict, frozen=True, forbid_unknown_fields=True):
    outbound_url: str | None = None
    reply_template: str = "您的号码{number}，前面还有{ahead}人，预计等待{wait}分钟。"


class Cases(_Strict, frozen=True, forbid_unknown_fields=True):
    """Cases and their time limits (C2, C2a, C5, C8)."""

    # C5: yellow once at most this many working days remain, or this share of
    # the limit is used (whichever comes first).
    yellow_days_left: Annotated[int, msgspec.Meta(ge=0, le=60)] = 2
    yellow_used_percent: Annotated[int, msgspec.Meta(ge=1, le=100)] = 80
    # C2: a day's limit ends at this time; default: the end of the last session.
    close: ClockTime | None = None
    # C2a: past the last year with an official calendar, reckon Mon–Fri and
    # mark every such due date provisional (true), or refuse (false).
    provisional_calendar: bool = True
    # C8, C4: what the applicant is told by SMS.
    result_sms: str = "您的办件{number}（{service}）已办结，请凭受理单到{window}领取结果。"
    extension_sms: str = "您的办件{number}（{service}）依法延期至{due}，理由：{reason}。"


class ServerSection(_Strict, frozen=True, forbid_unknown_fields=True):
    database_url: str | None = None
    redis_url: str | None = None
    mqtt_url: str | None = None
    http_host: str | None = None
    http_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    state_dir: str | None = None
    embedded_ports: str | None = None  # "postgres,redis,mqtt", e.g. "55432,56379,51883"


class HallConfig(msgspec.Struct, frozen=True):
    """Everything the hall file declares, checked. Lookups are precomputed."""

    source: str
    hall: HallInfo
    hours: Hours
    thresholds: Thresholds
    lines: tuple[Line, ...]
    services: tuple[Service, ...]
    windows: tuple[Window, ...]
    users: tuple[User, ...]
    sms: Sms
    server: ServerSection
    cases: Cases
    case_close: time  # C2: when a day's limit ends
    devices: tuple[DeviceSpec, ...]  # [[devices]]; () = the default set (issue 5)
    device_bus: DeviceBusRules  # [device_bus]: the device hub's thresholds
    policy: PolicyTable  # [policy]: the call-next policy's knobs (Q3, Q4, Q9)
    zone: ZoneInfo
    sessions: tuple[Session, ...]
    void_at: time
    service_by_code: dict[str, Service]
    window_by_id: dict[str, Window]
    user_by_name: dict[str, User]
    line_by_letter: dict[str, Line]
    serving: dict[str, tuple[Window, ...]]  # service code -> windows that serve it (Q2)

    def cap_for(self, letter: str) -> int:
        line = self.line_by_letter[letter]
        if line.ticket_cap_per_session is not None:
            return line.ticket_cap_per_session
        return self.thresholds.ticket_cap_per_session

    def windows_serving(self, service_code: str) -> tuple[Window, ...]:
        return self.serving.get(service_code, ())


class ConfigError(Exception):
    """A hall file with problems; `problems` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _where(prefix: str, err: msgspec.ValidationError) -> tuple[str, str]:
    """Split msgspec's "… - at `$.a[1]`" into (key path, message)."""
    text = str(err)
    m = _AT.search(text)
    path = prefix
    if m:
        rest = m.group("path")
        path = prefix + rest if rest.startswith("[") or not prefix else f"{prefix}{rest}"
        text = text[: m.start()]
    return path.lstrip("."), text


def load_hall_file(path: Path | str) -> HallConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror or e}"]) from e
    except UnicodeDecodeError as e:
        raise ConfigError([f"{path}: not UTF-8 text: {e.reason}"]) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: not valid TOML: {e}"]) from e
    return parse_hall(raw, source=str(path))


def parse_hall(raw: dict[str, Any], *, source: str = "<hall file>") -> HallConfig:
    problems: list[str] = []

    def say(where: str, what: str) -> None:
        problems.append(f"{source}: {where}: {what}" if where else f"{source}: {what}")

    known = {"hall", "hours", "thresholds", "lines", "services", "windows", "users", "sms",
             "server", "cases", "devices", "device_bus", "policy"}
    for key in raw:
        if key not in known:
            say(key, f"unknown section (expected one of {', '.join(sorted(known))})")

    def one(key: str, kind: type[_T], default: _T | None) -> _T | None:
        value = raw.get(key)
        if value is None:
            if default is None:
                say(key, "missing")
            return default
        try:
            return msgspec.convert(value, kind, str_keys=True)
        except msgspec.ValidationError as e:
            say(*_where(key, e))
            return None

    def many(key: str, kind: type[_T], *, required: bool = True) -> list[tuple[int, _T]]:
        # Each item keeps its index in the file, so that the items after a
        # broken one are still reported at their own key path.
        value = raw.get(key, [])
        if not isinstance(value, list) or (required and not value):
            say(key, "must be a non-empty array of tables" if required else "must be an array")
            return []
        out: list[tuple[int, _T]] = []
        for i, item in enumerate(value):
            try:
                out.append((i, msgspec.convert(item, kind, str_keys=True)))
            except msgspec.ValidationError as e:
                say(*_where(f"{key}[{i}]", e))
        return out

    hall = one("hall", HallInfo, None)
    hours = one("hours", Hours, Hours())
    thresholds = one("thresholds", Thresholds, Thresholds())
    sms = one("sms", Sms, Sms())
    server = one("server", ServerSection, ServerSection())
    cases = one("cases", Cases, Cases())
    lines = many("lines", Line)
    services = many("services", Service)
    windows = many("windows", Window)
    users = many("users", User)
    device_bus = one("device_bus", DeviceBusRules, DeviceBusRules())
    devices = many("devices", DeviceSpec, required=False)
    policy = one("policy", PolicyTable, PolicyTable())

    zone = ZoneInfo("UTC")
    if hall is not None:
        try:
            zone = ZoneInfo(hall.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            say("hall.timezone", f'unknown time zone "{hall.timezone}"')

    sessions: tuple[Session, ...] = ()
    void_at = time(19, 0)
    if hours is not None:
        sessions, hour_problems = _check_hours(hours)
        for where, what in hour_problems:
            say(where, what)
        void_at = time.fromisoformat(hours.void_unserved_at)

    declared = _Declared(
        letters=_declared(raw.get("lines"), "letter"),
        codes=_declared(raw.get("services"), "code"),
        window_ids=_declared(raw.get("windows"), "id"),
        served=_listed(raw.get("windows"), "services"),
    )
    for where, what in _check_references(lines, services, windows, users, declared):
        say(where, what)
    for i, service in services:
        for where, what in check_disclosure(f"services[{i}]", service):
            say(where, what)
    for where, what in _check_devices(raw.get("devices"), devices, device_bus, declared):
        say(where, what)
    for where, what in check_policy(policy) if policy is not None else ():
        say(where, what)
    if sms is not None and (bad := _check_template(sms.reply_template)):
        say("sms.reply_template", bad)
    case_close = sessions[-1].end if sessions else time(17, 30)
    if cases is not None:
        case_close, case_problems = _check_cases(cases, sessions, case_close)
        for where, what in case_problems:
            say(where, what)

    if problems or hall is None or hours is None or thresholds is None:
        raise ConfigError(problems or [f"{source}: incomplete"])
    assert sms is not None and server is not None and cases is not None
    assert device_bus is not None and policy is not None
    return HallConfig(
        source=source, hall=hall, hours=hours, thresholds=thresholds,
        lines=tuple(ln for _, ln in lines), services=tuple(s for _, s in services),
        windows=tuple(w for _, w in windows), users=tuple(u for _, u in users), sms=sms,
        server=server, cases=cases, case_close=case_close,
        devices=tuple(d for _, d in devices), device_bus=device_bus, policy=policy, zone=zone,
        sessions=sessions,
        void_at=void_at,
        service_by_code={s.code: s for _, s in services},
        window_by_id={w.id: w for _, w in windows},
        user_by_name={u.name: u for _, u in users},
        line_by_letter={ln.letter: ln for _, ln in lines},
        serving={code: tuple(w for _, w in windows if code in w.services)
                 for code in (sv.code for _, sv in services)},
    )


def _check_hours(hours: Hours) -> tuple[tuple[Session, ...], list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    sessions: list[Session] = []
    if not hours.sessions:
        problems.append(("hours.sessions", "at least one opening session is needed"))
    for i, pair in enumerate(hours.sessions):
        where = f"hours.sessions[{i}]"
        if len(pair) != 2:
            problems.append((where, 'must be ["HH:MM", "HH:MM"], start and end'))
            continue
        start, end = (time.fromisoformat(t) for t in pair)
        if end <= start:
            problems.append((where, f"ends ({pair[1]}) before it starts ({pair[0]})"))
            continue
        if sessions and start < sessions[-1].end:
            problems.append((where, f"starts ({pair[0]}) before the previous session ends "
                                    f"({sessions[-1].end:%H:%M})"))
            continue
        sessions.append(Session(start, end))
    if sessions and time.fromisoformat(hours.void_unserved_at) < sessions[-1].end:
        # H3: tickets issued before closing are still served after closing.
        problems.append(("hours.void_unserved_at",
                         f"{hours.void_unserved_at} is before closing ({sessions[-1].end:%H:%M})"))
    for i, day in enumerate(hours.local_closures):
        try:
            date.fromisoformat(day)
        except ValueError:
            problems.append((f"hours.local_closures[{i}]", f'"{day}" is not a date (YYYY-MM-DD)'))
    return tuple(sessions), problems


class _Declared(NamedTuple):
    """Names the file declares, read from the raw items, broken ones included:
    an item with a shape problem is reported once, not again by every
    reference to it. None where the section is missing or empty (reported once)."""

    letters: set[str] | None
    codes: set[str] | None
    window_ids: set[str] | None
    served: set[str] | None  # service codes listed by some window


def _items(section: Any) -> list[dict[str, Any]] | None:
    if not isinstance(section, list) or not section:
        return None
    return [item for item in section if isinstance(item, dict)]


def _declared(section: Any, key: str) -> set[str] | None:
    items = _items(section)
    if items is None:
        return None
    return {v for item in items if isinstance(v := item.get(key), str)}


def _listed(section: Any, key: str) -> set[str] | None:
    items = _items(section)
    if items is None:
        return None
    return {v for item in items if isinstance(vs := item.get(key), list)
            for v in vs if isinstance(v, str)}


_SCRYPT = re.compile(r"scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_=-]+\$[A-Za-z0-9_=-]+")
_SHA256 = re.compile(r"sha256\$[0-9a-fA-F]{64}")


_PLACEHOLDERS = "{number} {service} {ahead} {wait}"


def _check_template(template: str) -> str | None:
    """The SMS reply is filled in when a ticket is issued by SMS: a bad
    placeholder is found here, not by the first applicant who texts in."""
    try:
        template.format(number="A001", service="", ahead=0, wait=0)
    except KeyError as e:
        return f"unknown placeholder {{{e.args[0]}}} (known: {_PLACEHOLDERS})"
    except (IndexError, ValueError, AttributeError) as e:
        return f"not a valid template: {e} (placeholders: {_PLACEHOLDERS})"
    return None


_CASE_PLACEHOLDERS = {"result_sms": ("number", "service", "window"),
                      "extension_sms": ("number", "service", "due", "reason")}


def _check_cases(cases: Cases, sessions: tuple[Session, ...],
                 close: time) -> tuple[time, list[tuple[str, str]]]:
    """C2: the instant a day's limit ends; C8/C4: the applicant's SMS texts."""
    problems: list[tuple[str, str]] = []
    if cases.close is not None:
        close = time.fromisoformat(cases.close)
        if close == time(0):
            problems.append(("cases.close", "00:00 is not a closing time (a working day's "
                             "limit ends at its close, C2)"))
        elif sessions and close <= sessions[0].start:
            problems.append(("cases.close", f"{cases.close} is not after the hall opens "
                             f"({sessions[0].start:%H:%M})"))
    for key, names in _CASE_PLACEHOLDERS.items():
        template: str = getattr(cases, key)
        known = " ".join(f"{{{n}}}" for n in names)
        try:
            template.format(**dict.fromkeys(names, ""))
        except KeyError as e:
            problems.append((f"cases.{key}", f"unknown placeholder {{{e.args[0]}}} "
                             f"(known: {known})"))
        except (IndexError, ValueError, AttributeError) as e:
            problems.append((f"cases.{key}", f"not a valid template: {e} "
                             f"(placeholders: {known})"))
    return close, problems


def _duplicates(values: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for i, v in values:
        if v in seen:
            yield i, v
        seen.add(v)


def _check_references(
    lines: list[tuple[int, Line]], services: list[tuple[int, Service]],
    windows: list[tuple[int, Window]], users: list[tuple[int, User]], declared: _Declared,
) -> Iterator[tuple[str, str]]:
    for i, letter in _duplicates((i, ln.letter) for i, ln in lines):
        yield f"lines[{i}].letter", f'letter "{letter}" is used by another line'
    for i, code in _duplicates((i, s.code) for i, s in services):
        yield f"services[{i}].code", f'service "{code}" is declared twice'
    for i, wid in _duplicates((i, w.id) for i, w in windows):
        yield f"windows[{i}].id", f'window "{wid}" is declared twice'
    for i, name in _duplicates((i, u.name) for i, u in users):
        yield f"users[{i}].name", f'user "{name}" is declared twice'

    for i, s in services:
        if declared.letters is not None and s.line not in declared.letters:
            yield f"services[{i}].line", f'unknown line "{s.line}"'
        if (s.promised_days is not None and s.statutory_days is not None
                and s.promised_days > s.statutory_days):
            # C2: the promise is never longer than the law allows.
            yield (f"services[{i}].promised_days",
                   f"{s.promised_days} is longer than statutory_days {s.statutory_days}")

    for i, w in windows:
        if not w.services:
            yield f"windows[{i}].services", "a window must serve at least one service"
        for j, code in enumerate(w.services):
            if declared.codes is not None and code not in declared.codes:
                yield f"windows[{i}].services[{j}]", f'unknown service "{code}"'
        for j, code in _duplicates(enumerate(w.services)):
            yield f"windows[{i}].services[{j}]", f'service "{code}" is listed twice'
        if w.kind is WindowKind.DEPARTMENT and w.takes_overflow:
            yield f"windows[{i}].takes_overflow", "only the proxy window takes overflow (Q2)"
        if w.kind is WindowKind.DEPARTMENT and not w.department:
            yield f"windows[{i}].department", "a department window names its department"
    for i, s in services:
        if declared.served is not None and s.code not in declared.served:
            yield f"services[{i}].code", f'service "{s.code}" is served by no window'

    for i, u in users:
        # People log in with a scrypt password hash, devices with the sha256 of
        # an API key; the other kind of secret would be a second way in.
        human = u.role in (Role.CLERK, Role.LEAD, Role.MANAGER)
        if human and not u.password_hash:
            yield f"users[{i}].password_hash", f"a {u.role} needs a password_hash"
        if not human and not u.api_key_hash:
            yield f"users[{i}].api_key_hash", f"a {u.role} needs an api_key_hash"
        if human and u.api_key_hash:
            yield f"users[{i}].api_key_hash", f"a {u.role} logs in with a password, not an API key"
        if not human and u.password_hash:
            yield f"users[{i}].password_hash", f"a {u.role} uses an API key, not a password"
        if human and u.password_hash and not _SCRYPT.fullmatch(u.password_hash):
            yield (f"users[{i}].password_hash", "not a hash made by `python run.py hash-secret` "
                   "(secrets are never stored in clear)")
        if not human and u.api_key_hash and not _SHA256.fullmatch(u.api_key_hash):
            yield (f"users[{i}].api_key_hash", "not a hash made by `python run.py hash-secret "
                   "--api-key` (secrets are never stored in clear)")
        for j, wid in enumerate(u.windows):
            if declared.window_ids is not None and wid not in declared.window_ids:
                yield f"users[{i}].windows[{j}]", f'unknown window "{wid}"'
        if u.windows and u.role is not Role.CLERK:
            yield f"users[{i}].windows", "only clerks are bound to windows"


def _check_devices(section: Any, devices: list[tuple[int, DeviceSpec]],
                   rules: DeviceBusRules | None, declared: _Declared) -> Iterator[tuple[str, str]]:
    """Issue 5: the devices against the windows (a device of an unknown window
    could never show a call), and the hub's thresholds."""
    if rules is not None:
        yield from check_device_bus(rules, declared.window_ids)
    listed = section if isinstance(section, list) else []
    if not devices or len(devices) != len(listed) or declared.window_ids is None:
        return  # a broken item is reported once, by its shape
    try:
        Registry.build((d for _, d in devices), declared.window_ids)
    except RegistryError as e:
        for problem in e.problems:
            where, _, what = problem.partition(": ")
            yield where, what
