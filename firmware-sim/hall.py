#!/usr/bin/env python3
"""A whole simulated hall: every device of a hall file, each a real MQTT
client in its own task, in one process.

The devices are the hall file's `[[devices]]`, or, where it lists none, the
default set (docs/mqtt.md): a board and a rating pad per window, one hall
board, one caller, two temperature sensors and two attendance readers.

    python firmware-sim/hall.py --hall demo --mqtt mqtt://127.0.0.1:1883
    python firmware-sim/hall.py --config configs/demo-hall.toml --mqtt mqtt://127.0.0.1:51883

Boards print what they show when it changes; the caller prints what it says.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from board import HallBoard, WindowBoard
from caller import VoiceCaller
from devicekit import PREFIX, Device, MqttUrl, default_devices, serve
from pad import RatingPad
from reader import AttendanceReader
from sensor import TemperatureSensor

REPO = Path(__file__).resolve().parent.parent


def hall_devices(raw: dict[str, Any]) -> list[dict[str, Any]]:
    listed = raw.get("devices")
    if listed:
        return [dict(d) for d in listed]
    return default_devices([w["id"] for w in raw.get("windows", [])])


def make_devices(hall: str, specs: list[dict[str, Any]], mqtt: MqttUrl, *,
                 prefix: str = PREFIX, echo: bool = True, chars_per_second: float = 4.0,
                 sensor_interval: float = 5.0, auto_rate: float | None = 3.0,
                 wav_dir: Path | None = None, clock_in: list[str] | None = None,
                 passwords: dict[str, str] | None = None) -> list[Device]:
    """`clock_in`: staff the first reader clocks in once it is up (a demo's morning).
    `passwords`: device id -> its own broker password; a device listed logs
    in as itself (docs/operations.md, Credentials), the others as `mqtt` says."""
    devices: list[Device] = []
    morning = list(clock_in or ())
    broker = mqtt
    for i, d in enumerate(specs):
        kind, ident = d["kind"], d["id"]
        if passwords and ident in passwords:
            mqtt = MqttUrl(broker.host, broker.port, ident, passwords[ident])
        else:
            mqtt = broker
        common: dict[str, Any] = {"prefix": prefix, "echo": echo}
        if kind == "window_board":
            devices.append(WindowBoard(hall, ident, mqtt, width=d.get("width", 16),
                                       rows=d.get("rows", 2), **common))
        elif kind == "hall_board":
            devices.append(HallBoard(hall, ident, mqtt, width=d.get("width", 32),
                                     rows=d.get("rows", 8), **common))
        elif kind == "caller":
            devices.append(VoiceCaller(hall, ident, mqtt, chars_per_second=chars_per_second,
                                       wav_dir=wav_dir, **common))
        elif kind == "sensor":
            devices.append(TemperatureSensor(hall, ident, mqtt, interval=sensor_interval,
                                             seed=i, fault_rate=0.01, prefix=prefix))
        elif kind == "reader":
            devices.append(AttendanceReader(hall, ident, mqtt, clock_in=morning, **common))
            morning = []
        elif kind == "pad":
            devices.append(RatingPad(hall, ident, mqtt, auto=auto_rate, seed=i, **common))
        else:
            raise SystemExit(f"devices[{i}].kind: unknown device kind {kind!r}")
    return devices


def read_passwords(path: Path) -> dict[str, str]:
    """`DEVICE-ID:password` per line (the simulated devices' own secrets)."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ident, sep, password = line.partition(":")
        if not sep or not ident or not password:
            raise SystemExit(f"{path}:{n}: expected DEVICE-ID:password")
        out[ident] = password
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="a simulated hall of devices")
    p.add_argument("--hall", help="hall id (default: the hall file's)")
    p.add_argument("--config", type=Path, help="hall file (default: configs/<hall>-hall.toml)")
    p.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    p.add_argument("--prefix", default=PREFIX)
    p.add_argument("--chars-per-second", type=float, default=4.0, help="callers' speed")
    p.add_argument("--sensor-interval", type=float, default=5.0)
    p.add_argument("--auto-rate", type=float, default=3.0,
                   help="pads answer after this many seconds (negative: never)")
    p.add_argument("--wav-dir", type=Path, help="callers write wav files (needs espeak-ng)")
    p.add_argument("--clock-in", default="", metavar="STAFF,…",
                   help="staff who clock in at the first reader once it is up")
    p.add_argument("--passwords", type=Path, metavar="FILE",
                   help="DEVICE-ID:password per line: each listed device logs in as itself")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args()
    config = a.config or REPO / "configs" / f"{a.hall or 'demo'}-hall.toml"
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    hall = a.hall or raw["hall"]["id"]
    specs = hall_devices(raw)
    mqtt = MqttUrl.parse(a.mqtt)
    print(f"simulated hall {hall}: {len(specs)} devices on {mqtt.host}:{mqtt.port} "
          f"(topics {a.prefix}/{hall}/dev/#); Ctrl-C stops", flush=True)
    serve(lambda: make_devices(hall, specs, mqtt, prefix=a.prefix, echo=not a.quiet,
                               chars_per_second=a.chars_per_second,
                               sensor_interval=a.sensor_interval,
                               auto_rate=a.auto_rate if a.auto_rate >= 0 else None,
                               wav_dir=a.wav_dir,
                               clock_in=[s for s in a.clock_in.split(",") if s],
                               passwords=read_passwords(a.passwords) if a.passwords else None),
          verbose=a.verbose)


if __name__ == "__main__":
    main()
