"""Runtime-profile fits: a known profile is recovered from points it generated; the shipped profiles name their
points and hold their held-out residuals; the 80% bands hold ~80% of held-out points (built without the
point's own source)."""

import dataclasses
import math
from types import MappingProxyType

import pytest

from roofline.analysis import runtime_fit as rf
from roofline.engine.runtime import Param, RuntimeProfile, get_profile, runtime_names
from roofline.engine.scenario import Scenario
from roofline.engine.validation import ServingPoint

TRUTH = {"gemm_eff_bf16": 0.6, "mem_eff": 0.8, "step_s": 1.5e-3}


def _base() -> RuntimeProfile:
    p = {"max_batched_tokens": Param("max_batched_tokens", 0.0, "assumed", ("test",))}
    return RuntimeProfile(name="synthetic", title="synthetic", description="", params=MappingProxyType(p))


def _points() -> list[ServingPoint]:
    truth = _base().with_values(**TRUTH)
    pts = []
    i = 0
    for dev in ("h100-sxm", "a100-sxm-80gb"):
        for phase, q, b, prompt in (("prefill", "ttft_s", 1, 2048), ("prefill", "ttft_s", 4, 1024),
                                    ("generate", "tpot_s", 1, 512), ("generate", "tpot_s", 32, 512),
                                    ("generate", "tokens_per_s", 64, 128), ("generate", "tokens_per_s", 8, 2048)):
            sc = Scenario(phase=phase, batch=b, prompt_tokens=prompt, gen_tokens=64)
            p = ServingPoint(id=f"syn/{i}", document=f"doc{i % 3}", group=f"g{i % 3}", runtime="synthetic",
                             model_id="llama-3.1-8b", device_id=dev, scenario=sc, quantity=q, value=1.0)
            pts.append(dataclasses.replace(p, value=p.predicted(truth)))
            i += 1
    return pts


def test_fit_recovers_the_profile_the_points_came_from():
    values, informing = rf.fit_points(_points(), _base(), names=list(TRUTH))
    for k, v in TRUTH.items():
        assert values[k] == pytest.approx(v, rel=0.05), k
        assert len(informing[k]) >= 2  # every fitted number names the points it was fitted on


def test_leave_one_group_out_predicts_each_group_from_the_others():
    pts = _points()
    held = rf.leave_one_group_out(pts, _base(), lambda train, b: rf.fit_points(train, b, names=list(TRUTH)))
    assert set(held) == {p.id for p in pts}
    assert rf.error_summary(pts, held)["median"] < 0.05  # the model family contains the truth


def test_shipped_fitted_profiles_cite_points_and_carry_held_out_residuals():
    for name in ("trtllm", "vllm", "llamacpp"):
        p = get_profile(name)
        fitted = [x for x in p.params.values() if x.basis == "fitted"]
        assert fitted and p.documents and p.held_out, name
        for x in fitted:
            assert all(":" in s for s in x.sources), (name, x.name)  # "point-id: locator (date)"
            assert x.held_out_median_err is not None
        assert len(p.residuals) == sum(h["n"] for h in p.held_out), name
        assert {"nvidia-gpu", "*"} <= set(p.bands), name
    assert get_profile("ideal").residuals and set(runtime_names()) >= {"sglang", "ours"}


def test_band_coverage_on_held_out_points_is_about_eighty_percent():
    # each held-out point against a band built without its own source (centre, scale and the conformal k)
    pool = [r for n in ("trtllm", "vllm", "llamacpp") for r in rf.stored_residuals(get_profile(n))]
    ideal = rf.stored_residuals(get_profile("ideal"))
    pools = {"fitted": pool, "ideal": ideal}
    inside = n = 0
    for name in ("trtllm", "vllm", "llamacpp"):
        cov, k = rf.nested_coverage(name, pools, "fitted")
        inside += cov * k
        n += k
    ideal_cov, ideal_n = rf.nested_coverage("ideal", pools, "ideal")
    assert n == 114 and 0.65 <= inside / n <= 0.9
    assert 0.7 <= ideal_cov <= 0.95 and ideal_n > 40
    both = (inside + ideal_cov * ideal_n) / (n + ideal_n)
    assert 0.72 <= both <= 0.88


def test_bands_are_wider_where_nothing_was_measured():
    for name in ("trtllm", "vllm", "llamacpp", "ideal"):
        p = get_profile(name)
        new = p.bands["*"]
        for cls, b in p.bands.items():
            if cls != "*":  # never surer than a measured class (the hull of both where needed)
                assert new.hi - new.lo >= b.hi - b.lo and new.lo <= b.lo and new.hi >= b.hi, (name, cls)
    assert math.exp(get_profile("trtllm").bands["nvidia-gpu"].hi) < 1.3  # 7% held-out median: a narrow band
