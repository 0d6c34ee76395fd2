"""The hall file: every problem a hall admin can make, as a table.

Each row starts from configs/demo-hall.toml, changes it at a key path written
the way the error line writes it (0-based: `windows[3].services[1]`), and
expects the exact lines `<file>: <key path>: <what is wrong>`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hallsvc.config import ConfigError, HallConfig, load_hall_file, parse_hall
from hallsvc.queue.model import WindowKind

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "configs" / "demo-hall.toml"
SOURCE = "configs/x.toml"

# The demo hall, for reading the table below:
#   lines[0..4]     A B C D E
#   services[0..9]  A01 A02 B01 B02 C01 C02 D01 E01 E02 E03
#   windows[0..7]   W01 W02 (A) W03 W04 (B) W05 (C) W06 W07 (D) W08 (proxy, E)
#   users[0..11]    kiosk01 sms lead01 manager01 clerk01 … clerk08

Raw = dict[str, Any]
Change = Callable[[Raw], None]


def demo_raw() -> Raw:
    return tomllib.loads(DEMO.read_text(encoding="utf-8"))


def _steps(path: str) -> list[str | int]:
    return [int(p[1:-1]) if p.startswith("[") else p
            for p in re.findall(r"\[\d+\]|[^.\[\]]+", path)]


def _parent(raw: Raw, path: str) -> tuple[Any, str | int]:
    *walk, last = _steps(path)
    node: Any = raw
    for step in walk:
        node = node[step]
    return node, last


def put(path: str, value: Any) -> Change:
    def change(raw: Raw) -> None:
        node, last = _parent(raw, path)
        node[last] = value
    return change


def drop(path: str) -> Change:
    def change(raw: Raw) -> None:
        node, last = _parent(raw, path)
        del node[last]
    return change


def append(path: str, item: Any) -> Change:
    def change(raw: Raw) -> None:
        node, last = _parent(raw, path)
        node[last].append(item)
    return change


def both(*changes: Change) -> Change:
    def change(raw: Raw) -> None:
        for c in changes:
            c(raw)
    return change


NOT_HASHED = "not a hash made by `python run.py hash-secret` (secrets are never stored in clear)"
NOT_KEY_HASHED = ("not a hash made by `python run.py hash-secret --api-key` (secrets are never "
                  "stored in clear)")
LEAVE_OUT = "leave the key out where nothing is disclosed"
SECTIONS = ("cases, device_bus, devices, hall, hours, lines, policy, server, services, sms, "
            "thresholds, "
            "users, windows")

CASES: list[tuple[str, Change, list[str]]] = [
    # -- cross references (Q1, Q2) --------------------------------------------
    ("unknown service in a window",
     put("windows[3].services[1]", "B07"),
     ['windows[3].services[1]: unknown service "B07"']),
    ("unknown line letter on a service",
     put("services[2].line", "Z"),
     ['services[2].line: unknown line "Z"']),
    ("a letter used by two lines (Q1: one letter per business line)",
     append("lines", {"letter": "A", "name": "又一个市场监管"}),
     ['lines[5].letter: letter "A" is used by another line']),
    ("a service code declared twice",
     append("services", {"code": "A01", "name": "重复", "line": "A", "department": "x"}),
     ['services[10].code: service "A01" is declared twice']),
    ("a window id declared twice",
     put("windows[1].id", "W01"),
     ['windows[1].id: window "W01" is declared twice']),
    ("a user declared twice",
     put("users[5].name", "clerk01"),
     ['users[5].name: user "clerk01" is declared twice']),
    ("a service listed twice by one window",
     put("windows[0].services", ["A01", "A02", "A01"]),
     ['windows[0].services[2]: service "A01" is listed twice']),
    ("a service served by no window",
     put("windows[7].services", ["E01", "E02"]),
     ['services[9].code: service "E03" is served by no window']),
    ("a window serving nothing",
     put("windows[5].services", []),
     ["windows[5].services: a window must serve at least one service"]),
    ("a department window taking overflow (Q2: only the proxy window)",
     put("windows[0].takes_overflow", True),
     ["windows[0].takes_overflow: only the proxy window takes overflow (Q2)"]),
    ("a department window without its department",
     drop("windows[2].department"),
     ["windows[2].department: a department window names its department"]),
    ("a clerk bound to an unknown window",
     put("users[4].windows", ["W01", "W99"]),
     ['users[4].windows[1]: unknown window "W99"']),
    ("a manager bound to windows",
     put("users[3].windows", ["W01"]),
     ["users[3].windows: only clerks are bound to windows"]),
    # -- credentials: no secret in clear ----------------------------------------
    ("a clerk without password_hash",
     drop("users[4].password_hash"),
     ["users[4].password_hash: a clerk needs a password_hash"]),
    ("a kiosk without api_key_hash",
     drop("users[0].api_key_hash"),
     ["users[0].api_key_hash: a kiosk needs an api_key_hash"]),
    ("a password in clear",
     put("users[5].password_hash", "demo-clerk"),
     [f"users[5].password_hash: {NOT_HASHED}"]),
    ("an API key in clear",
     put("users[1].api_key_hash", "demo-sms-gateway-key"),
     [f"users[1].api_key_hash: {NOT_KEY_HASHED}"]),
    ("a sha256 where a password's scrypt hash belongs",
     put("users[2].password_hash", "sha256$" + "0" * 64),
     [f"users[2].password_hash: {NOT_HASHED}"]),
    ("a truncated API key hash",
     put("users[0].api_key_hash", "sha256$ddbb060e"),
     [f"users[0].api_key_hash: {NOT_KEY_HASHED}"]),
    ("a person with an API key as well (a second way in)",
     put("users[2].api_key_hash", "sha256$" + "0" * 64),
     ["users[2].api_key_hash: a lead logs in with a password, not an API key"]),
    ("a device with a password as well",
     put("users[0].password_hash", "scrypt$16384$8$1$c2FsdA==$ZGlnZXN0"),
     ["users[0].password_hash: a kiosk uses an API key, not a password"]),
    # -- shapes: types, unknown keys, bad values (msgspec's words, our key path) -
    ("a string where an int belongs, in an item",
     put("services[0].statutory_days", "15"),
     ["services[0].statutory_days: Expected `int | null`, got `str`"]),
    ("a string where an int belongs, in a section",
     put("thresholds.recall_limit", "2"),
     ["thresholds.recall_limit: Expected `int`, got `str`"]),
    # -- Q9's average-wait target ------------------------------------------------
    ("a zero wait target (Q9)",
     put("thresholds.wait_target_minutes", 0),
     ["thresholds.wait_target_minutes: Expected `int` >= 1"]),
    ("a wait target over four hours (Q9)",
     put("thresholds.wait_target_minutes", 241),
     ["thresholds.wait_target_minutes: Expected `int` <= 240"]),
    ("a wait target in fractions of a minute (Q9)",
     put("thresholds.wait_target_minutes", 12.5),
     ["thresholds.wait_target_minutes: Expected `int`, got `float`"]),
    ("a wait target as text (Q9)",
     put("thresholds.wait_target_minutes", "15"),
     ["thresholds.wait_target_minutes: Expected `int`, got `str`"]),
    ("a port out of range in [server]",
     put("server", {"http_port": 70000}),
     ["server.http_port: Expected `int` <= 65535"]),
    ("negative days",
     put("services[0].promised_days", -1),
     ["services[0].promised_days: Expected `int` >= 0"]),
    ("an unknown key inside an item",
     put("windows[2].colour", "red"),
     ["windows[2]: Object contains unknown field `colour`"]),
    ("an unknown key inside a section",
     put("server", {"databse_url": "postgresql://db/hall"}),
     ["server: Object contains unknown field `databse_url`"]),
    ("a required key missing in an item",
     drop("windows[0].name"),
     ["windows[0]: Object missing required field `name`"]),
    ("an unknown window kind",
     put("windows[7].kind", "consolidated"),
     ["windows[7].kind: Invalid enum value 'consolidated'"]),
    ("an unknown role",
     put("users[4].role", "admin"),
     ["users[4].role: Invalid enum value 'admin'"]),
    ("a lower-case ticket letter",
     put("lines[1].letter", "b"),
     # The services of line "B" then point at no line: true, and gone with the one fix.
     ["lines[1].letter: Expected `str` matching regex '^[A-Z]$'",
      'services[2].line: unknown line "B"', 'services[3].line: unknown line "B"']),
    ("a session time that is no time",
     put("hours.sessions[1][1]", "25:00"),
     ["hours.sessions[1][1]: Expected `str` matching regex "
      "'^([01][0-9]|2[0-3]):[0-5][0-9]$'"]),
    ("a closure written as a TOML date rather than a string",
     put("hours.local_closures", [date(2026, 10, 9)]),
     ["hours.local_closures[0]: Expected `str`, got `date`"]),
    # -- sections ----------------------------------------------------------------
    ("an unknown top-level section",
     put("colour", {"walls": "white"}),
     [f"colour: unknown section (expected one of {SECTIONS})"]),
    ("[hall] missing", drop("hall"), ["hall: missing"]),
    ("[hall] not a table", put("hall", "demo"), ["hall: Expected `object`, got `str`"]),
    ("an empty windows array",
     put("windows", []),
     ["windows: must be a non-empty array of tables"]),
    ("no [[users]] at all",
     drop("users"),
     ["users: must be a non-empty array of tables"]),
    ("no [[lines]] at all: reported once, not once per service",
     drop("lines"),
     ["lines: must be a non-empty array of tables"]),
    # -- the hall, its hours (H1, H3, Q8) -----------------------------------------
    ("a time zone that does not exist",
     put("hall.timezone", "Asia/Beijing"),
     ['hall.timezone: unknown time zone "Asia/Beijing"']),
    ("a session ending before it starts",
     put("hours.sessions[1]", ["17:30", "13:00"]),
     ["hours.sessions[1]: ends (13:00) before it starts (17:30)"]),
    ("overlapping sessions",
     put("hours.sessions[1]", ["11:30", "17:30"]),
     ["hours.sessions[1]: starts (11:30) before the previous session ends (12:00)"]),
    ("a session that is not a pair",
     put("hours.sessions[0]", ["08:30"]),
     ['hours.sessions[0]: must be ["HH:MM", "HH:MM"], start and end']),
    ("no session at all",
     put("hours.sessions", []),
     ["hours.sessions: at least one opening session is needed"]),
    ("voiding before closing (H3: what was issued is served)",
     put("hours.void_unserved_at", "17:00"),
     ["hours.void_unserved_at: 17:00 is before closing (17:30)"]),
    ("a local closure that is no date",
     put("hours.local_closures", ["2026-10-09", "2026-02-30"]),
     ['hours.local_closures[1]: "2026-02-30" is not a date (YYYY-MM-DD)']),
    # -- time limits (C2) --------------------------------------------------------
    ("promised_days longer than statutory_days (C2)",
     put("services[0].promised_days", 20),
     ["services[0].promised_days: 20 is longer than statutory_days 15"]),
    # -- the public disclosure of a service (H10, 十公开) ------------------------------
    ("a legal basis of blank text (H10)",
     put("services[0].legal_basis", " "),
     ["services[0].legal_basis: empty text: name the law or regulation, or " + LEAVE_OUT]),
    ("an empty list of steps (a placeholder is no disclosure)",
     put("services[1].procedure", []),
     ["services[1].procedure: an empty list discloses nothing: list the steps, or " +
      LEAVE_OUT]),
    ("the procedure as one text rather than a list of steps",
     put("services[0].procedure", "申请、受理、审查"),
     ["services[0].procedure: Expected `array | null`, got `str`"]),
    ("a blank condition",
     put("services[2].conditions[1]", ""),
     ["services[2].conditions[1]: empty text"]),
    ("an empty list of materials",
     put("services[3].materials", []),
     ["services[3].materials: an empty list discloses nothing: list the materials, or " +
      LEAVE_OUT]),
    ("a material given as a bare name rather than a table",
     put("services[0].materials[1]", "公司章程"),
     ["services[0].materials[1]: Expected `object`, got `str`"]),
    ("a material without a name",
     drop("services[0].materials[0].name"),
     ["services[0].materials[0]: Object missing required field `name`"]),
    ("no copies of a material",
     put("services[0].materials[0].copies", 0),
     ["services[0].materials[0].copies: Expected `int` >= 1"]),
    ("a material listed twice",
     put("services[0].materials[2].name", "公司章程"),
     ['services[0].materials[2].name: material "公司章程" is listed twice']),
    ("an unknown key in a material",
     put("services[0].materials[0].original", True),
     ["services[0].materials[0]: Object contains unknown field `original`"]),
    ("a fee without its basis (H10: item, standard and basis are public)",
     drop("services[6].fees[0].basis"),
     ["services[6].fees[0]: Object missing required field `basis`"]),
    ("a fee of blank standard",
     put("services[6].fees[1].standard", " "),
     ["services[6].fees[1].standard: empty text (H10: a fee's item, standard and basis are "
      "all public)"]),
    ("free of charge said in words (it is `fees = []`)",
     put("services[0].fees", "不收费"),
     ["services[0].fees: Expected `array | null`, got `str`"]),
    ("where to follow progress, blank",
     put("services[9].progress", ""),
     ["services[9].progress: empty text: say where progress is looked up, or " + LEAVE_OUT]),
    # -- cases: warning thresholds, closing time, calendar, notices (C2, C2a, C5, C8) --
    ("a yellow threshold over 100% (C5)",
     put("cases.yellow_used_percent", 120),
     ["cases.yellow_used_percent: Expected `int` <= 100"]),
    ("a negative days-left threshold (C5)",
     put("cases.yellow_days_left", -1),
     ["cases.yellow_days_left: Expected `int` >= 0"]),
    ("a closing time that is no time (C2)",
     put("cases.close", "5pm"),
     ["cases.close: Expected `str` matching regex '^([01][0-9]|2[0-3]):[0-5][0-9]$'"]),
    ("a closing time at midnight (C2: a day's limit ends at its close)",
     put("cases.close", "00:00"),
     ["cases.close: 00:00 is not a closing time (a working day's limit ends at its close, "
      "C2)"]),
    ("a closing time before the hall opens (C2)",
     put("cases.close", "08:00"),
     ["cases.close: 08:00 is not after the hall opens (08:30)"]),
    ("the calendar choice given as a string (C2a)",
     put("cases.provisional_calendar", "yes"),
     ["cases.provisional_calendar: Expected `bool`, got `str`"]),
    ("a result SMS with an unknown placeholder (C8)",
     put("cases.result_sms", "办件{case}已办结"),
     ["cases.result_sms: unknown placeholder {case} (known: {number} {service} {window})"]),
    ("an extension SMS with a stray brace (C4)",
     put("cases.extension_sms", "延期至{due"),
     ["cases.extension_sms: not a valid template: expected '}' before end of string "
      "(placeholders: {number} {service} {due} {reason})"]),
    ("an unknown key in [cases]",
     put("cases.yellow_days", 3),
     ["cases: Object contains unknown field `yellow_days`"]),
    # -- devices and the device hub's thresholds (issue 5: Q6, H2, H6, H8a) ----------
    ("a board over a window the hall does not have",
     put("devices", [{"id": "WB-W01", "kind": "window_board", "window": "W99"}]),
     ['devices[0].window: unknown window "W99"']),
    ("a device declared twice",
     put("devices", [{"id": "HB-1", "kind": "hall_board"}, {"id": "HB-1", "kind": "caller"}]),
     ['devices[1].id: device "HB-1" is declared twice']),
    ("a pad that belongs to no window (H8a: it rates that window's service)",
     put("devices", [{"id": "PAD-1", "kind": "pad"}]),
     ["devices[0].window: a pad belongs to a window"]),
    ("a caller announcing an unknown window",
     put("devices", [{"id": "C-1", "kind": "caller", "windows": ["W01", "W42"]}]),
     ['devices[0].windows[1]: unknown window "W42"']),
    ("an unknown device kind",
     put("devices", [{"id": "X-1", "kind": "toaster"}]),
     ["devices[0].kind: Invalid enum value 'toaster'"]),
    ("a device id that cannot be a topic level",
     put("devices", [{"id": "WB/1", "kind": "hall_board"}]),
     ["devices[0].id: Expected `str` matching regex '^[A-Za-z0-9_-]{1,32}$'"]),
    ("summer limits upside down (H6)",
     put("device_bus", {"temperature": {"summer": [26.0, 20.0]}}),
     ["device_bus.temperature.summer: the low limit (26) must be below the high one (20)"]),
    ("a summer month that is no month (H6)",
     put("device_bus", {"temperature": {"summer_months": [5, 6, 13]}}),
     ["device_bus.temperature.summer_months[2]: 13 is not a month (1–12)"]),
    ("a temperature limit that is not a pair (H6)",
     put("device_bus", {"temperature": {"winter": [18.0]}}),
     ["device_bus.temperature.winter: Expected `array` of length 2, got 1"]),
    ("a negative offline grace (Q6)",
     put("device_bus", {"offline_grace_seconds": -5}),
     ["device_bus.offline_grace_seconds: Expected `float` >= 0.0"]),
    ("a caller timeout of zero (Q6)",
     put("device_bus", {"caller": {"start_timeout_seconds": 0}}),
     ["device_bus.caller.start_timeout_seconds: Expected `float` > 0.0"]),
    ("a follow-up due in no working days (H8a)",
     put("device_bus", {"rating": {"follow_up_working_days": 0}}),
     ["device_bus.rating.follow_up_working_days: Expected `int` >= 1"]),
    ("an unstaffed-window check on an unknown window (H2)",
     put("device_bus", {"staffed_windows": ["W01", "W77"]}),
     ['device_bus.staffed_windows[1]: unknown window "W77"']),
    ("an unknown key in [device_bus]",
     put("device_bus", {"grace": 3}),
     ["device_bus: Object contains unknown field `grace`"]),
    # -- [policy]: call-next's knobs (Q3, Q4, Q9) ----------------------------------
    ("a priority class weighted below a normal ticket (Q4)",
     put("policy.special_weight", 0.5),
     ["policy.special_weight: Expected `float` >= 1.0"]),
    ("a negative head start (Q4)",
     put("policy.urgent_head_start_minutes", -10),
     ["policy.urgent_head_start_minutes: Expected `int` >= 0"]),
    ("no anti-starvation bound (Q3)",
     put("policy.max_wait_minutes", 0),
     ["policy.max_wait_minutes: Expected `int` >= 1"]),
    ("a bound given as text",
     put("policy.max_wait_minutes", "45 min"),
     ["policy.max_wait_minutes: Expected `int`, got `str`"]),
    ("a negative backlog weight",
     put("policy.backlog_weight", -0.5),
     ["policy.backlog_weight: Expected `float` >= 0.0"]),
    ("help that could only come after the bound (Q9 after Q3)",
     put("policy.help_after_minutes", 45),
     ["policy.help_after_minutes: 45 is not below max_wait_minutes (45): help (Q9) would "
      "only come after the bound (Q3)"]),
    ("Q9's threshold said in [policy] too (it lives in [thresholds])",
     put("policy.swamped_waiting", 12),
     ["policy: Object contains unknown field `swamped_waiting`"]),
    # -- SMS ---------------------------------------------------------------------
    ("an SMS reply with an unknown placeholder",
     put("sms.reply_template", "您的号码{ticket}"),
     ["sms.reply_template: unknown placeholder {ticket} "
      "(known: {number} {service} {ahead} {wait})"]),
    ("an SMS reply with a stray brace",
     put("sms.reply_template", "您的号码{number"),
     ["sms.reply_template: not a valid template: expected '}' before end of string "
      "(placeholders: {number} {service} {ahead} {wait})"]),
    # -- one bad item hurts only itself ---------------------------------------------
    ("a broken item does not shift the indexes of the items after it",
     both(put("windows[0].colour", "red"), put("windows[5].services", ["D01", "B07"])),
     ["windows[0]: Object contains unknown field `colour`",
      'windows[5].services[1]: unknown service "B07"']),
    ("a broken service is not also 'unknown' wherever it is named",
     put("services[0].average_minutes", "fifteen"),
     ["services[0].average_minutes: Expected `float`, got `str`"]),
    ("a broken window does not leave its services 'served by no window'",
     put("windows[7].colour", "red"),
     ["windows[7]: Object contains unknown field `colour`"]),
    # -- several problems at once: one line each, in file order of the passes -------
    ("several problems at once",
     both(put("services[2].x", 1), put("hall.timezone", "Mars/Base"),
          put("windows[3].services[1]", "B07"), put("users[5].password_hash", "hunter2"),
          put("hours.void_unserved_at", "12:00")),
     ["services[2]: Object contains unknown field `x`",
      'hall.timezone: unknown time zone "Mars/Base"',
      "hours.void_unserved_at: 12:00 is before closing (17:30)",
      'windows[3].services[1]: unknown service "B07"',
      f"users[5].password_hash: {NOT_HASHED}"]),
]


@pytest.mark.parametrize(("description", "change", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_a_bad_hall_file_gives_one_precise_line_per_problem(
    description: str, change: Change, expected: list[str]
) -> None:
    raw = demo_raw()
    change(raw)
    with pytest.raises(ConfigError) as e:
        parse_hall(raw, source=SOURCE)
    assert e.value.problems == [f"{SOURCE}: {line}" for line in expected], description
    assert str(e.value) == "\n".join(e.value.problems)


def _parse(raw: Raw) -> HallConfig:
    return parse_hall(raw, source=SOURCE)


def test_the_demo_hall_parses() -> None:
    cfg = load_hall_file(DEMO)
    assert cfg.source == str(DEMO)
    assert cfg.hall.id == "demo"
    assert str(cfg.zone) == "Asia/Shanghai"
    assert [(s.start.isoformat("minutes"), s.end.isoformat("minutes"))
            for s in cfg.sessions] == [("08:30", "12:00"), ("13:00", "17:30")]
    assert cfg.void_at.isoformat("minutes") == "19:00"
    assert len(cfg.services) == 10 and len(cfg.windows) == 8 and len(cfg.users) == 12
    assert cfg.cap_for("D") == 120 and cfg.cap_for("A") == 0  # Q8: line cap over default
    assert [w.id for w in cfg.windows_serving("A01")] == ["W01", "W02"]


def test_the_case_settings_of_the_demo_hall_and_their_defaults() -> None:
    """C5 thresholds, C2 close (the end of the last session unless given),
    C2a provisional reckoning."""
    cfg = load_hall_file(DEMO)
    assert (cfg.cases.yellow_days_left, cfg.cases.yellow_used_percent) == (2, 80)
    assert cfg.case_close.isoformat("minutes") == "17:30"
    assert cfg.cases.provisional_calendar is True
    raw = demo_raw()
    raw.pop("cases")
    raw["hours"]["sessions"] = [["08:00", "12:00"], ["15:00", "18:00"]]  # 004's hours (H1)
    cfg = _parse(raw)
    assert cfg.case_close.isoformat("minutes") == "18:00"
    raw["cases"] = {"close": "17:00", "provisional_calendar": False}
    cfg = _parse(raw)
    assert cfg.case_close.isoformat("minutes") == "17:00"
    assert cfg.cases.provisional_calendar is False


def test_the_demo_hall_discloses_every_service_and_a_bare_service_nothing() -> None:
    """H10: the demo's services say all of it; where the file says nothing the
    config says "not disclosed" (None), never an empty disclosure; fees = []
    is free of charge."""
    cfg = load_hall_file(DEMO)
    keys = ("legal_basis", "procedure", "conditions", "materials", "fees", "progress")
    for s in cfg.services:
        assert all(getattr(s, k) is not None for k in keys), s.code
    land = cfg.service_by_code["D01"]
    assert land.fees and all(f.item and f.standard and f.basis for f in land.fees)
    assert cfg.service_by_code["A01"].fees == ()
    raw = demo_raw()
    for k in keys:
        raw["services"][0].pop(k)
    bare = _parse(raw).services[0]
    assert all(getattr(bare, k) is None for k in keys)


def test_a_proxy_window_without_department_is_fine() -> None:
    raw = demo_raw()
    assert "department" not in raw["windows"][7]
    cfg = _parse(raw)
    proxy = cfg.window_by_id["W08"]
    assert proxy.kind is WindowKind.PROXY and proxy.department is None and proxy.takes_overflow


def test_defaults_of_a_minimal_hall() -> None:
    raw = demo_raw()
    for section in ("hours", "thresholds", "sms", "server"):
        raw.pop(section, None)
    cfg = _parse(raw)
    assert [(s.start.isoformat("minutes"), s.end.isoformat("minutes"))
            for s in cfg.sessions] == [("08:30", "12:00"), ("13:00", "17:30")]  # H1
    assert cfg.hours.enforce is True and cfg.hours.issue_before_open_minutes == 30
    assert cfg.thresholds.recall_limit == 2 and cfg.thresholds.swamped_waiting == 10
    assert cfg.thresholds.wait_target_minutes == 15  # Q9 "a common local target"
    assert cfg.server.database_url is None  # embedded


def test_the_wait_target_is_read_from_the_hall_file() -> None:
    """Q9: the demo hall says its target; another hall may set its own."""
    assert load_hall_file(DEMO).thresholds.wait_target_minutes == 15
    raw = demo_raw()
    raw["thresholds"]["wait_target_minutes"] = 20
    assert _parse(raw).thresholds.wait_target_minutes == 20


def test_the_hall_config_is_immutable() -> None:
    cfg = load_hall_file(DEMO)
    with pytest.raises(AttributeError):
        cfg.hall = cfg.hall  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.hall.name = "另一个中心"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.windows[0].takes_overflow = True  # type: ignore[misc]
    assert isinstance(cfg.windows, tuple)


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as e:
        load_hall_file(path)
    assert e.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_text_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_text("[hall]\nid = demo\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_hall_file(path)
    [line] = e.value.problems
    assert line.startswith(f"{path}: not valid TOML: ")
    assert "line 2" in line


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_bytes('[hall]\nname = "示范区政务服务中心"\n'.encode("gb18030"))
    with pytest.raises(ConfigError) as e:
        load_hall_file(path)
    [line] = e.value.problems
    assert line.startswith(f"{path}: not UTF-8 text: ")


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", "check-config", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=30, check=False)


def test_check_config_on_a_bad_file_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Beijing"')
    text = text.replace('id = "W02"', 'id = "W01"')
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    done = _check_config(path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f'{path}: hall.timezone: unknown time zone "Asia/Beijing"',
        f'{path}: windows[1].id: window "W01" is declared twice',
    ]


def test_check_config_on_the_demo_hall_says_ok() -> None:
    done = _check_config(DEMO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"{DEMO}: ok: hall demo, 10 services, 8 windows, 12 users")


def test_the_policy_table_reaches_the_policy() -> None:
    """Every call-next parameter comes from the hall file (issue 4): [policy]
    in minutes, Q9's threshold from [thresholds], the default service time
    from the services' average_minutes; a hall without [policy] gets the
    documented defaults."""
    from hallsvc.queue.load import policy_params
    from hallsvc.queue.policy import PolicyParams

    raw = demo_raw()
    raw["policy"] = {"max_wait_minutes": 30, "urgent_weight": 4.0,
                     "urgent_head_start_minutes": 20, "special_head_start_minutes": 25,
                     "lookahead_weight": 0.0, "backlog_weight": 1.5, "help_after_minutes": 2,
                     "help_handicap_minutes": 0}
    raw["thresholds"]["swamped_waiting"] = 7
    params = policy_params(_parse(raw))
    means = [s["average_minutes"] for s in raw["services"]]
    assert params == PolicyParams(
        max_wait_s=1800, urgent_weight=4.0, urgent_head_start_s=1200,
        special_head_start_s=1500, lookahead_weight=0.0, backlog_weight=1.5,
        swamped_threshold=7, help_after_s=120, help_handicap_s=0,
        default_service_s=round(60 * sum(means) / len(means)))
    raw.pop("policy")
    defaults = policy_params(_parse(raw))
    assert defaults.max_wait_s == PolicyParams().max_wait_s == 2700
    assert defaults.backlog_weight == PolicyParams().backlog_weight
    assert policy_params(load_hall_file(DEMO)) == PolicyParams(
        swamped_threshold=10, default_service_s=defaults.default_service_s)
