"""views.planning: pure frames for the capacity-planning page and report section."""

from __future__ import annotations

import pytest

from roofline.engine.plan import PlanRequest, plan
from roofline.engine.scenario import Scenario
from roofline.engine.simulate import SimConfig, simulate
from roofline.engine.workload import make_workload
from roofline.views import planning


@pytest.fixture(scope="module")
def out():
    return plan(PlanRequest(model="llama-3.1-8b", qps=3.0, slo_ttft_p99_s=2.0, slo_tpot_p99_s=0.05,
                            devices=("h100-sxm", "a100-sxm-80gb"), duration_s=30.0))


def test_plan_table_and_verdict(out):
    t = planning.plan_table(out)
    assert list(t.columns) == planning.PLAN_VIEW_COLUMNS and (t["kind"] == "modeled").all()
    assert t["meets_slo"].iloc[0]
    v = planning.plan_verdict(out, 3.0, 2.0, 0.05)
    assert v["headline"].startswith(f"{int(out['best']['replicas'])} x ") and "p99 TTFT" in v["reason"]
    assert "$" not in v["reason"]  # the PDF renderer reads $...$ as math


def test_simulation_frames():
    wl = make_workload("poisson:3", 40, seed=2)
    r = simulate(SimConfig(model="llama-3.1-8b", device="h100-sxm", scenario=Scenario(), runtime="vllm"), wl, 40)
    lp = planning.latency_percentiles(r.requests)
    assert list(lp["metric"]) == ["TTFT", "TPOT", "E2E"]
    assert (lp["p50_s"] <= lp["p90_s"]).all() and (lp["p90_s"] <= lp["p99_s"]).all()
    cdf = planning.latency_cdf(r.requests, "e2e_s")
    assert cdf["value_s"].is_monotonic_increasing and len(cdf) == 101
    tl = planning.timeline_view(r.timeline)
    assert {"t_s", "busy_frac", "power_w", "running", "waiting", "kind"} <= set(tl.columns)
    # energy over the bins adds up to the run's
    width = tl["t_s"].diff().dropna().iloc[0]
    assert (tl["power_w"] * width).sum() == pytest.approx(r.summary["energy_j"], rel=0.01)
    assert set(planning.summary_rows(r.summary)["figure"]) >= {"goodput (within the SLO)", "energy a request"}
