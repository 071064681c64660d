"""Calibration recovers known efficiencies, launch overhead and energy coefficients from a synthetic trace."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import hwdb
from roofline.analysis.calibrate import calibrate, nnls, write_calibration
from roofline.measure import traces

# The truth the synthetic trace is generated from (H100 SXM datasheet roofs)
EFF_C = {"bf16": 0.70, "fp16": 0.65, "int8": 0.5}
EFF_M = 0.80
OVERHEAD_S = 5e-6
IDLE_W = 80.0
E_FLOP = {"bf16": 0.9e-12, "fp16": 1.1e-12, "int8": 0.4e-12}
E_BYTE = 110e-12


def synthetic_trace() -> pd.DataFrame:
    dev = hwdb.get("h100-sxm")
    rows = []

    def add(kernel, dtype, flops, nbytes, i):
        t = max(flops / (dev.peak(dtype) * EFF_C[dtype]), nbytes / (dev.mem_bw_bytes_per_s * EFF_M)) + OVERHEAD_S
        e = IDLE_W * t + E_FLOP[dtype] * flops + E_BYTE * nbytes
        rows.append({"run_id": "synthetic", "kernel": kernel, "impl": "ours", "shape": json.dumps({"i": i}),
                     "dtype": dtype, "device_id": "h100-sxm", "device_name": "synthetic", "median_s": t, "p20_s": t,
                     "p80_s": t, "reps": 100, "flops": flops, "bytes": nbytes, "energy_j": e,
                     "energy_method": "nvml-counter"})

    i = 0
    for dt in ("bf16", "fp16", "int8"):
        es = 1 if dt == "int8" else 2
        for n in (2048, 3072, 4096, 6144, 8192, 12288):  # compute-bound matmuls
            add("matmul", dt, 2.0 * n**3, 3.0 * es * n * n, i)
            i += 1
        for k in (1024, 2048, 4096, 8192, 16384):  # memory-bound GEMVs
            add("gemv", dt, 2.0 * k * k, es * k * k, i)
            i += 1
        for m in (8, 12, 16):  # tiny: launch-bound
            add("tiny", dt, 2.0 * m**3, 3.0 * es * m * m, i)
            i += 1
    for nbytes in (1e8, 4e8, 1e9, 2e9, 4e9):
        add("copy", "bf16", 0.0, nbytes, i)
        i += 1
    return traces.normalize(pd.DataFrame(rows))


def test_nnls_matches_unconstrained_when_positive_and_clips_when_not():
    rng = np.random.default_rng(0)
    a = rng.random((30, 3))
    x = np.array([1.0, 2.0, 0.5])
    assert nnls(a, a @ x) == pytest.approx(x)
    b = a @ np.array([1.0, -1.0, 0.5])
    got = nnls(a, b)
    assert (got >= 0).all() and got[1] == 0.0


def test_calibrate_recovers_known_coefficients():
    cal = calibrate(synthetic_trace(), "h100-sxm", holdout_frac=0.25, seed=0)
    assert cal.n_fit + cal.n_holdout == 47 and cal.n_holdout > 0
    for dt, eff in EFF_C.items():
        assert cal.compute_eff[dt] == pytest.approx(eff, rel=1e-3)
    assert cal.memory_eff == pytest.approx(EFF_M, rel=1e-3)
    assert cal.launch_overhead_s == pytest.approx(OVERHEAD_S, rel=1e-2)
    assert cal.idle_power_w == pytest.approx(IDLE_W, rel=1e-3)
    for dt, e in E_FLOP.items():
        assert cal.e_flop_j[dt] == pytest.approx(e, rel=1e-3)
    assert cal.e_byte_j == pytest.approx(E_BYTE, rel=1e-3)
    assert cal.copy_bw_bytes_per_s == pytest.approx(4e9 / (4e9 / (3.35e12 * EFF_M) + OVERHEAD_S))
    fid = {(f["metric"], f["split"]): f for f in cal.fidelity}
    assert fid[("time", "held-out")]["n"] == cal.n_holdout
    assert fid[("time", "held-out")]["p90_abs_err"] < 0.01  # the model family contains the truth
    assert fid[("energy", "held-out")]["p90_abs_err"] < 0.01


def test_write_calibration_roundtrips_through_hwdb(tmp_path):
    cal = calibrate(synthetic_trace(), "h100-sxm")
    path = write_calibration(cal, tmp_path)
    devs = hwdb.load_dir(measured_dir=tmp_path)
    m = devs["h100-sxm"].measured
    assert path.parent == tmp_path and m.run_id == "synthetic"
    assert m.compute_eff["bf16"] == pytest.approx(0.70, rel=1e-3) and m.e_byte_j == pytest.approx(E_BYTE, rel=1e-3)
    hwdb.loader._default.cache_clear()


def test_calibrate_needs_a_device():
    df = synthetic_trace().assign(device_id="")
    from roofline.errors import InputError

    with pytest.raises(InputError, match="--device"):
        calibrate(df)
    cal = calibrate(df, "h100-sxm")
    assert any("taken as h100-sxm" in n for n in cal.notes)


def test_modeled_energies_are_not_fitted():
    cal = calibrate(synthetic_trace().assign(energy_method="modeled"), "h100-sxm")
    assert cal.idle_power_w is None and not cal.e_flop_j
    assert any("energy not fitted" in n for n in cal.notes)


def test_calibrate_and_attribute_cli(tmp_path, monkeypatch, capsys, cli):
    m = traces.base_manifest("synthetic", "h100-sxm", "synthetic", "test", "synthetic")
    run = traces.write_run(tmp_path, m, synthetic_trace())
    before = (hwdb.loader.MEASURED_DIR / "h100-sxm.toml").read_text()
    code, out, err = cli(["calibrate", str(run), "--dry-run", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["written"] is None and doc["fields"]["compute_eff"]["bf16"] == pytest.approx(0.7, rel=1e-3)
    assert (hwdb.loader.MEASURED_DIR / "h100-sxm.toml").read_text() == before  # dry run wrote nothing
    code, out, err = cli(["attribute", str(tmp_path), "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["rows"]) == 47 and {f["split"] for f in doc["fidelity"]} == {"all", "fit", "held-out"}
    code, out, err = cli(["attribute", "synthetic-nope"])
    assert code == 2 and err.count("\n") == 1


# ---- per-implementation calibration ---------------------------------------------------------------------------

def _with_slow_peer(df: pd.DataFrame) -> pd.DataFrame:
    """The synthetic trace plus a peer that runs 20x below the ceilings (a tinygemm-like implementation)."""
    dev = hwdb.get("h100-sxm")
    rows = []
    for i, m in enumerate((64, 256, 1024, 4096)):
        flops, nbytes = 2.0 * m * 8192 * 8192, 8192 * 8192 * 0.5 + 2 * m * 8192 * 2
        t = max(flops / (dev.peak("bf16") * 0.03), nbytes / (dev.mem_bw_bytes_per_s * 0.4)) + 6e-6
        rows.append({"run_id": "synthetic", "kernel": "w4a16_linear", "impl": "slow-peer",
                     "shape": json.dumps({"M": m, "i": i}), "dtype": "bf16", "device_id": "h100-sxm",
                     "device_name": "synthetic", "median_s": t, "p20_s": t, "p80_s": t, "reps": 100, "flops": flops,
                     "bytes": nbytes, "energy_j": 300.0 * t, "energy_method": "nvml-counter"})
    return traces.normalize(pd.concat([df, pd.DataFrame(rows)], ignore_index=True))


def test_a_slow_peer_never_moves_the_device_ceilings_and_gets_its_own_curve():
    base = calibrate(synthetic_trace(), "h100-sxm", holdout_frac=0.0)
    both = calibrate(_with_slow_peer(synthetic_trace()), "h100-sxm", holdout_frac=0.0)
    for dt in EFF_C:
        assert both.compute_eff[dt] == pytest.approx(base.compute_eff[dt], rel=1e-6)
    assert both.memory_eff == pytest.approx(base.memory_eff, rel=1e-6)
    assert both.launch_overhead_s == pytest.approx(base.launch_overhead_s, rel=1e-6)
    c = both.curves["w4a16_linear/slow-peer"]
    assert c.compute_eff == pytest.approx(0.03, rel=0.05) and c.n_fit == 4
    assert not any(k.startswith(("matmul/", "copy/")) for k in both.curves)  # ceiling kernels are the device


def test_anchor_trace_held_out_error_by_implementation(trace_rows):
    # the real H100 peer run (31 rows): the device-wide fit this replaced predicted the held-out rows at 90%
    # median error (p90 273%); per-implementation curves on ceilings from cuBLAS's largest matmul only
    from roofline.measure.traces import load_any

    cal = calibrate(load_any("traces/h100-anchors-2026-11-22"), "h100-sxm")
    fid = {(f["metric"], f["split"]): f for f in cal.fidelity}
    assert fid[("time", "held-out")]["n"] == 8
    # issue 16's target is 15%; this fit reaches 19% (three implementations with 1-3 fit rows whose efficiency
    # does not follow size monotonically: benchmarks/FIDELITY.md)
    assert cal.held_out_median < 0.20 and fid[("time", "fit")]["median_abs_err"] < 0.05
    assert cal.in_place_held_out is not None and cal.held_out_median < cal.in_place_held_out
    assert cal.compute_eff["bf16"] == pytest.approx(763.6e12 / 989.5e12, rel=0.01)  # cuBLAS 4096x8192x8192
    splits = {(r["impl"], r["split"]) for r in cal.by_impl}
    assert ("torch-tinygemm-int4", "held-out") in splits and ("sdpa-flash", "fit") in splits
    assert cal.curves["w4a16_linear/torch-tinygemm-int4"].compute_eff < 0.05  # ~2% of roof, not the device's 77%


def test_an_overlay_worse_than_the_one_in_place_is_refused_unless_forced(tmp_path):
    from dataclasses import replace

    from roofline.errors import InputError

    cal = calibrate(synthetic_trace(), "h100-sxm")
    worse = replace(cal, in_place_held_out=cal.held_out_median / 2)
    with pytest.raises(InputError, match="worse.*--force"):
        write_calibration(worse, tmp_path)
    assert not list(tmp_path.iterdir())
    path = write_calibration(worse, tmp_path, force=True)
    assert "WRITTEN WITH --force" in path.read_text()
    hwdb.loader._default.cache_clear()


def test_serving_rows_do_not_calibrate_a_device():
    from roofline.errors import InputError

    df = synthetic_trace().assign(kernel="serving")
    with pytest.raises(InputError, match="--runtime"):
        calibrate(df, "h100-sxm")
