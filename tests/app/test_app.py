"""The dashboard under streamlit.testing.v1.AppTest: every page renders without an exception, and the key
widgets change what it shows. Traces come from a synthetic run (tests/test_views.py) or from an empty folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

DASHBOARD = str(Path(__file__).resolve().parents[2] / "app" / "dashboard.py")
TIMEOUT = 30  # 2 shared cores: generous


@pytest.fixture
def traces_dir(tmp_path, monkeypatch, write_traces):
    root = tmp_path / "traces"
    root.mkdir()
    write_traces(root)
    monkeypatch.setenv("ROOFLINE_TRACES", str(root))
    return root


@pytest.fixture
def no_traces(tmp_path, monkeypatch):
    root = tmp_path / "empty"
    root.mkdir()
    monkeypatch.setenv("ROOFLINE_TRACES", str(root))
    return root


def page(name: str, query: dict | None = None) -> AppTest:
    """Open a page the way a shared link does: the URL's query parameters are there from the first run."""
    at = AppTest.from_file(DASHBOARD, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    if name == "hardware":
        return at
    return at.switch_page(f"screens/{name}.py").run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# ------------------------------------------------------------------------------------------------ hardware


def test_hardware_renders_roofline_ridges_and_cited_table(no_traces):
    at = ok(page("hardware"))
    (fig,) = charts(at)
    names = [t["name"] for t in fig["data"]]
    assert "h100-sxm · bf16 / HBM3" in names and "ridge points" in names
    assert any("kind: datasheet" in t.get("hovertemplate", "") for t in fig["data"])
    assert any("source:" in t.get("hovertemplate", "") for t in fig["data"])
    html = at.get("html")[0].proto.body
    assert 'title="datasheet: NVIDIA H100 Tensor Core GPU Datasheet' in html
    assert "modeled numbers only" in " ".join(c.value for c in at.sidebar.caption)
    assert at.query_params["hw_devices"].split(",")[0] == "h100-sxm"


def test_hardware_widgets_change_the_chart(no_traces):
    at = ok(page("hardware"))
    n0 = len(charts(at)[0]["data"])
    at.multiselect(key="hw_dtypes").set_value(["bf16"]).run()
    assert len(charts(ok(at))[0]["data"]) < n0
    at.toggle(key="hw_measured").set_value(False).run()
    assert all(t["name"] != "h100-sxm · bf16 measured" for t in charts(ok(at))[0]["data"])
    at.multiselect(key="hw_devices").set_value(["h100-sxm", "l4"]).run()
    names = [t["name"] for t in charts(ok(at))[0]["data"]]
    assert any(n.startswith("l4 · bf16") for n in names) and not any(n.startswith("mi300x") for n in names)
    assert at.query_params["hw_devices"] == "h100-sxm,l4"


def test_hardware_filters_and_url_selection(no_traces):
    at = ok(page("hardware", {"hw_kind": "cpu", "hw_devices": "h100-sxm,nope"}))
    # the URL asked for a gpu while filtering on cpu: the selection keeps only what the filter shows
    assert at.multiselect(key="hw_devices").value == []
    assert any("No device selected" in i.value for i in at.info)
    assert at.multiselect(key="hw_devices").options and "h100-sxm" not in at.multiselect(key="hw_devices").options
    at.multiselect(key="hw_kind").set_value([]).run()
    at.multiselect(key="hw_devices").set_value(["h100-sxm"]).run()
    assert len(charts(ok(at))) == 1


# ------------------------------------------------------------------------------------------------ workload


def test_workload_metrics_are_labelled_and_react(no_traces):
    at = ok(page("workload"))
    m = metrics(at)
    assert {"TTFT (modeled)", "TPOT (modeled)", "tokens/s (modeled)", "memory (modeled)"} <= set(m)
    tps_b1 = m["tokens/s (modeled)"]
    assert len(charts(at)) == 6  # memory, roofline, by op, by layer, tokens/s vs batch, latency vs context
    roof = charts(at)[1]
    assert any(t["name"] == "attention ops (modeled)" for t in roof["data"])
    layers = at.dataframe[0].value  # the per-layer table: ms, bytes, intensity, bound
    assert {"time_s", "bytes", "intensity", "bound"} <= set(layers.columns) and set(layers["layer"]) == {"decoder",
                                                                                                        "model"}
    assert not layers.astype(str).isin(["None", "nan"]).any().any()
    at.select_slider(key="wl_batch").set_value(64).run()
    assert metrics(ok(at))["tokens/s (modeled)"] != tps_b1
    assert at.query_params["wl_batch"] == "64"


def test_workload_does_not_fit_state_then_tensor_parallel(no_traces):
    at = ok(page("workload", {"wl_model": "llama-3.1-70b"}))
    assert any("Does not fit" in e.value for e in at.error)
    m = metrics(at)
    assert m["TPOT (does not fit)"] == "—" and m["memory (modeled)"] != "—"
    at.segmented_control(key="wl_tp").set_value(4).run()
    assert not ok(at).error and metrics(at)["TPOT (modeled)"] != "—"


def test_workload_what_if_device_is_labelled_and_reacts(no_traces):
    at = ok(page("workload", {"wl_device": "what-if"}))
    assert any("What-if device" in w.value and "not saved" in w.value for w in at.warning)
    tpot = metrics(at)["TPOT (modeled)"]
    at.number_input(key="wi_mem_bw_bytes_per_s_h100-sxm").set_value(6.7).run()  # double the bandwidth
    assert metrics(ok(at))["TPOT (modeled)"] != tpot
    assert any("memory bandwidth" in w.value for w in at.warning)
    assert "what-if" in at.caption[0].value


def test_workload_invalid_scenario_is_a_message(no_traces):
    # Qwen2.5-7B has 28 heads: tensor parallelism over 8 devices cannot split them
    at = ok(page("workload", {"wl_model": "qwen2.5-7b", "wl_tp": "8"}))
    assert at.error and "Cannot price" in at.error[0].value and "28 heads" in at.error[0].value
    at.segmented_control(key="wl_tp").set_value(4).run()
    assert not ok(at).error


def test_workload_block_sparse_attention_shows_kept_fraction(no_traces):
    at = ok(page("workload", {"wl_attn": "block-sparse"}))
    assert at.slider(key="wl_kept").value == pytest.approx(0.1)
    assert "block-sparse:0.1" in at.caption[0].value


# ------------------------------------------------------------------------------------------------ measurements


def test_measurements_without_traces_says_so(no_traces):
    at = ok(page("measurements"))
    assert any("No traces found" in i.value for i in at.info)


def test_measurements_with_traces_show_measured_beside_modeled(traces_dir):
    at = ok(page("measurements"))
    m = metrics(at)
    assert m["calls (measured)"] == "4"
    figs = charts(at)
    names = [t.get("name") for t in figs[0]["data"]]
    assert "measured" in names and "modeled (same call)" in names
    assert any(t.get("name", "").startswith("80% of points") for t in figs[1]["data"])  # the error band
    assert len(at.dataframe) == 1
    at.multiselect(key="ms_kernels").set_value(["matmul"]).run()
    assert metrics(ok(at))["calls (measured)"] == "1"


def test_measurements_show_the_static_prediction_beside_the_measured_call(traces_dir):
    from roofline.measure import traces

    row = {"kernel": "gemv", "launch": "k", "shape": "n=8192", "dtype": "bf16", "config": "", "first_choice": True,
           "regs": 96, "spill_bytes": 0, "smem_bytes": 0, "num_warps": 4, "num_stages": 3, "grid_ctas": 512,
           "mma": "none", "ldg128_share": 1.0, "local_ops": 0, "instrs": 900, "hot_loop_instrs": 30,
           "instr_per_weight": 2.0, "instr_per_byte": None, "issue_floor_s": 2e-5, "memory_floor_s": 4e-5,
           "compute_floor_s": 1e-7, "predicted_bound": "memory", "kind": "static", "source": "triton x sm90"}
    traces.write_static({"kind": "static", "arch": "sm90", "device_id": "h100-sxm", "rows": [row], "date": "d"},
                        traces_dir)
    at = ok(page("measurements"))
    assert len(at.dataframe) == 3  # measured beside modeled, measured beside static, the static calls
    both = at.dataframe[1].value
    assert list(both["kernel"]) == ["gemv"] and "1.25" in str(both["measured_over_static"].iloc[0])  # 50 / 40 us


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.segmented_control(key="ms_source").set_value("upload a file").run()
    at.file_uploader(key="ms_upload").set_value((name, data, "application/octet-stream")).run()
    return ok(at)


@pytest.mark.parametrize("name,data,message", [
    ("corrupt.parquet", b"PAR1 definitely not parquet", "not a readable trace"),
    ("wrong.csv", b"a,b\n1,2\n", "missing columns"),
    ("trace.json", b"{not json", "Could not use this file"),
])
def test_measurements_bad_upload_is_a_readable_message(no_traces, name, data, message):
    at = _upload(page("measurements"), name, data)
    assert at.error and message in at.error[0].value
    at.segmented_control(key="ms_source").set_value("shipped traces").run()
    assert any("No traces found" in i.value for i in ok(at).info)  # the app kept running


def test_measurements_huge_upload_is_refused(no_traces, monkeypatch):
    from roofline.views import measured

    monkeypatch.setattr(measured, "MAX_UPLOAD_BYTES", 1000)  # same code path as a 50 MiB file, without one
    at = _upload(page("measurements"), "big.parquet", b"x" * 2000)
    assert "upload limit" in at.error[0].value


NCU_CSV = "\n".join([
    '"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"',
    # one bf16 GEMM launch: 8192^3 x 2 tensor FLOPs, 402.7 MB of DRAM traffic, 1.45 ms
    '"0","sm90_gemm_bf16","dram__bytes_read.sum","byte","268435456"',
    '"0","sm90_gemm_bf16","dram__bytes_write.sum","byte","134217728"',
    '"0","sm90_gemm_bf16","gpu__time_duration.sum","nsecond","1450000"',
    '"0","sm90_gemm_bf16","sm__ops_path_tensor_src_bf16_dst_fp32.sum","","1099511627776"',
]) + "\n"


def test_measurements_ncu_upload_is_attributed_to_a_device(no_traces):
    at = _upload(page("measurements"), "prof.csv", NCU_CSV.encode())
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="ms_upload_device").value == "h100-sxm"
    assert metrics(at)["calls (measured)"] == "1"
    assert any(t.get("name") == "measured" for t in charts(at)[0]["data"])  # ncu's FLOPs/bytes put it on the roof


