"""Real exports, imported: a real-shaped Nsight Compute details CSV (hand-made in the shape of an H100 export,
with its preamble, Rule columns, trailing commas and every unit spelling), a CPU-only torch.profiler trace
recorded here and now, a .ncu-rep through the ncu-report interface, and Kineto import that scales linearly."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from roofline.measure import kineto, ncu, traces

REAL_NCU = "ncu_h100_details_realshaped_handmade.csv"
GEMM = "nvjet_sm90_tst_128x64_64x8_1x2_h_bz_coopA_TNT"


def test_real_shaped_ncu_details_export(fixtures_dir):
    text = (fixtures_dir / REAL_NCU).read_text()
    assert text.startswith("# HAND-MADE") and "==PROF== Connected" in text and "==WARNING==" in text
    for unit in ('"ns"', '"usecond"', '"msecond"', '"byte"', '"Kbyte"', '"Mbyte"', '"Gbyte"', '"Gbyte/second"',
                 '"Tbyte/second"', '"byte/cycle"', '"inst/cycle"', '"cycle"', '"hz"', '"Ghz"', '"inst"', '"%"'):
        assert unit in text, unit
    df = ncu.read_ncu_csv(fixtures_dir / REAL_NCU)
    assert len(df) == 6 and df["id"].tolist() == [0, 1, 2, 3, 4, 5]  # one row per launch
    assert df.attrs["messages"] and df.attrs["messages"][0].startswith("==WARNING==")
    big = df.iloc[3]  # the large GEMM: 1.39 msecond, 0.40 Gbyte + 67.11 Mbyte, 549,755,813,888 tensor ops
    assert big["duration_s"] == pytest.approx(1.39e-3) and big["ncu_dram_bytes"] == pytest.approx(0.40e9 + 67.11e6)
    assert big["ncu_l2_bytes"] == pytest.approx(1.21e9) and big["ncu_flops"] == 549_755_813_888
    ew = df.iloc[1]  # 2,496 ns; 1,048,576 + 524,288 byte; 262,144 fadd
    assert ew["duration_s"] == pytest.approx(2.496e-6) and ew["ncu_dram_bytes"] == 1_572_864
    assert ew["ncu_cuda_core_flops"] == 262_144
    flash = df.iloc[5]  # tensor ops + 2 x 4,194,304 FMA
    assert flash["ncu_flops"] == 137_438_953_472 + 2 * 4_194_304
    s = ncu.summarize_ncu(df)
    # the GEMM at two grids stays two configurations; its two (132, 1, 1) launches are one, with a count
    gemm = s[s["kernel_name"] == GEMM].set_index("grid")
    assert gemm.loc["(132, 1, 1)", "launches"] == 2 and gemm.loc["(264, 2, 1)", "launches"] == 1
    assert gemm.loc["(132, 1, 1)", "duration_s"] == pytest.approx((50.21e-6 + 49.87e-6) / 2)
    assert len(s) == 4 and s["launches"].sum() == 6


def test_real_shaped_ncu_export_saves_per_configuration_rows(fixtures_dir, tmp_path, cli):
    code, out, err = cli(["import-ncu", str(fixtures_dir / REAL_NCU), "--device", "h100-sxm", "--save",
                          "--out", str(tmp_path), "--json"])
    assert code == 0, err
    df = traces.load_run(json.loads(out)["path"])
    assert len(df) == 4 and df["reps"].sum() == 6
    shapes = {json.loads(s)["grid"] for s in df.loc[df["kernel"] == GEMM, "shape"]}
    assert shapes == {"(132, 1, 1)", "(264, 2, 1)"}
    assert (df["p20_s"] <= df["median_s"]).all() and (df["median_s"] <= df["p80_s"]).all()


def _profile_cpu_trace(path) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    x, w = torch.randn(64, 128), torch.randn(256, 128)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            y = torch.nn.functional.linear(x, w)
            y = torch.nn.functional.silu(y)
            torch.softmax(y, dim=-1).sum()
    prof.export_chrome_trace(str(path))


def test_cpu_only_torch_profiler_trace_recorded_now(tmp_path, cli):
    """A real CPU torch.profiler trace (recorded in this test) imports onto a CPU device."""
    path = tmp_path / "cpu_trace.json"
    _profile_cpu_trace(path)
    doc = json.loads(path.read_text())
    assert not any(e.get("cat") == "kernel" for e in doc["traceEvents"])  # CPU-only: no GPU kernels
    df = kineto.read_kineto(path)
    assert (df["where"] == "cpu").all() and "CPU-only" in df.attrs["notes"][0]
    names = set(df["name"])
    assert {"aten::linear", "aten::silu", "aten::softmax"} <= names and "aten::addmm" not in names  # outermost ops
    assert set(df.loc[df["name"] == "aten::linear", "op_kind"]) == {"matmul"}
    assert (df["dur_s"] > 0).all()
    code, out, err = cli(["import-trace", str(path), "--device", "h100-sxm"])
    assert code == 2 and err.count("\n") == 1 and "CPU-only" in err  # CPU times on a GPU roofline: refused
    code, out, err = cli(["import-trace", str(path), "--device", "epyc-9654", "--save", "--out", str(tmp_path / "t"),
                          "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["where"] == "cpu" and doc["path"]
    rows = traces.load_run(doc["path"])
    assert set(rows["device_id"]) == {"epyc-9654"} and (rows["median_s"] > 0).all()
    assert any("CPU-only" in n for n in traces.read_manifest(traces.Path(doc["path"]))["notes"])


def _kineto_bench():
    """benchmarks/kineto_bench.py (its synthetic trace is the one the scaling check uses)."""
    spec = importlib.util.spec_from_file_location("kineto_bench", Path(__file__).resolve().parents[2] / "benchmarks"
                                                  / "kineto_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


synthetic_trace = _kineto_bench().synthetic_trace


def test_kineto_import_scales_linearly():
    """8x the kernels takes about 8x the time (a backward scan per kernel made it 64x): the ratio of the best
    of three runs is checked, not an absolute time (benchmarks/kineto_bench.py measures 100k kernels)."""
    small, large = synthetic_trace(1500), synthetic_trace(12000)

    def best(data: bytes) -> float:
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            df = kineto.read_kineto(data)
            ts.append(time.perf_counter() - t0)
        assert df["cpu_op"].value_counts().to_dict() == {"aten::addmm": len(df) // 2, "CompiledFunction": len(df) // 2}
        return min(ts)

    ratio = best(large) / best(small)
    assert ratio < 24, f"8x the events took {ratio:.1f}x the time"


class _Metric:
    def __init__(self, v, unit):
        self.v, self.u = v, unit

    def has_value(self):
        return True

    def as_double(self):
        return self.v

    def unit(self):
        return self.u


class _Action:
    def __init__(self, name, metrics):
        self.n, self.m = name, metrics

    def name(self):
        return self.n

    def metric_by_name(self, name):
        return self.m.get(name)

    def metric_names(self):
        return list(self.m)


class _Range:
    def __init__(self, actions):
        self.a = actions

    def num_actions(self):
        return len(self.a)

    def action_by_idx(self, i):
        return self.a[i]


class _Context:
    def __init__(self, ranges):
        self.r = ranges

    def num_ranges(self):
        return len(self.r)

    def range_by_idx(self, i):
        return self.r[i]


def test_ncu_rep_through_the_ncu_report_interface(tmp_path, monkeypatch):
    """A .ncu-rep is read through ncu_report's IContext / IRange / IAction / IMetric (a stand-in here with
    the same methods; the package itself needs a real report, which only ncu on a GPU writes)."""
    acts = [_Action(GEMM, {"gpu__time_duration.sum": _Metric(50_200.0, "nsecond"),
                           "dram__bytes_read.sum": _Metric(135.3, "Mbyte"), "dram__bytes_write.sum": _Metric(2.4, "Mbyte"),
                           "lts__t_bytes.sum": _Metric(273e6, "byte"), "launch__grid_size": _Metric(132.0, ""),
                           "launch__block_size": _Metric(384.0, ""),
                           "sm__ops_path_tensor_src_bf16_dst_fp32.sum": _Metric(8.589934592e9, "")})]

    class FakeModule:
        @staticmethod
        def load_report(path):
            return _Context([_Range(acts * 2)])

    monkeypatch.setattr(ncu, "ncu_report", FakeModule)
    rep = tmp_path / "r.ncu-rep"
    rep.write_bytes(b"report")
    df = ncu.read_ncu(rep)
    assert len(df) == 2 and df["duration_s"].tolist() == pytest.approx([50.2e-6, 50.2e-6])
    assert df["ncu_dram_bytes"].iloc[0] == pytest.approx(137.7e6) and df["grid"].iloc[0] == "132"
    assert ncu.summarize_ncu(df)["launches"].tolist() == [2]
    monkeypatch.setattr(ncu, "ncu_report", None)
    with pytest.raises(ncu.NcuError, match="pip install ncu-report"):
        ncu.read_ncu(rep)


def test_kineto_rows_for_the_upload_path_are_trace_rows(fixtures_dir):
    df = traces.read_export("k.json", (fixtures_dir / "kineto_handmade.json").read_bytes(), "h100-sxm", "H100")
    assert isinstance(df, pd.DataFrame) and len(df) == 5
