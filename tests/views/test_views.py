"""roofline.views: the data behind the dashboard, on hand-checkable numbers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import hwdb
from roofline.engine.model import estimate
from roofline.errors import InputError
from roofline.ops import Op
from roofline.views import common, energy, hardware, measured, selection, workload

H100 = hwdb.get("h100-sxm")


def fake_cpu():
    """A second device of another kind/vendor (the shipped hwdb may hold only one)."""
    return replace(H100, id="fake-cpu", name="Fake CPU", vendor="Acme", kind="cpu", memory_bytes=16e9,
                   measured=None)






# ------------------------------------------------------------------------------------------------ hardware


def test_filter_devices_by_kind_vendor_memory():
    devs = [H100, fake_cpu()]
    assert [d.id for d in common.filter_devices(devs)] == ["fake-cpu", "h100-sxm"]
    assert [d.id for d in common.filter_devices(devs, kinds=["gpu"])] == ["h100-sxm"]
    assert [d.id for d in common.filter_devices(devs, vendors=["Acme"])] == ["fake-cpu"]
    assert [d.id for d in common.filter_devices(devs, min_memory_bytes=20e9)] == ["h100-sxm"]
    opts = common.device_filter_options(devs)
    assert opts["kinds"] == ["cpu", "gpu"] and opts["max_memory_bytes"] == H100.memory_bytes  # 81,559 MiB exposed


def test_roofline_lines_bend_at_the_ridge():
    lines = hardware.roofline_lines([H100], ["bf16"], measured=False)
    assert set(lines["roof"]) == {"bf16 / HBM3"}
    # ridge = 989.5e12 / 3.35e12 = 295.4 FLOP/B; the polyline has x_min, ridge, x_max
    assert list(lines["x"]) == pytest.approx([common.X_MIN, 989.5e12 / 3.35e12, common.X_MAX])
    # memory slope at x_min: 0.01 * 3.35e12; flat at the peak afterwards
    assert list(lines["y"]) == pytest.approx([0.01 * 3.35e12, 989.5e12, 989.5e12])
    assert set(lines["kind"]) == {"datasheet"} and lines["source"].str.contains("Datasheet").all()


def test_roofline_lines_measured_roofs_use_copy_bandwidth():
    lines = hardware.roofline_lines([H100], ["bf16"], measured=True)
    m = lines[lines["kind"] == "measured"]
    assert set(m["roof"]) == {"bf16 measured"}
    assert m["y"].max() == pytest.approx(763.6e12, rel=1e-4)
    assert m["y"].iat[0] == pytest.approx(common.X_MIN * 3.0e12)  # measured copy bandwidth


def test_cache_roof_only_where_bandwidth_is_published():
    assert not (hardware.roofline_lines([H100])["memory"] == "L2").any()  # H100 L2 bandwidth is not published
    c = replace(H100.caches[0], bw_bytes_per_s=12e12)
    lines = hardware.roofline_lines([replace(H100, caches=(c,))], ["bf16"], measured=False)
    l2 = lines[lines["memory"] == "L2"]
    assert l2["y"].iat[0] == pytest.approx(common.X_MIN * 12e12) and l2["y"].max() == pytest.approx(989.5e12)


def test_ridge_points_and_peaks_table_cite_sources():
    r = hardware.ridge_points([H100])
    assert r.set_index("dtype").loc["fp8", "x"] == pytest.approx(1979e12 / 3.35e12)
    t = hardware.peaks_table([H100])
    assert {"datasheet", "measured"} <= set(t["kind"])
    assert (t["source"] != "").all()
    bw = t[(t["quantity"] == "memory bandwidth") & (t["kind"] == "datasheet")]
    assert bw["value"].iat[0] == 3.35e12 and bw["url"].iat[0].startswith("https://")
    assert "int4" not in set(t["dtype"])  # unsupported is absent, never 0


def test_peaks_matrix_marks_unsupported_dtypes():
    vals, tips = hardware.peaks_matrix([H100])
    assert pd.isna(vals["int4"].iat[0]) and tips["int4"].iat[0] == "not supported"
    assert "1979 TF with sparsity / 2" in tips["bf16"].iat[0]


# ------------------------------------------------------------------------------------------------ estimates


def _ops():
    n = 4096
    return [estimate(Op("qkv", "attention", 2 * n * 3 * n, 2 * 3 * n * n, 2 * 3 * n, "bf16", count=32,
                        layer="decoder"), H100),
            estimate(Op("mlp_up", "mlp", 2 * n * 4 * n, 2 * 4 * n * n, 2 * 4 * n, "bf16", count=32,
                        layer="decoder"), H100),
            estimate(Op("lm_head", "lm_head", 2 * n * 128256, 2 * n * 128256, 2 * 128256, "bf16",
                        layer="lm_head"), H100)]


def test_breakdown_shares_sum_to_one_and_group_by_layer():
    b = workload.breakdown(_ops(), "layer")
    assert set(b["group"]) == {"decoder", "lm_head"} and list(b["part"]) == ["mlp", "attention", "lm_head"]
    assert b["time_share"].sum() == pytest.approx(1.0) and b["energy_share"].sum() == pytest.approx(1.0)
    # by op: the biggest op first; mlp_up moves 4n^2 x 32 weights, qkv 3n^2 x 32
    b = workload.breakdown(_ops(), "op")
    assert list(b["part"]) == ["mlp_up", "qkv", "lm_head"] and set(b["group"]) == {"step"}
    long = workload.breakdown_long(_ops(), "op", phases=["decode"] * 3)
    assert set(long["metric"]) == {"latency", "energy"} and len(long) == 6 and set(long["group"]) == {"decode"}
    for _, g in long.groupby("metric"):
        assert g["share"].sum() == pytest.approx(1.0)
    with pytest.raises(InputError):
        workload.breakdown(_ops(), "colour")


def test_op_points_sit_on_or_under_the_roof():
    p = workload.op_points(_ops())
    assert len(p) == 3 and (p["pct_of_roof"] <= 1.0 + 1e-9).all()
    assert set(p["bound"]) == {"memory"}  # batch-1 decode GEMVs
    assert (p["kind"] == "modeled").all()


# ------------------------------------------------------------------------------------------------ measurements


def test_measured_points_and_error_band(trace_rows):
    from roofline.analysis import attribution

    cmp = attribution.compare(trace_rows())
    pts = measured.measured_points(cmp)
    assert "copy" not in set(pts["kernel"])  # no FLOPs: not a roofline point
    mm = pts.set_index("kernel").loc["matmul"]
    assert mm["y_measured"] == pytest.approx(2 * 8192**3 / 1.44e-3)
    assert mm["kind"] == "measured" and mm["source"].startswith("trace ")
    lo, hi = measured.error_band(cmp)
    r = (cmp["time_err"] + 1).dropna()
    assert r.min() <= lo <= hi <= r.max()
    assert measured.error_band(cmp.iloc[0:0]) is None


def test_energy_per_call_only_rows_with_energy(trace_rows):
    from roofline.analysis import attribution

    e = measured.energy_per_call(attribution.compare(trace_rows()))
    assert set(e["label"].str.split(" ").str[0]) == {"matmul", "gemv", "copy"}  # the W4A16 row has no energy
    mm = e[e["label"].str.startswith("matmul")].iloc[0]
    assert mm["j_per_flop"] == pytest.approx(1.0 / (2 * 8192**3)) and mm["kind"] == "measured"


def test_read_upload_rejects_bad_files_readably(tmp_path):
    with pytest.raises(InputError, match="upload limit"):
        measured.read_upload("big.parquet", b"x" * (measured.MAX_UPLOAD_BYTES + 1))
    with pytest.raises(InputError, match="empty"):
        measured.read_upload("a.parquet", b"")
    with pytest.raises(InputError, match="unknown file type"):
        measured.read_upload("a.txt", b"hello")
    from roofline.errors import RooflineError

    with pytest.raises(RooflineError, match="not a readable trace"):
        measured.read_upload("bad.parquet", b"PAR1 this is not parquet")
    with pytest.raises(RooflineError, match="missing columns"):
        measured.read_upload("wrong.csv", b"a,b\n1,2\n")


def test_read_upload_round_trips_parquet(trace_rows):
    buf = trace_rows().to_parquet(index=False)
    df = measured.read_upload("run.parquet", buf)
    assert len(df) == 4 and np.isclose(df["median_s"].iat[0], 1.44e-3)


def test_unplotted_lists_devices_without_a_price():
    t = pd.DataFrame({"device_id": ["a", "b", "c"], "fits": [True, True, False],
                      "usd_per_mtok": [1.0, float("nan"), float("nan")], "tokens_per_s": [10.0, 20.0, 30.0]})
    assert selection.unplotted(t, "usd_per_mtok", "tokens_per_s") == ["b"]


def test_report_spec_round_trips_through_the_report_parser():
    import tomllib

    from roofline.engine.scenario import Scenario

    sc = Scenario(phase="generate", batch=4, wbits=4, attention="block-sparse", attention_kept=0.2)
    spec = selection.report_spec("llama-3.1-8b", sc, ["h100-sxm", "l4"], "tokens_per_s", None, 0.05, True,
                             "usd_per_mtok", "tokens_per_s")
    text = selection.spec_toml(spec)
    raw = tomllib.loads(text)
    assert raw["workload"][0]["attention"] == "block-sparse:0.2" and raw["workload"][0]["slo_tpot_s"] == 0.05
    spec_mod = pytest.importorskip("reports.spec")
    parsed = spec_mod.parse_spec(raw, name="t.toml", text=text)
    assert parsed.devices == ("h100-sxm", "l4") and parsed.workloads[0].scenario["wbits"] == 4


def test_energy_roofline_flattens_to_e_flop_at_high_intensity():
    e = energy.energy_roofline([H100], ["bf16"])
    hi = e[e["x"] == e["x"].max()]["j_per_flop"].iat[0]
    lo = e[e["x"] == e["x"].min()]["j_per_flop"].iat[0]
    # compute-bound: e_flop (0.90 pJ measured) + idle / attainable (72.8 W / 763.6 TF/s = 0.095 pJ) + e_byte / 1e5
    assert hi == pytest.approx(0.90e-12 + 72.8 / 763.6e12 + 113e-12 / common.X_MAX, rel=1e-3)
    assert lo > 100 * hi and set(e["kind"]) == {"measured"}
    coef = energy.energy_coefficients([H100]).set_index("dtype")
    # int8 J/FLOP is measured too since calibrate fitted it from the _int_mm ceiling call; fp8 was never measured
    assert coef.loc["bf16", "kind"] == "measured" and coef.loc["int8", "kind"] == "measured"
    assert coef.loc["fp8", "kind"] == "modeled"


def test_prediction_metrics_hide_timings_when_it_does_not_fit():
    pred_mod = pytest.importorskip("roofline.engine.predict")
    from roofline.engine.scenario import Scenario

    p = pred_mod.predict("llama-3.1-70b", H100, Scenario(phase="decode"))
    m = {r["key"]: r for r in workload.prediction_metrics(p, H100)}
    assert not p.fits and m["tpot_s"]["value"] is None and m["memory_bytes"]["value"] > 80e9
    assert all(r["kind"] == "modeled" and r["source"] for r in m.values())
    mem = workload.memory_breakdown(p, H100)
    assert mem["bytes"].sum() == pytest.approx(p.memory_bytes) and mem["capacity_bytes"].iat[0] == H100.memory_bytes
