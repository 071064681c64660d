"""The serving simulator: the issue's checks (static batch = predict within 1%, Little's law, below / past
saturation), determinism, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roofline.engine.plan import PlanRequest, plan
from roofline.engine.scenario import Scenario
from roofline.engine.simulate import SimConfig, simulate, static_check
from roofline.engine.workload import make_workload, read_trace
from roofline.errors import InputError

TOL = 0.01  # the bound: a static batch reproduces predict within 1%


@pytest.mark.parametrize(("model", "sc", "runtime"), [
    ("llama-3.1-8b", Scenario(batch=8, prompt_tokens=512, gen_tokens=128), None),
    ("llama-3.1-8b", Scenario(batch=32, prompt_tokens=1024, gen_tokens=256, tp=2), "vllm"),
    ("mistral-7b", Scenario(batch=4, prompt_tokens=6000, gen_tokens=64), None),  # sliding window, 3 chunks
    ("mixtral-8x7b", Scenario(batch=16, prompt_tokens=700, gen_tokens=90, tp=2), "trtllm"),
])
def test_static_batch_reproduces_predict(model, sc, runtime):
    r = static_check(model, "h100-sxm", sc, runtime)
    for k in ("ttft_s", "tpot_s", "time_s", "energy_j"):
        assert r[f"sim_{k}"] == pytest.approx(r[f"pred_{k}"], rel=TOL), k


def _run(qps: float, duration: float = 300.0, seed: int = 3, **kw):
    wl = make_workload(f"poisson:{qps}", duration, "chat", "chat", seed)
    cfg = SimConfig(model="llama-3.1-8b", device="h100-sxm", scenario=Scenario(), runtime="vllm", seed=seed, **kw)
    return simulate(cfg, wl, duration)


def test_littles_law_holds_below_saturation():
    s = _run(6.0).summary
    ll = s["littles_law"]
    assert not s["saturated"]
    assert ll["mean_in_system"] == pytest.approx(ll["arrival_rate"] * ll["mean_sojourn_s"], rel=0.05)


def test_light_load_approaches_the_single_request_and_overload_saturates():
    light = _run(0.05, duration=2000.0).summary
    single = light["single_request"]
    # a lone request of the median lengths: TTFT and TPOT within 15% of predict's batch-1 figures (lengths vary)
    assert light["tpot_s"]["p50"] == pytest.approx(single["tpot_s"], rel=0.15)
    assert light["ttft_s"]["p50"] == pytest.approx(single["ttft_s"], rel=0.5)
    assert not light["saturated"]
    heavy = _run(40.0, duration=120.0).summary
    assert heavy["saturated"] and "grows without bound" in heavy["saturation_note"]
    assert heavy["achieved_qps"] < 0.8 * heavy["offered_qps"]


def test_same_seed_same_run_other_seed_other_run():
    a, b, c = _run(5.0, 60.0, seed=7), _run(5.0, 60.0, seed=7), _run(5.0, 60.0, seed=8)
    assert a.requests.equals(b.requests) and a.summary == b.summary
    assert not a.requests["arrival_s"].equals(c.requests["arrival_s"])


@pytest.mark.parametrize("sched", ["static", "vllm", "sarathi"])
def test_schedulers_serve_everything_and_sarathi_bounds_the_step(sched):
    r = _run(4.0, 60.0, scheduler=sched, max_batch=32)
    assert r.summary["completed"] == r.summary["requests"]
    assert (r.requests["ttft_s"] >= 0).all() and (r.requests["e2e_s"] >= r.requests["ttft_s"]).all()
    assert r.timeline["busy_frac"].between(0, 1.0 + 1e-9).all()


def test_kv_pressure_preempts_and_recomputes():
    # Llama-3.1-70B at tp 2 on H100s leaves little cache: long requests at a high rate must preempt
    wl = make_workload("poisson:4", 60, "fixed:3000", "fixed:600", 1)
    cfg = SimConfig(model="llama-3.1-70b", device="h100-sxm", scenario=Scenario(tp=2), runtime="vllm")
    r = simulate(cfg, wl, 60)
    assert r.summary["preemptions"] > 0 and r.summary["completed"] == r.summary["requests"]


def test_bad_input_is_one_input_error(tmp_path):
    with pytest.raises(InputError, match="> 0"):
        make_workload("poisson:0", 10)
    with pytest.raises(InputError, match="poisson"):
        make_workload("uniform:3", 10)
    bad = tmp_path / "t.csv"
    bad.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,abc,10\n")
    with pytest.raises(InputError, match="line 3"):
        read_trace(bad)
    bad.write_text("when,prompt\n1,2\n")
    with pytest.raises(InputError, match="header"):
        read_trace(bad)
    good = tmp_path / "g.csv"
    good.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,100,10\n0.0,200,20\n")
    t, p, o = read_trace(good)
    assert list(t) == [0.0, 0.5] and list(p) == [200, 100]
    with pytest.raises(InputError, match="KV cache"):
        simulate(SimConfig(model="llama-3.1-405b", device="h100-sxm", scenario=Scenario(tp=8)),
                 make_workload("poisson:1", 10, "fixed:100", "fixed:10"), 10)


def test_plan_meets_the_objectives_and_says_why_the_runner_up_lost():
    out = plan(PlanRequest(model="llama-3.1-8b", qps=4.0, slo_ttft_p99_s=2.0, slo_tpot_p99_s=0.05,
                           devices=("h100-sxm", "a100-sxm-80gb"), duration_s=40.0))
    b = out["best"]
    assert b["meets_slo"] and b["ttft_p99_s"] <= 2.0 and b["tpot_p99_s"] <= 0.05
    assert out["runner_up"] is not None and "more" in out["why"]
    with pytest.raises(InputError, match="best achievable"):
        plan(PlanRequest(model="llama-3.1-8b", qps=4.0, slo_ttft_p99_s=0.001, slo_tpot_p99_s=0.001,
                         devices=("h100-sxm",), duration_s=20.0))
    with pytest.raises(InputError, match="qps"):
        plan(PlanRequest(model="llama-3.1-8b", qps=-1, slo_ttft_p99_s=1, slo_tpot_p99_s=1))
    assert math.isfinite(b["j_per_request"]) and np.isfinite(b["usd_per_h"])


def test_static_prefill_passes_pack_whole_prompts():
    from roofline.engine.simulate import _packed_chunks

    # 4 x 6000 tokens in 3 passes of 8000: a prompt is split only where a pass is full, its tail attending to its head
    assert _packed_chunks([6000.0] * 4, 3) == [[(6000.0, 0.0), (2000.0, 0.0)], [(4000.0, 2000.0), (4000.0, 0.0)],
                                              [(2000.0, 4000.0), (6000.0, 0.0)]]
    passes = _packed_chunks([1024.0] * 32, 4)  # 8 whole prompts a pass: nothing is re-read
    assert all(len(p) == 8 and all(c == (1024.0, 0.0) for c in p) for p in passes)
    assert sum(t for p in _packed_chunks([7.0, 3.0, 11.0], 2) for t, _ in p) == 21.0
