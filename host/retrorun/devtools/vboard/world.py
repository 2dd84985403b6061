"""A scenario of the obstacle simulator as the virtual board's world (`ScenarioWorld`).

The scenario (docs/scenarios.md) drives the board's chip models: what the distance sensor sees,
the runner's gait for the IMU, the sensor faults (unplugged, stuck, blinded) and the button
presses, all in scenario time from the board's power-on (again after every hard reset).
"""

from __future__ import annotations

from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.vboard.hw import Hardware

AMBIENT_DARK_KCPS = 40  # the VL53L1X chip model's indoor ambient rate
AMBIENT_SUN_KCPS = 8000  # strong ambient: 200 kcps/SPAD (ST) x ~40 SPADs (assumed)
# scenario fault type -> chip model fault per sensor kind (retrorun.devtools.models)
_CHIP_FAULTS = {"stuck": {"vl53l1x": "frozen", "tfluna": "frozen", "uart_ultrasonic": "silent"},
                "blinded": {"vl53l1x": "sunlight", "tfluna": "overexposed",
                            "uart_ultrasonic": "silent"}}


class ScenarioWorld:
    """A scenario file of the obstacle simulator (docs/scenarios.md) as the board's world.

    `accel(t_s)` is a synthesized gait for the runner's speed (and `runner.cadence_spm` if the
    scenario gives one), for the IMU models.

    Scenario time 0 is the board's power-on, and the scenario starts again at every hard reset
    (`restart`): deploy and configure, reset, and the run plays out. The scenario's
    `device.button_presses_s` are short presses of the board's button at those times. `distance_mm(t_us)`: the nearest object (or the
    ground, for a tilted sensor) inside the sensor's beam that the simulator's sensor model
    detects with probability >= 0.5, None when nothing is; the chip models add their noise. The sensor's
    `faults` of type "unplugged" are applied by `apply(hw)`: the distance chip stops answering
    on its bus (I2C NACK, UART silence, no echo) for the fault's duration."""

    def __init__(self, scenario, *, readings: bool = False):
        from retrorun.devtools.sim import scenario as scn
        from retrorun.devtools.sim.sensors import SensorModel
        from retrorun.devtools.sim.world import Runner, build_objects

        if isinstance(scenario, dict):
            scenario = scn.parse(scenario)
        elif not isinstance(scenario, scn.Scenario):
            scenario = scn.load(scenario)
        self.scenario = scenario
        self.runner = Runner(scenario.runner)
        self.objects = build_objects(scenario.objects)
        self.sensor = SensorModel(scenario.sensor)
        self.unplugged = False
        self._chip = None  # the distance chip model, once the board is wired
        self.t0_us = 0  # board time of the scenario's start
        self._gen = 0  # restarts so far: actions scheduled by an earlier start are void
        self._phase = 0.0  # steps taken so far (fractional)
        self._phase_t = 0.0
        # readings=True: what the sensor sees is the simulator's sensor model, reading by
        # reading (noise, dropouts, spurious echoes, the ground), drawn when the chip model
        # measures (the echo, the frame, the ranging), from the scenario's seed
        self.readings = readings
        self.measured: list[tuple[int, int | None]] = []  # (scenario t_ms, mm or None)
        self._rnd = None
        self._last: tuple[int, float | None] | None = None

    def distance_mm(self, t_us: int) -> float | None:
        if self.unplugged:
            return None
        if self.readings:
            return self._reading(t_us)
        from retrorun.devtools.sim import ground

        t = (t_us - self.t0_us) / 1e6
        sensor, runner = self.sensor, self.runner
        best = None
        for obj in self.objects:
            s = sensor.sees(obj, t, runner)
            if s is not None and s.in_beam and sensor.detect_probability(
                    s.range_m, s.reliable_m) >= 0.5 and (best is None or s.range_m < best):
                best = s.range_m
        g = ground.ground_sighting(sensor, sensor.axis_elev(t, runner), runner.slope)
        if g is not None and (best is None or g[0] < best):
            best = g[0]
        return None if best is None else best * 1000

    def _reading(self, t_us: int) -> float | None:
        import random

        if self._last is not None and self._last[0] == t_us:
            return self._last[1]
        if self._rnd is None:
            self._rnd = random.Random(self.scenario.seed)
        self._follow_chip()
        t = (t_us - self.t0_us) / 1e6
        value = self.sensor.reading_at(t, self.runner, self.objects, self._rnd)
        self.measured.append((int(t * 1000), value))
        if value is not None and self._chip is not None and hasattr(self._chip, "reflectivity"):
            # the chip reports the signal of what it saw (VL53L1X signal rate, TF-Luna Amp)
            self._chip.reflectivity = max(0.02, min(1.0, self.sensor.last_signal))
        mm = None if value is None else float(value)
        self._last = (t_us, mm)
        return mm

    def _follow_chip(self) -> None:
        """The sensor model follows what the firmware configured in the chip: a VL53L1X's
        field of view is the ROI its driver set."""
        chip = self._chip
        if chip is not None and hasattr(chip, "fov_deg") and self.sensor.kind.name == "vl53l1x":
            self.sensor.set_half_beam_deg(chip.fov_deg() / 2)

    def _plug_chip(self, hw: Hardware, profile: dict) -> None:
        """Find the distance chip model on the board and give it the scenario's light: a
        VL53L1X's ambient rate follows the sunlight (200 kcps/SPAD in the datasheet's strong
        ambient, over ~40 SPADs: 8000 kcps, the chip model's "sunlight" figure)."""
        distance = profile.get("distance", {})
        chip = None
        if "address" in distance:
            bus = hw.i2c.get(profile.get("i2c", {}).get("id", 0))
            chip = bus.devices.get(distance["address"]) if bus is not None else None
        elif "uart" in distance:
            chip = hw.uart_models.get(distance["uart"]["id"])
        self._chip = chip
        if chip is not None and hasattr(chip, "ambient_kcps"):
            chip.ambient_kcps = int(AMBIENT_DARK_KCPS + AMBIENT_SUN_KCPS * self.sensor.sunlight)

    def cadence_spm(self, t_s: float) -> float:
        """Steps per minute the runner makes at t: the scenario's `runner.cadence_spm`, else
        from the speed (backward running: ~150 spm slow, ~185 spm at 3 m/s); 0 when still."""
        return self.runner.cadence_spm(t_s)  # the hip sway is not walking

    def accel(self, t_s: float) -> tuple[float, float, float]:
        """Synthesized gait at the waist, in g (device Z up): 1 g plus a heel-strike bump per
        step (amplitude growing with speed) and a lateral sway at the stride rate; lying-still
        1 g on Z when the runner stands. Step phase is integrated, so cadence changes are
        smooth."""
        import math

        t_s -= self.t0_us / 1e6
        self._advance_phase(t_s)
        spm = self.cadence_spm(t_s)
        if spm <= 0:
            return (0.0, 0.0, 1.0)
        amp = 0.35 + 0.2 * min(abs(self.runner.travel_speed(t_s)), 4.0)
        ph = 2 * math.pi * self._phase
        bump = math.sin(ph) + 0.35 * math.sin(2 * ph + 0.6)
        return (0.08 * math.sin(ph / 2), 0.05 * math.cos(ph), 1.0 + amp * bump)

    def _advance_phase(self, t_s: float) -> None:
        """Step phase (in steps) up to t_s, integrated in 10 ms steps from the last call."""
        t0 = self._phase_t
        if t_s <= t0:
            return
        dt = 0.01
        while t0 < t_s:
            step = min(dt, t_s - t0)
            self._phase += self.cadence_spm(t0) / 60.0 * step
            t0 += step
        self._phase_t = t_s

    def apply(self, hw: Hardware, profile: dict) -> None:
        """Start the scenario now: its "unplugged" faults on the distance sensor's bus and its
        button presses are scheduled from this moment."""
        self.restart(hw, profile)

    def restart(self, hw: Hardware, profile: dict) -> None:
        """(Re)start the scenario at the board's current time (called at every hard reset)."""
        self._gen += 1
        gen = self._gen
        self.t0_us = hw.now_us
        self._rnd = None  # the same readings again after a reset
        self._last = None
        self.sensor.reset()
        self._plug_chip(hw, profile)
        self.measured.clear()
        self._phase = 0.0
        self._phase_t = 0.0
        if self.unplugged:
            self._plug(hw, profile.get("distance", {}), profile.get("i2c", {}).get("id", 0),
                       True, gen)
        distance = profile.get("distance", {})
        bus_id = profile.get("i2c", {}).get("id", 0)
        for fault in self.scenario.sensor.get("faults", []):
            start = self.t0_us + int(fault["at_s"] * 1e6)
            end = start + int(fault.get("duration_s", 1e9) * 1e6)
            if fault.get("type") == "unplugged":
                hw.schedule(start, lambda: self._plug(hw, distance, bus_id, False, gen))
                hw.schedule(end, lambda: self._plug(hw, distance, bus_id, True, gen))
            elif fault.get("type") in _CHIP_FAULTS:
                kind = fault["type"]
                hw.schedule(start, lambda k=kind: self._chip_fault(hw, distance, k, gen))
                hw.schedule(end, lambda: self._chip_fault(hw, distance, None, gen))
        button = profile.get("button")
        for at_s in self.scenario.device.get("button_presses_s", []):
            if button:
                hw.schedule(self.t0_us + int(at_s * 1e6),
                            lambda: self._press(hw, button, gen))

    def _chip_fault(self, hw: Hardware, distance: dict, fault: str | None, gen: int) -> None:
        """A scenario's "stuck" / "blinded" sensor: the chip model's fault of that kind (an
        HC-SR04 whose ECHO never rises, an overexposed TF-Luna, a VL53L1X in sunlight)."""
        if gen != self._gen:
            return
        kind = distance.get("kind", "")
        hw.log.append((hw.now_us, f"{kind} {fault or 'fault cleared'}"))
        if kind in ("hcsr04", "jsnsr04t"):
            if hw.ultrasonic is not None:  # stuck: ECHO never rises
                hw.ultrasonic.fault = "stuck_low" if fault is not None else None
            return
        model = None
        if "address" in distance:
            bus = hw.i2c.get((hw.profile or {}).get("i2c", {}).get("id", 0))
            model = bus.devices.get(distance["address"]) if bus is not None else None
        elif "uart" in distance:
            model = hw.uart_models.get(distance["uart"]["id"])
        if model is not None and hasattr(model, "fault"):
            model.fault = _CHIP_FAULTS.get(fault, {}).get(kind) if fault else None

    def _press(self, hw: Hardware, button: dict, gen: int) -> None:
        if gen == self._gen:
            hw.press_button(button["pin"], hw.now_us, 150_000,
                            active_low=button.get("active_low", True))

    def _plug(self, hw: Hardware, distance: dict, bus_id: int, present: bool,
              gen: int | None = None) -> None:
        if gen is not None and gen != self._gen:
            return
        self.unplugged = not present
        hw.log.append((hw.now_us, ("replugged " if present else "unplugged ") + distance.get(
            "kind", "sensor")))
        if distance.get("kind") in ("hcsr04", "jsnsr04t"):
            if hw.ultrasonic is not None:
                hw.ultrasonic.fault = None if present else "unplugged"
        elif "address" in distance:
            unplugged = hw.i2c.setdefault(bus_id, I2CBus()).unplugged
            (unplugged.discard if present else unplugged.add)(distance["address"])
        elif "uart" in distance:
            model = hw.uart_models.get(distance["uart"]["id"])
            if model is not None and hasattr(model, "fault"):
                model.fault = None if present else "silent"


