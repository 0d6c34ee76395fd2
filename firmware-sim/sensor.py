#!/usr/bin/env python3
"""A simulated temperature sensor (H6): a reading every `interval` seconds,
drifting slowly around a base value, with noise and, now and then, faults:

- `no_probe`: the probe is disconnected; `celsius` is nil with the fault named;
- `spike`: a DS18B20 powering up says 85.0 °C (the server treats it as a fault);
- `stuck`: the same value over and over.

    python firmware-sim/sensor.py --hall demo --id TEMP-1 --interval 5 --fault-rate 0.01
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any, ClassVar

from devicekit import SCHEMA_VERSION, Device, MqttUrl, common_args, now_ms, serve

FAULTS = ("no_probe", "spike", "stuck")


class TemperatureSensor(Device):
    kind: ClassVar[str] = "sensor"

    def __init__(self, hall: str, device_id: str, mqtt: MqttUrl | str, *,
                 interval: float = 5.0, base: float = 22.0, drift: float = 0.02,
                 noise: float = 0.05, fault_rate: float = 0.0, seed: int | None = None,
                 **kw: Any) -> None:
        super().__init__(hall, device_id, mqtt, **kw)
        self.interval = interval
        self.value = base
        self.drift = drift
        self.noise = noise
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.fault: str | None = None
        self._fault_left = 0
        self._stuck_at = base
        self.sent = 0

    def set_temperature(self, celsius: float) -> None:
        """The hall warms or cools: readings go on from this value."""
        self.value = celsius

    def next_reading(self) -> dict[str, Any]:
        self.value += self.rng.gauss(0, self.drift)
        if self._fault_left == 0 and self.rng.random() < self.fault_rate:
            self.fault, self._fault_left = self.rng.choice(FAULTS), self.rng.randint(1, 5)
            self._stuck_at = round(self.value, 2)
        body: dict[str, Any] = {"v": SCHEMA_VERSION, "at_ms": now_ms(),
                                "celsius": round(self.value + self.rng.gauss(0, self.noise), 2),
                                "humidity": round(45 + self.rng.gauss(0, 1), 1), "fault": ""}
        if self._fault_left > 0:
            self._fault_left -= 1
            if self.fault == "no_probe":
                body.update(celsius=None, humidity=None, fault="no_probe")
            elif self.fault == "spike":
                body["celsius"] = 85.0
            else:  # stuck
                body["celsius"] = self._stuck_at
        return body

    async def read_now(self) -> dict[str, Any]:
        body = self.next_reading()
        await self.publish("reading", body)
        self.sent += 1
        return body

    def background(self) -> list[Any]:
        return [self._timer()]

    async def _timer(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                body = await self.read_now()
                if self.echo:
                    print(f"🌡 {self.device_id}: {body['celsius']} {body['fault']}", flush=True)
            await asyncio.sleep(self.interval)


if __name__ == "__main__":
    p = common_args("a simulated temperature sensor")
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--base", type=float, default=22.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int)
    a = p.parse_args()
    serve(lambda: TemperatureSensor(a.hall, a.id, a.mqtt, interval=a.interval, base=a.base,
                                    fault_rate=a.fault_rate, seed=a.seed, prefix=a.prefix,
                                    keepalive=a.keepalive, echo=False), verbose=a.verbose)
