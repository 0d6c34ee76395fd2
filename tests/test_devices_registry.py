"""The registry's window mapping, worked out once when it is built (issue 3):
it answers as `DeviceSpec.covers` does, for every device and any set of open
windows, and the Q6 offline alarm reads it. Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hallsvc.devices.registry import DeviceSpec, Registry, default_devices
from hallsvc.devices.topics import DeviceKind

WINDOWS = ("W01", "W02", "W03", "W04")
REG = Registry.build([
    *default_devices(WINDOWS),
    DeviceSpec("CALLER-EAST", DeviceKind.CALLER, windows=("W03", "W02", "W03")),
    DeviceSpec("CALLER-W04", DeviceKind.CALLER, windows=("W04",)),
], WINDOWS)


def test_each_device_serves_its_windows() -> None:
    everything = set(WINDOWS)
    assert REG.serves("WB-W02", everything) == ("W02",)
    assert REG.serves("PAD-W02", everything) == ("W02",)
    assert REG.serves("CALLER-EAST", everything) == ("W02", "W03")  # sorted, once each
    assert REG.serves("CALLER-1", everything) == WINDOWS  # hall-wide
    assert REG.serves("HB-1", everything) == WINDOWS
    assert REG.serves("TEMP-1", everything) == ()
    assert REG.serves("READER-1", everything) == ()
    assert REG.serves("CALLER-EAST", {"W01", "W04"}) == ()
    assert REG.serves("HB-1", set()) == ()


@given(st.sets(st.sampled_from(WINDOWS)))
def test_the_mapping_answers_as_covers_does(open_windows: set[str]) -> None:
    for d in REG.devices:
        expected = tuple(sorted(w for w in open_windows if d.covers(w)))
        assert REG.serves(d.id, open_windows) == expected, d.id
