"""One timing method for every implementation of a point (the GPU paths with the CUDA calls stubbed)."""

from __future__ import annotations

import pytest

from roofline.measure import timers
from roofline.measure.timers import GRAPH_BELOW_S, GraphCaptureError, Timing, cuda_method_for, time_point


def test_method_is_graph_when_any_impl_is_tiny_else_events():
    assert cuda_method_for([GRAPH_BELOW_S / 2, 1e-3]) == "graph"  # the peer is replayed too, not timed cold
    assert cuda_method_for([2 * GRAPH_BELOW_S, 1e-3]) == "events"


def _fake_cuda(monkeypatch, est: dict, uncapturable: set):
    calls = []

    def estimate(fn, warmup=5):
        return est[fn.__name__]

    def time_cuda(fn, target_s=0.5, method="auto", **_):
        calls.append((fn.__name__, method))
        if method == "graph" and fn.__name__ in uncapturable:
            raise GraphCaptureError("host sync")
        return Timing(1e-5, 1e-5, 1e-5, 10, "cuda-graph" if method == "graph" else "cuda-events")

    monkeypatch.setattr(timers, "estimate_cuda_s", estimate)
    monkeypatch.setattr(timers, "time_cuda", time_cuda)
    return calls


def ours():
    return None


def peer():
    return None


def test_time_point_uses_one_method_and_falls_back_together(monkeypatch):
    calls = _fake_cuda(monkeypatch, {"ours": 5e-6, "peer": 4e-5}, set())
    t = time_point({"ours": ours, "peer": peer}, "cuda")
    assert {x.method for x in t.values()} == {"cuda-graph"} and calls == [("ours", "graph"), ("peer", "graph")]
    calls = _fake_cuda(monkeypatch, {"ours": 5e-6, "peer": 4e-5}, {"peer"})
    t = time_point({"ours": ours, "peer": peer}, "cuda")
    assert {x.method for x in t.values()} == {"cuda-events"}  # ours is re-timed with events, not kept on graph
    assert calls[-2:] == [("ours", "events"), ("peer", "events")]


def test_time_point_on_cpu_is_perf_counter():
    t = time_point({"ours": ours, "peer": peer}, "cpu", target_s=0.001)
    assert {x.method for x in t.values()} == {"perf_counter"}


def test_unknown_cuda_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        timers.time_cuda(ours, method="warp")
