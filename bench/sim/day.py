"""A day in the hall, generated: the layout (services, windows) and what
happens (arrivals with their service times, clerks' pauses and late starts).

Pure data from a seed, apart from any policy: the in-process engine
(`engine.py`) and a driver against a running hallsvc over HTTP replay the
same `Day`. Times are milliseconds since the day's midnight (local time).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from hallsvc.queue.model import Priority, WindowKind, WindowState, WindowView

MIN = 60_000
HOUR = 60 * MIN


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    code: str
    name: str
    department: str
    minutes: float  # the hall file's average_minutes (the true mean drifts from it)
    share: float  # share of the department lines' tickets; rare ones: tickets per day
    proxy_only: bool = False  # a rare service only the proxy window serves (Q2)
    helped: bool = False  # the proxy window may help when swamped (Q9)
    bookable: bool = False  # appointments (Q7)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("A01", "企业设立登记", "市场监管", 15, 0.08, bookable=True),
    ServiceSpec("A02", "食品经营许可", "市场监管", 12, 0.05, helped=True),
    ServiceSpec("B01", "发票领用", "税务", 6, 0.27, helped=True),
    ServiceSpec("B02", "税务登记", "税务", 10, 0.07, bookable=True),
    ServiceSpec("C01", "社保参保登记", "社保医保", 8, 0.19, helped=True, bookable=True),
    ServiceSpec("C02", "医保报销", "社保医保", 10, 0.10, helped=True),
    ServiceSpec("D01", "不动产登记", "不动产", 20, 0.12, bookable=True),
    ServiceSpec("E01", "烟草专卖零售许可", "烟草", 15, 3, proxy_only=True),
    ServiceSpec("E02", "气象灾害防御审查", "气象", 20, 1.5, proxy_only=True),
    ServiceSpec("E03", "档案查询", "档案", 6, 6, proxy_only=True),
    ServiceSpec("E04", "供水报装", "水务", 12, 2.5, proxy_only=True),
    ServiceSpec("E05", "人防工程审批", "人防", 20, 1, proxy_only=True),
)

# Which of a department's services each of its windows serves, by window index
# within the department (cycled): some windows serve all, some specialise.
SPECIALISED: dict[str, tuple[tuple[str, ...], ...]] = {
    "市场监管": (("A01", "A02"), ("A01", "A02"), ("A01",)),
    "税务": (("B01", "B02"), ("B01",), ("B01", "B02"), ("B01",), ("B01", "B02")),
    "社保医保": (("C01", "C02"), ("C01",), ("C02",), ("C01", "C02"), ("C01",), ("C02",)),
    "不动产": (("D01",),),
}

SESSIONS = ((9 * HOUR, 12 * HOUR), (13 * HOUR + 30 * MIN, 17 * HOUR))
# Arrivals per half hour, relative: a morning peak and a smaller afternoon one.
PROFILE = (0.8, 1.1, 1.35, 1.35, 1.1, 0.8,  # 9:00 … 11:30
           0.7, 0.9, 1.1, 1.1, 0.9, 0.7, 0.5)  # 13:30 … 16:30
CV = 0.6  # service time spread (lognormal): many quick cases, a long tail
PRIORITY_MIX = ((Priority.URGENT, 0.01), (Priority.SPECIAL, 0.03), (Priority.GREEN, 0.005))
BOOKED = 0.12  # share of a bookable service's tickets that are checked-in appointments


@dataclass(frozen=True, slots=True)
class Arrival:
    at_ms: int  # issued at the kiosk (an appointment: checked in)
    service: str
    priority: Priority
    service_ms: int  # how long the window will take with this person
    slot_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    window: str
    at_ms: int  # the clerk pauses at the first moment free from here on
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Day:
    seed: int
    services: tuple[ServiceSpec, ...]
    windows: tuple[WindowView, ...]  # as configured; the same for every policy
    sessions: tuple[tuple[int, int], ...]
    arrivals: tuple[Arrival, ...]  # sorted by time
    pauses: tuple[Pause, ...]
    opens_ms: dict[str, int]  # when each window's clerk first logs in (late starts)
    daily: dict[str, float]  # expected tickets a day, per service
    mean_ms: dict[str, float]  # the day's true mean service time, per service

    @property
    def proxy(self) -> WindowView:
        return next(w for w in self.windows if w.kind is WindowKind.PROXY)


def layout(n_windows: int) -> tuple[WindowView, ...]:
    """`n_windows` windows: one proxy window, the rest split over the
    departments by their share of the work (largest remainder, one at least)."""
    if not 5 <= n_windows <= 60:
        raise ValueError("the hall has 5 to 60 windows")
    work: dict[str, float] = {}
    for s in SERVICES:
        if not s.proxy_only:
            work[s.department] = work.get(s.department, 0.0) + s.share * s.minutes
    total = sum(work.values())
    n = n_windows - 1
    ideal = {d: max(1.0, n * w / total) for d, w in work.items()}
    count = {d: int(v) for d, v in ideal.items()}
    for d in sorted(ideal, key=lambda d: ideal[d] - count[d], reverse=True):
        if sum(count.values()) >= n:
            break
        count[d] += 1
    windows: list[WindowView] = []
    for dept, k in count.items():
        for i in range(k):
            own = SPECIALISED[dept][i % len(SPECIALISED[dept])]
            windows.append(WindowView(f"W{len(windows) + 1:02d}", WindowKind.DEPARTMENT,
                                      frozenset(own), WindowState.OPEN))
    windows.append(WindowView(
        f"W{len(windows) + 1:02d}", WindowKind.PROXY,
        frozenset(s.code for s in SERVICES if s.proxy_only), WindowState.OPEN,
        takes_overflow=True, overflow_services=frozenset(s.code for s in SERVICES if s.helped)))
    return tuple(windows)


def generate(seed: int, n_windows: int = 20, load: float = 0.8) -> Day:
    """One day: department tickets sized so that the department windows are
    busy `load` of the open hours on average (more at the peaks)."""
    rng = random.Random(seed)
    windows = layout(n_windows)
    dept_windows = sum(1 for w in windows if w.kind is WindowKind.DEPARTMENT)
    # The real mean drifts from the hall file's by up to ±15%: the live rate matters.
    true_mean = {s.code: s.minutes * rng.uniform(0.85, 1.15) * MIN for s in SERVICES}
    dept = [s for s in SERVICES if not s.proxy_only]
    mean_work = sum(s.share * true_mean[s.code] for s in dept) / sum(s.share for s in dept)
    open_ms = sum(b - a for a, b in SESSIONS)
    per_day = load * dept_windows * open_ms / mean_work
    daily = {s.code: s.share if s.proxy_only else per_day * s.share / sum(x.share for x in dept)
             for s in SERVICES}
    opens: dict[str, int] = {}
    for w in windows:
        late = rng.random() < 0.15  # H4: some clerks come in late
        opens[w.id] = SESSIONS[0][0] + (rng.randrange(0, 15 * MIN) if late else 0)
    return Day(seed, SERVICES, windows, SESSIONS, draw_arrivals(rng, daily, true_mean),
               draw_pauses(rng, windows), opens, daily, true_mean)


def draw_arrivals(rng: random.Random, daily: dict[str, float], mean_ms: dict[str, float],
                  after_ms: int = 0) -> tuple[Arrival, ...]:
    """Tickets of a day (from `after_ms` on), `daily[service]` expected a day."""
    arrivals: list[Arrival] = []
    for s in SERVICES:
        for at in _poisson_day(rng, daily[s.code]):
            arrival = _arrival(rng, s, at, mean_ms[s.code])
            if arrival.at_ms >= after_ms:
                arrivals.append(arrival)
    arrivals.sort(key=lambda a: (a.at_ms, a.service))
    return tuple(arrivals)


def draw_pauses(rng: random.Random, windows: tuple[WindowView, ...],
                after_ms: int = 0) -> tuple[Pause, ...]:
    """One break per window per session, 5–15 minutes (H2: the clerk steps
    away once the person in front is served)."""
    pauses = [Pause(w.id, rng.randrange(start + 20 * MIN, end - 20 * MIN),
                    rng.randrange(5 * MIN, 15 * MIN))
              for w in windows for start, end in SESSIONS]
    return tuple(sorted((p for p in pauses if p.at_ms >= after_ms),
                        key=lambda p: (p.at_ms, p.window)))


def service_time(rng: random.Random, mean_ms: float) -> int:
    """Lognormal with the hall's spread, clipped to 1 minute … 4 means."""
    sigma = math.sqrt(math.log(1 + CV * CV))
    drawn = int(rng.lognormvariate(math.log(mean_ms) - sigma * sigma / 2, sigma))
    return max(MIN, min(drawn, int(4 * mean_ms)))