def test_measurements_unmatched_host_gets_a_device_picker(no_traces, trace_rows):
    rows = trace_rows()
    rows["device_id"] = ""  # recorded on a host the profiler matched to no hwdb device
    at = _upload(page("measurements"), "host.parquet", rows.to_parquet(index=False))
    assert not at.error and any("matches no hwdb entry" in w.value for w in at.warning)
    assert not any("is not in the hardware database" in w.value for w in at.warning)
    assert at.selectbox(key="ms_assign").value == ""  # 'NVIDIA H100 80GB HBM3' could be SXM or PCIe: no guess
    assert any("choose the device that ran them" in i.value for i in at.info)  # no roofline without a device
    assert not any(t.get("name") == "modeled (same call)" for c in charts(at) for t in c["data"])
    at.selectbox(key="ms_assign").set_value("h100-sxm").run()
    assert not ok(at).error and at.selectbox(key="ms_device").value == "h100-sxm"
    assert any(t.get("name") == "modeled (same call)" for t in charts(at)[0]["data"])  # on the H100's roofline
    table = at.dataframe[0].value
    assert not table.astype(str).isin(["None", "nan"]).any().any()


def test_measurements_good_upload(no_traces, trace_rows):
    at = _upload(page("measurements"), "run.parquet", trace_rows().to_parquet(index=False))
    assert not at.error and metrics(at)["calls (measured)"] == "4"


