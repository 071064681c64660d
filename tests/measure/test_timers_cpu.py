"""CPU timing: rounds until the spread is stable or a limit is hit, a warning above p80/p20 = 2, and a warning
when the host is busy. Replayed on a fake clock (each call 'takes' what the script says), no real timing."""

from __future__ import annotations

import itertools

import pytest

from roofline.measure import timers


class FakeClock:
    """A clock where every call of ``fn`` lasts the next duration of ``durations`` (cycled)."""

    def __init__(self, durations):
        self.t = 0.0
        self.durations = itertools.cycle(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.t

    def fn(self) -> None:
        self.calls += 1
        self.t += next(self.durations)


def test_a_calm_kernel_stops_after_two_agreeing_rounds():
    c = FakeClock([1e-3])
    t = timers.time_cpu(c.fn, target_s=0.02, warmup=1, min_reps=10, clock=c)
    assert t.stable and t.rounds == 2 and t.median_s == pytest.approx(1e-3) and t.spread == pytest.approx(1.0)
    assert t.reps == 20  # two rounds of max(0.01 s / 1 ms, 10) calls
    assert timers.spread_warning("k", t) is None


def test_a_first_round_disturbed_by_the_host_is_repeated_not_reported():
    # warm-up and the first round run 1000x slower (another process held the cores), then the host is calm
    slow, fast = 16e-3, 16e-6
    c = FakeClock([slow] * 11 + [fast] * 10_000)
    t = timers.time_cpu(c.fn, target_s=0.02, warmup=1, min_reps=10, clock=c)
    assert t.stable and t.rounds >= 3
    assert t.median_s == pytest.approx(fast)  # the two agreeing calm rounds, not the disturbed one


def test_a_kernel_that_never_settles_hits_the_round_limit_and_is_flagged():
    c = FakeClock([1e-3, 5e-3, 1e-3, 9e-3, 2e-3])  # p80/p20 well above 2 in every round
    t = timers.time_cpu(c.fn, target_s=0.02, warmup=1, min_reps=10, clock=c, max_rounds=4)
    assert not t.stable and t.rounds == 4 and t.reps == c.calls - 1  # every sample after the warm-up
    assert t.spread > 2
    w = timers.spread_warning("matmul {} fp16 ours", t)
    assert w.startswith("matmul {} fp16 ours: noisy timing (p80/p20 = ") and "not stable after 4 rounds" in w
    assert "\n" not in w


def test_rounds_are_sized_from_the_last_round_not_the_warm_up():
    # a 50 ms first call (lazy initialization) then 1 ms calls: the rounds still take ~ target / 2 each
    c = FakeClock([50e-3] + [1e-3] * 10_000)
    t = timers.time_cpu(c.fn, target_s=0.2, warmup=1, min_reps=10, clock=c)
    assert t.stable and t.median_s == pytest.approx(1e-3)
    assert c.calls <= 1 + 10 + 2 * 100 + 1  # warm-up, a 10-call round sized by the warm-up, then 100-call rounds


@pytest.mark.parametrize("load, cores, busy", [(0.3, 2, False), (1.4, 2, False), (1.6, 2, True), (4.2, 2, True),
                                               (6.0, 16, False)])
def test_busy_host_warning(monkeypatch, load, cores, busy):
    monkeypatch.setattr(timers.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(timers.os, "cpu_count", lambda: cores)
    w = timers.busy_warning()
    assert (w is not None) == busy
    if busy:
        assert w.startswith(f"host busy: load average {load:.2f} on {cores} cores") and "\n" not in w


def test_no_load_average_no_warning(monkeypatch):
    def nope():
        raise OSError("not on this OS")

    monkeypatch.setattr(timers.os, "getloadavg", nope)
    assert timers.host_load() is None and timers.busy_warning() is None


def test_profile_says_busy_host_and_noisy_rows(monkeypatch, tmp_path):
    """The profiler's warning path: a busy host is said once before the run; a noisy row is said per row."""
    from roofline.measure import profile

    monkeypatch.setattr(timers.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setattr(timers.os, "cpu_count", lambda: 2)
    noisy = timers.Timing(1e-3, 1e-4, 5e-3, 20, "perf_counter", rounds=8, stable=False)
    monkeypatch.setattr(profile, "time_point", lambda fns, device, target_s=None: {k: noisy for k in fns})
    res = profile.run_profile(profile.ProfileConfig(suite="quick", kernels=["copy"], out=str(tmp_path),
                                                    energy="none", use_gpu=False))
    assert any(w.startswith("host busy: load average 9.00 on 2 cores") for w in res.warnings)
    assert any("noisy timing (p80/p20 = 50.00 > 2, not stable after 8 rounds)" in w for w in res.warnings)
