"""Energy meters on mocks and a replayed (hand-made) NVML sequence: no GPU, no RAPL needed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from roofline.measure.meters import pick_meter
from roofline.measure.meters.base import MeterError, counter_delta, measure_windows
from roofline.measure.meters.modeled import ModeledMeter
from roofline.measure.meters.nvml import ENERGY_WRAP_MJ, NvmlMeter, decode_throttle
from roofline.measure.meters.rapl import RaplMeter

FIXTURES = Path(__file__).parents[1] / "fixtures"


class FakeClock:
    """Integer microsecond ticks, so window arithmetic is exact."""

    def __init__(self):
        self.us = 0

    def __call__(self) -> float:
        return self.us / 1e6

    def advance(self, s: float) -> None:
        self.us += round(s * 1e6)


class NotSupported(Exception):
    pass


class FakeNvml:
    """pynvml stand-in: the energy counter returns scripted values in order."""

    NVML_CLOCK_SM = 1
    NVML_TEMPERATURE_GPU = 0
    NVMLError_NotSupported = NotSupported

    def __init__(self, energy_mj, clocks=(1980.0,), temps=(40.0,), masks=(0,), energy_error=None):
        self.energy, self.clocks, self.temps, self.masks = list(energy_mj), list(clocks), list(temps), list(masks)
        self.energy_error = energy_error
        self.shutdown = False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetHandleByIndex(self, i):
        return f"gpu{i}"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.energy_error:
            raise self.energy_error
        return self.energy.pop(0) if len(self.energy) > 1 else self.energy[0]

    def _next(self, seq):
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def nvmlDeviceGetClockInfo(self, h, which):
        return self._next(self.clocks)

    def nvmlDeviceGetTemperature(self, h, which):
        return self._next(self.temps)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return self._next(self.masks)

    def nvmlSystemGetDriverVersion(self):
        return b"580.65.06"


def _kernel(clock: FakeClock, call_s: float):
    def fn():
        clock.advance(call_s)
    return fn


def test_counter_delta_and_wrap():
    assert counter_delta(100, 350, None) == 250
    assert counter_delta(2**64 - 10, 40, 2**64) == 50
    with pytest.raises(MeterError):
        counter_delta(500, 100, None)


def test_nvml_counter_deltas_per_call():
    clock = FakeClock()
    # construction reads once; then per trial: start, end. 1000 calls of 1 ms at 400 W -> 0.4 J each.
    nv = FakeNvml([0, 10_000, 410_000, 410_000, 810_000])
    m = NvmlMeter(nvml=nv, window_s=1.0, trials=2, clock=clock, sleep=clock.advance)
    r = m.measure(_kernel(clock, 1e-3), lambda: None, call_s=1e-3)
    assert r.method == "nvml-counter"
    assert r.trials == 2 and r.calls == 1000
    assert r.energy_j == pytest.approx(0.4)
    assert r.power_w == pytest.approx(400.0)
    assert r.energy_cv == pytest.approx(0.0)
    assert math.isnan(r.energy_dynamic_j)  # no idle measured yet


def test_nvml_idle_and_dynamic_energy():
    clock = FakeClock()
    nv = FakeNvml([0, 0, 150_000, 150_000, 650_000])  # idle: 150 J over 2 s = 75 W
    m = NvmlMeter(nvml=nv, window_s=1.0, trials=1, clock=clock, sleep=clock.advance)
    assert m.idle_power_w(2.0) == pytest.approx(75.0)
    r = m.measure(_kernel(clock, 1e-3), lambda: None, call_s=1e-3)
    assert r.energy_j == pytest.approx(0.5)
    assert r.energy_dynamic_j == pytest.approx(0.5 - 75.0 * 1e-3)
    assert r.idle_power_w == pytest.approx(75.0)


def test_nvml_counter_wrap_is_exact():
    clock = FakeClock()
    nv = FakeNvml([0, ENERGY_WRAP_MJ - 100_000, 400_000])  # 500 J across the 2^64 mJ wrap
    m = NvmlMeter(nvml=nv, window_s=1.0, trials=1, clock=clock, sleep=clock.advance)
    r = m.measure(_kernel(clock, 1e-3), lambda: None, call_s=1e-3)
    assert r.energy_j == pytest.approx(0.5, rel=1e-12)


def test_nvml_unsupported_counter_is_a_meter_error():
    with pytest.raises(MeterError, match="not supported"):
        NvmlMeter(nvml=FakeNvml([0], energy_error=NotSupported("Not Supported")))


def test_nvml_zero_window_rejected_then_longer_window():
    clock = FakeClock()
    # first window reads no change (counter not updated yet) -> rejected; the next (2 s) window counts
    nv = FakeNvml([0, 5_000, 5_000, 5_000, 1_005_000])
    m = NvmlMeter(nvml=nv, window_s=1.0, trials=1, clock=clock, sleep=clock.advance)
    r = m.measure(_kernel(clock, 1e-3), lambda: None, call_s=1e-3)
    assert r.rejected_windows == 1
    assert r.calls == 2000
    assert r.energy_j == pytest.approx(0.5)


def test_nvml_counter_that_never_moves_raises():
    clock = FakeClock()
    m = NvmlMeter(nvml=FakeNvml([7]), window_s=0.1, trials=1, clock=clock, sleep=clock.advance)
    with pytest.raises(MeterError, match="not updating"):
        m.measure(_kernel(clock, 1e-3), lambda: None, call_s=1e-3)


def test_nvml_throttling_clocks_and_temperature_recorded():
    clock = FakeClock()
    nv = FakeNvml([0, 0, 600_000], clocks=[1980, 1410], temps=[45, 83], masks=[0x1, 0x4 | 0x40])
    m = NvmlMeter(nvml=nv, window_s=1.0, trials=1, clock=clock, sleep=clock.advance)
    r = m.measure(_kernel(clock, 1e-3), lambda: None, call_s=1e-3)
    assert (r.sm_clock_mhz_before, r.sm_clock_mhz_after) == (1980, 1410)
    assert (r.temp_c_before, r.temp_c_after) == (45, 83)
    assert r.throttle_reasons == "hw_thermal,sw_power_cap"  # gpu_idle before the load is not throttling
    assert decode_throttle(0x8 | 0x80) == ["hw_slowdown", "hw_power_brake"]


def test_nvml_replayed_sequence_fixture():
    """A hand-made NVML sequence (labelled as such in the fixture) replayed through the meter."""
    fx = json.loads((FIXTURES / "nvml_replay_handmade.json").read_text())
    assert "HAND-MADE" in fx["_note"]
    clock = FakeClock()
    nv = FakeNvml([0, *fx["idle_energy_mj"], *fx["energy_mj"]], clocks=fx["sm_clock_mhz"], temps=fx["temp_c"],
                  masks=fx["throttle_mask"])
    m = NvmlMeter(nvml=nv, window_s=1.0, trials=3, clock=clock, sleep=clock.advance)
    assert m.idle_power_w(2.0) == pytest.approx(fx["expected"]["idle_w"])
    r = m.measure(_kernel(clock, fx["call_s"]), lambda: None, call_s=fx["call_s"])
    assert r.trials == 3
    assert r.energy_j == pytest.approx(fx["expected"]["energy_per_call_j"])
    assert r.energy_cv == pytest.approx(0.0, abs=1e-12)
    assert r.throttle_reasons == fx["expected"]["throttle_reasons"]
    m.close()
    assert nv.shutdown


def test_measure_windows_rejects_bad_window():
    with pytest.raises(MeterError):
        measure_windows(lambda: None, lambda: None, lambda: 0, 1e-3, window_s=0)


def _rapl_tree(tmp_path: Path, energy_uj: int, max_uj: int) -> Path:
    z = tmp_path / "intel-rapl:0"
    z.mkdir(parents=True, exist_ok=True)
    (z / "energy_uj").write_text(str(energy_uj))
    (z / "max_energy_range_uj").write_text(str(max_uj))
    (tmp_path / "intel-rapl:0:0").mkdir(exist_ok=True)  # a subdomain (core): not summed
    return z


def test_rapl_window_with_wrap(tmp_path):
    z = _rapl_tree(tmp_path, 999_000_000, 999_999_999)
    clock = FakeClock()
    m = RaplMeter(window_s=1.0, trials=1, root=tmp_path, clock=clock, sleep=clock.advance)

    def fn():  # 1 ms at 50 W: the counter wraps during the window
        clock.advance(1e-3)
        v = int((z / "energy_uj").read_text()) + 50_000
        (z / "energy_uj").write_text(str(v % 1_000_000_000))

    r = m.measure(fn, lambda: None, call_s=1e-3)
    assert r.method == "rapl"
    assert r.energy_j == pytest.approx(0.05)
    assert r.power_w == pytest.approx(50.0)


def test_rapl_unavailable_is_a_meter_error(tmp_path):
    with pytest.raises(MeterError, match="no package zones"):
        RaplMeter(root=tmp_path)


def test_modeled_meter_labels_and_uses_coefficients():
    import hwdb
    from roofline.engine.energy import coefficients_for

    dev = hwdb.get("h100-sxm")
    m = ModeledMeter(dev)
    r = m.measure(lambda: None, lambda: None, call_s=1e-3, flops=1e12, bytes_moved=1e9, dtype="bf16")
    assert r.method == "modeled"
    assert r.energy_j == pytest.approx(coefficients_for(dev).energy_j(1e-3, 1e12, 1e9, "bf16"))
    r = ModeledMeter(None).measure(lambda: None, lambda: None, call_s=1e-3)
    assert math.isnan(r.energy_j) and r.notes


def test_pick_meter_on_a_cpu_host_without_rapl():
    m = pick_meter("cpu", None, "auto")
    assert m.method in ("rapl", "modeled")
    assert pick_meter("cpu", None, "none") is None
    with pytest.raises(MeterError):
        pick_meter("cpu", None, "nvml")
    with pytest.raises(MeterError):
        pick_meter("cpu", None, "bogus")
