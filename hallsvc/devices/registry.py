"""The hall's devices: which exist, what they are, which window they belong to.

A hall file may list its devices (`[[devices]]`, parsed with `DeviceSpec`);
a hall that lists none gets `default_devices`: a board and a rating pad per
window, one hall board, one hall-wide caller, two temperature sensors, and two
attendance readers (003 4.4.4.1.2). firmware-sim derives the same set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import Annotated

import msgspec

from hallsvc.devices.topics import DeviceKind

Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class DeviceSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One `[[devices]]` item of the hall file."""

    id: Id
    kind: DeviceKind
    window: Id | None = None  # window boards and pads: the window they belong to
    windows: tuple[Id, ...] = ()  # callers: the windows they announce; () = every window
    width: Annotated[int, msgspec.Meta(ge=4, le=512)] = 16  # boards: half-width cells a row
    rows: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2  # boards
    place: str = ""  # where it hangs, for the manager's alarm text

    def covers(self, window: str) -> bool:
        """Whether this device serves `window` (a hall board or a hall-wide
        caller serves every window)."""
        if self.kind in (DeviceKind.WINDOW_BOARD, DeviceKind.PAD):
            return self.window == window
        if self.kind is DeviceKind.CALLER:
            return not self.windows or window in self.windows
        return self.kind is DeviceKind.HALL_BOARD


def _served(d: DeviceSpec) -> tuple[str, ...] | None:
    """What `d.covers` answers, as data: its windows, or None for every window."""
    if d.kind in (DeviceKind.WINDOW_BOARD, DeviceKind.PAD):
        return (d.window,) if d.window is not None else ()
    if d.kind is DeviceKind.CALLER:
        return tuple(sorted(set(d.windows))) if d.windows else None
    return None if d.kind is DeviceKind.HALL_BOARD else ()


class RegistryError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def default_devices(window_ids: Sequence[str]) -> tuple[DeviceSpec, ...]:
    out: list[DeviceSpec] = []
    for w in window_ids:
        out.append(DeviceSpec(f"WB-{w}", DeviceKind.WINDOW_BOARD, window=w, width=16, rows=2))
        out.append(DeviceSpec(f"PAD-{w}", DeviceKind.PAD, window=w))
    out.append(DeviceSpec("HB-1", DeviceKind.HALL_BOARD, width=32, rows=8, place="大厅"))
    out.append(DeviceSpec("CALLER-1", DeviceKind.CALLER, place="大厅"))
    out += [DeviceSpec(f"TEMP-{i}", DeviceKind.SENSOR) for i in (1, 2)]
    out += [DeviceSpec(f"READER-{i}", DeviceKind.READER) for i in (1, 2)]
    return tuple(out)


@dataclass(frozen=True)
class Registry:
    devices: tuple[DeviceSpec, ...]
    by_id: dict[str, DeviceSpec] = field(init=False, repr=False, compare=False)
    # Device id -> the windows it serves, sorted; None: every window (a hall
    # board, a hall-wide caller). Worked out once here, so that the monitor's
    # once-a-second Q6 check does not ask `covers` per device and per window
    # on the event loop that answers call-next (issue 3).
    served: dict[str, tuple[str, ...] | None] = field(init=False, repr=False, compare=False)
    # The devices of each kind, and of each (kind, window), in declared order:
    # every call and finish looks up its window's boards (issue 3: a scan of
    # 400 devices per verb was a tenth of call-next's time).
    kinds: dict[DeviceKind, tuple[DeviceSpec, ...]] = field(init=False, repr=False,
                                                           compare=False)
    at_window: dict[tuple[DeviceKind, str], tuple[DeviceSpec, ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {d.id: d for d in self.devices})
        object.__setattr__(self, "served", {d.id: _served(d) for d in self.devices})
        kinds: dict[DeviceKind, list[DeviceSpec]] = {}
        at_window: dict[tuple[DeviceKind, str], list[DeviceSpec]] = {}
        for d in self.devices:
            kinds.setdefault(d.kind, []).append(d)
            if d.window is not None:
                at_window.setdefault((d.kind, d.window), []).append(d)
        object.__setattr__(self, "kinds", {k: tuple(v) for k, v in kinds.items()})
        object.__setattr__(self, "at_window", {k: tuple(v) for k, v in at_window.items()})

    @classmethod
    def build(cls, specs: Iterable[DeviceSpec], window_ids: Iterable[str]) -> Registry:
        """Check the devices against the hall's windows; RegistryError lists
        every problem as `devices[i].<key>: <what is wrong>`."""
        specs = tuple(specs)
        windows = set(window_ids)
        problems: list[str] = []
        seen: set[str] = set()
        for i, d in enumerate(specs):
            if d.id in seen:
                problems.append(f'devices[{i}].id: device "{d.id}" is declared twice')
            seen.add(d.id)
            needs_window = d.kind in (DeviceKind.WINDOW_BOARD, DeviceKind.PAD)
            if needs_window and d.window is None:
                problems.append(f"devices[{i}].window: a {d.kind.value} belongs to a window")
            if not needs_window and d.window is not None:
                problems.append(f"devices[{i}].window: a {d.kind.value} has no window "
                                "(callers list theirs in `windows`)")
            if d.window is not None and d.window not in windows:
                problems.append(f'devices[{i}].window: unknown window "{d.window}"')
            if d.windows and d.kind is not DeviceKind.CALLER:
                problems.append(f"devices[{i}].windows: only callers have `windows`")
            for j, w in enumerate(d.windows):
                if w not in windows:
                    problems.append(f'devices[{i}].windows[{j}]: unknown window "{w}"')
        if problems:
            raise RegistryError(problems)
        return cls(specs)

    @classmethod
    def for_hall(cls, specs: Sequence[DeviceSpec], window_ids: Sequence[str]) -> Registry:
        """The listed devices, or the default set when none are listed."""
        return cls.build(specs or default_devices(window_ids), window_ids)

    def serves(self, device_id: str, windows: Set[str]) -> tuple[str, ...]:
        """The windows among `windows` that the device serves, sorted: the same
        as `covers` asked of each, from the mapping worked out once."""
        own = self.served[device_id]
        if own is None:
            return tuple(sorted(windows))
        return tuple(w for w in own if w in windows)

    def get(self, device_id: str) -> DeviceSpec | None:
        return self.by_id.get(device_id)

    def of_kind(self, kind: DeviceKind) -> tuple[DeviceSpec, ...]:
        return self.kinds.get(kind, ())

    def boards_of(self, window: str) -> tuple[DeviceSpec, ...]:
        """The window boards over `window` (Q6: a call shows there)."""
        return self.at_window.get((DeviceKind.WINDOW_BOARD, window), ())

    def pads_of(self, window: str) -> tuple[DeviceSpec, ...]:
        return self.at_window.get((DeviceKind.PAD, window), ())

    def callers_for(self, window: str) -> tuple[DeviceSpec, ...]:
        """The callers that announce calls to `window` (Q6)."""
        return tuple(d for d in self.of_kind(DeviceKind.CALLER) if d.covers(window))