class RecordingWorld:
    """A recorded walk or run (`retrorun.devtools.steps_eval.Recording`: times, m/s^2 with
    gravity) as what the board's IMU feels: lying still (1 g on Z) until `start_s` of board
    time, then the recording (linear interpolation between its samples), then still again. The
    distance sensor sees nothing. `end_s`: board time when the recording ends."""

    G_MS2 = 9.80665

    def __init__(self, recording, start_s: float = 1.0):
        from bisect import bisect_right

        self._bisect = bisect_right
        self.t = [x - recording.t[0] for x in recording.t]
        self.acc = recording.acc
        self.start_s = start_s
        self.end_s = start_s + self.t[-1]

    def distance_mm(self, t_us: int) -> float | None:
        return None

    def accel(self, t_s: float) -> tuple[float, float, float]:
        r = t_s - self.start_s
        if r < 0 or r > self.t[-1]:
            return (0.0, 0.0, 1.0)
        i = max(1, min(len(self.t) - 1, self._bisect(self.t, r)))
        t0, t1 = self.t[i - 1], self.t[i]
        w = 0.0 if t1 <= t0 else (r - t0) / (t1 - t0)
        a0, a1 = self.acc[i - 1], self.acc[i]
        return tuple((a0[k] + (a1[k] - a0[k]) * w) / self.G_MS2 for k in range(3))  # type: ignore[return-value]