# ------------------------------------------------------------------------------------------------ selection


def test_selection_ranks_and_reacts(no_traces):
    at = ok(page("selection"))
    m = metrics(at)
    best_speed = m["best by tokens/s (modeled)"]
    df = at.dataframe[0].value
    assert {"kind", "source", "pareto"} <= set(df.columns) and set(df["kind"]) == {"modeled"}
    assert any(m.value.startswith("**Verdict (modeled): Buy ") for m in at.markdown)
    at.selectbox(key="se_by").set_value("j_per_token").run()
    assert "best by J/token (modeled)" in metrics(ok(at))
    assert best_speed  # the speed winner is named; the J/token ranking may or may not agree
    pareto = charts(at)[0]
    assert any(t["name"] == "devices (modeled)" for t in pareto["data"])


def test_selection_cost_basis_and_placeholders(no_traces):
    at = ok(page("selection", {"se_by": "j_per_token"}))
    assert any("placeholder" in w.value and "tpu-v6e" in w.value for w in at.warning)  # listed apart, with why
    df = at.dataframe[0].value
    cloud_priced = set(df.loc[df["usd_per_mtok"].astype(str) != "—", "device_id"])
    at.segmented_control(key="se_basis").set_value("owned").run()
    owned = ok(at).dataframe[0].value
    owned_priced = set(owned.loc[owned["usd_per_mtok"].astype(str) != "—", "device_id"])
    assert "rtx-5090" in owned_priced and "rtx-5090" not in cloud_priced  # a list price, no cloud quote
    assert "tpu-v6e" not in owned_priced  # rented only