def _poisson_day(rng: random.Random, daily: float) -> list[int]:
    """Arrival times of a non-homogeneous Poisson process along PROFILE."""
    halves = [(start + 30 * MIN * i, start + 30 * MIN * (i + 1))
              for start, end in SESSIONS for i in range((end - start) // (30 * MIN))]
    weights = PROFILE[:len(halves)]
    out: list[int] = []
    for (a, b), w in zip(halves, weights, strict=True):
        rate = daily * w / sum(weights) / (b - a)  # per ms
        t = a + rng.expovariate(rate)
        while t < b:
            out.append(int(t))
            t += rng.expovariate(rate)
    return out


def _arrival(rng: random.Random, s: ServiceSpec, at: int, mean_ms: float) -> Arrival:
    service_ms = service_time(rng, mean_ms)
    if s.bookable and rng.random() < BOOKED:
        # Q7: booked for a half-hour slot; checks in 0–15 minutes before it.
        slot = (at // (30 * MIN) + 1) * 30 * MIN
        if any(a <= slot < b for a, b in SESSIONS):
            checkin = slot - rng.randrange(0, 15 * MIN)
            return Arrival(max(checkin, SESSIONS[0][0]), s.code, Priority.APPOINTMENT,
                           service_ms, slot)
    r = rng.random()
    for priority, p in PRIORITY_MIX:
        if priority is Priority.GREEN and not s.bookable:
            continue  # green channel: major projects, i.e. registration services
        if r < p:
            return Arrival(at, s.code, priority, service_ms)
        r -= p
    return Arrival(at, s.code, Priority.NORMAL, service_ms)
