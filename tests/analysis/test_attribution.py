"""Attribution: trace rows joined with the roofline model's estimate of the same work."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import hwdb
from roofline.analysis.attribution import COMPARE_COLUMNS, compare, fidelity, holdout_mask, hwdb_dtype
from roofline.engine.model import estimate
from roofline.measure.traces import normalize
from roofline.ops import Op


def _rows():
    return normalize(pd.DataFrame([
        # bf16 GEMV 8192^2: memory-bound
        {"run_id": "r", "kernel": "gemv", "impl": "ours", "shape": "{}", "dtype": "bf16", "device_id": "h100-sxm",
         "median_s": 66e-6, "flops": 2 * 8192**2, "bytes": 2 * 8192**2 + 4 * 8192, "energy_j": 22e-3},
        # bf16 matmul 8192^3: compute-bound
        {"run_id": "r", "kernel": "matmul", "impl": "ours", "shape": "{}", "dtype": "bfloat16", "device_id": "h100-sxm",
         "median_s": 1.44e-3, "flops": 2 * 8192**3, "bytes": 3 * 2 * 8192**2, "energy_j": 1.11},
        # copy: no FLOPs
        {"run_id": "r", "kernel": "copy", "impl": "ours", "shape": "{}", "dtype": "fp32", "device_id": "h100-sxm",
         "median_s": 0.72e-3, "flops": 0.0, "bytes": 2 * 2**30},
        # a CPU host run: no hwdb device
        {"run_id": "r", "kernel": "copy", "impl": "ours", "shape": "{}", "dtype": "fp32", "device_id": "",
         "median_s": 1e-3, "flops": 0.0, "bytes": 8e6},
    ]))


def test_compare_matches_the_model():
    dev = hwdb.get("h100-sxm")
    out = compare(_rows())
    assert set(COMPARE_COLUMNS) <= set(out.columns) and len(out) == 4
    gemv, mm, cp, cpu = (out.iloc[i] for i in range(4))
    est = estimate(Op("gemv", "kernel", gemv["flops"], gemv["bytes"], 0, "bf16"), dev)
    assert gemv["predicted_s"] == pytest.approx(est.time_s)
    assert gemv["predicted_energy_j"] == pytest.approx(est.energy_j)
    assert gemv["time_err"] == pytest.approx(66e-6 / est.time_s - 1)
    assert gemv["energy_err"] == pytest.approx(22e-3 / est.energy_j - 1)
    assert gemv["bound"] == "memory" and mm["bound"] == "compute"
    assert mm["compute_dtype"] == "bf16" and mm["intensity"] == pytest.approx(8192 / 3)
    assert 0.5 < mm["pct_of_roof"] <= 1.2
    assert mm["achieved_flops_per_s"] == pytest.approx(2 * 8192**3 / 1.44e-3)
    # pct_of_roof = achieved / attainable (where FLOPs exist)
    assert mm["pct_of_roof"] == pytest.approx(mm["achieved_flops_per_s"] / mm["attainable_flops_per_s"])
    assert cp["pct_of_roof"] > 0.5 and math.isnan(cp["energy_err"])  # copy: bandwidth share, no energy measured
    assert cp["pct_of_peak"] < cp["pct_of_roof"]  # datasheet roof is higher than the efficiency-scaled one
    assert math.isnan(cpu["predicted_s"]) and cpu["bound"] == ""
    assert cpu["achieved_bytes_per_s"] == pytest.approx(8e9)


def test_calibrated_flag_switches_efficiency():
    a, b = compare(_rows(), calibrated=True), compare(_rows(), calibrated=False)
    assert a["efficiency_kind"].iloc[0] == "measured" and b["efficiency_kind"].iloc[0] == "modeled"


def test_compare_empty_frame():
    out = compare(normalize(pd.DataFrame()))
    assert out.empty and "predicted_s" in out.columns


def test_hwdb_dtype():
    assert hwdb_dtype("bfloat16") == "bf16" and hwdb_dtype("torch.float16") == "fp16"
    assert hwdb_dtype("w4a16") == "bf16" and hwdb_dtype("w8a8") == "int8" and hwdb_dtype("nonsense") is None


def test_holdout_is_deterministic_and_fidelity_splits():
    df = pd.concat([_rows()] * 1, ignore_index=True)
    big = normalize(pd.DataFrame([{**df.iloc[0].to_dict(), "shape": f'{{"i": {i}}}'} for i in range(200)]))
    m1, m2 = holdout_mask(big, 0.25, 0), holdout_mask(big, 0.25, 0)
    assert (m1 == m2).all() and 0.15 < m1.mean() < 0.35
    assert not (m1 == holdout_mask(big, 0.25, 1)).all()
    cmp = compare(big)
    cmp["holdout"] = np.arange(len(cmp)) % 4 == 0
    f = fidelity(cmp).set_index(["metric", "split"])
    assert f.loc[("time", "all"), "n"] == 200 and f.loc[("time", "held-out"), "n"] == 50
    assert f.loc[("time", "fit"), "median_abs_err"] == pytest.approx(abs(cmp["time_err"].iloc[0]))
    assert f.loc[("time", "all"), "p90_abs_err"] >= f.loc[("time", "all"), "median_abs_err"]