def test_selection_slo_nobody_meets(no_traces):
    at = ok(page("selection", {"se_slo_tpot": "0.0001"}))
    assert metrics(at)["devices that fit and meet the SLO (modeled)"].startswith("0 of")
    assert any("No candidate" in w.value for w in at.warning)


def test_selection_report_download(no_traces):
    at = ok(page("selection", {"se_kinds": "soc"}))
    spec_btn = [b for b in at.get("download_button") if "spec" in b.proto.label]
    assert spec_btn
    if not at.button:  # reports/ not installed
        assert any("report builder not installed" in i.value for i in at.info)
        return
    at.button[0].click().run()
    labels = [b.proto.label for b in ok(at).get("download_button")]
    assert "Download report (HTML)" in labels, [e.value for e in at.error]


# ------------------------------------------------------------------------------------------------ energy


def test_energy_renders_and_reacts(traces_dir):
    at = ok(page("energy"))
    figs = charts(at)
    assert len(figs) == 4  # energy roofline, coefficient map, IPW and IPJ heatmaps
    assert any(t["name"] == "measured" for t in figs[0]["data"])
    n_lines = len(figs[0]["data"])
    at.multiselect(key="en_dtypes").set_value(["bf16"]).run()
    assert len(charts(ok(at))[0]["data"]) < n_lines
    heat = charts(at)[2]["data"][0]
    assert len(heat["x"]) >= 8 and heat["texttemplate"] == "%{text}"  # one part of each class, values in cells
    at.multiselect(key="en_models").set_value(["llama-3.2-1b"]).run()
    heat = charts(ok(at))[2]
    assert heat["data"][0]["y"] == ["llama-3.2-1b"]


def test_energy_without_traces_is_modeled_only(no_traces):
    at = ok(page("energy"))
    assert any("No traces" in i.value for i in at.info)


# ------------------------------------------------------------------------------------------------ compare


def test_compare_two_configurations(no_traces):
    at = ok(page("compare"))
    table = at.dataframe[0].value
    assert list(table["label"])[:3] == ["TTFT", "TPOT", "tokens/s"] and set(table["better"]) <= {"A", "B", "same", "—"}
    (bd,) = charts(at)  # A and B in one breakdown: one scale, one colour per op kind
    groups = {g for t in bd["data"] for g in t["x"]}
    assert {"A · prefill", "A · decode", "B · prefill", "B · decode"} <= groups
    at.selectbox(key="cmp_b_device").set_value("what-if").run()
    assert any("what-if device" in w.value for w in ok(at).warning)
    at.selectbox(key="cmp_a_model").set_value("llama-3.1-70b").run()
    assert any("does not fit" in e.value for e in ok(at).error)


# ------------------------------------------------------------------------------------------------ planning


def test_capacity_planning_renders_a_verdict_and_the_timeline(no_traces):
    at = ok(page("planning"))
    assert any("devices" in h.value for h in at.subheader)
    assert at.dataframe and len(at.dataframe) >= 3
