"""`roofline profile` on the CPU: suites, planning, end-to-end trace, refusals, bad input, Ctrl-C."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kernels.registry import Bench, KernelEntry, load_all
from roofline.errors import InputError, UnknownNameError
from roofline.measure import profile, traces
from roofline.measure.trace_schema import TRACE_COLUMNS
from roofline.ops import Op

FAST = ["--target", "0.01", "--energy", "modeled"]


def _wrong_prepare(shape, dtype, device):
    import torch

    x = torch.ones(8)
    return Bench(kernel="test_wrong", shape=shape, dtype=dtype, impls={"ours": lambda: x * 2}, reference=lambda: x,
                 ops=[Op("w", "elementwise", 8, 32, 32, "fp32")])


WRONG = KernelEntry(  # registered only inside the test that needs it (other tests iterate the registry)
    name="test_wrong", family="test", description="returns 2x its reference (must never be timed)",
    prepare=_wrong_prepare, dtypes=("fp32",), bench_shapes=({"n": 8},), quick_shapes=({"n": 8},))


def _suite(tmp_path: Path, body: str) -> str:
    p = tmp_path / "s.toml"
    p.write_text(body)
    return str(p)


def test_builtin_suites_parse():
    assert {"quick", "full"} <= set(profile.suite_names())
    full = profile.load_suite("full")
    names = {e.kernel for e in full.entries}
    assert {"copy", "matmul", "w4a16_linear", "w8a8_linear", "ternary_linear", "flash_attention", "decode_attention",
            "block_sparse_attention", "sparse24_linear", "contextual_mlp"} <= names
    assert full.window_s >= 1.0
    mm = next(e for e in full.entries if e.kernel == "matmul")
    assert set(mm.dtypes) == {"fp32", "tf32", "bf16", "fp16", "int8"}


def test_plan_shapes_filters_and_unregistered_kernels(tmp_path):
    reg = load_all()
    s = profile.load_suite(_suite(tmp_path, '''
name = "t"
[[kernels]]
name = "matmul"
dtypes = ["fp32"]
shapes = [{m = 17, n = 24, k = 40}, {m = 32, n = 8, k = 16}]
[[kernels]]
name = "copy"
shapes = "bench"
[[kernels]]
name = "not_landed_yet"
'''))
    points, warns = profile.plan(s, reg, None, on_gpu=False)
    assert [p.shape for p in points if p.kernel == "matmul"] == [{"m": 17, "n": 24, "k": 40}, {"m": 32, "n": 8, "k": 16}]
    assert [p.shape for p in points if p.kernel == "copy"] == list(reg["copy"].bench_shapes)
    assert warns == ["kernel 'not_landed_yet' is not registered yet; skipped"]
    points, _ = profile.plan(s, reg, ["copy"], on_gpu=False)
    assert {p.kernel for p in points} == {"copy"}
    with pytest.raises(UnknownNameError, match="unknown kernel"):
        profile.plan(s, reg, ["not_landed_yet"], on_gpu=False)


def test_bad_suite_files(tmp_path):
    with pytest.raises(InputError, match="cannot read suite"):
        profile.load_suite(str(tmp_path / "missing.toml"))
    with pytest.raises(InputError, match="not valid TOML"):
        profile.load_suite(_suite(tmp_path, "name = \n"))
    with pytest.raises(InputError, match="shapes"):
        profile.load_suite(_suite(tmp_path, '[[kernels]]\nname = "copy"\nshapes = "huge"\n'))
    with pytest.raises(UnknownNameError, match="unknown suite"):
        profile.load_suite("quik")


def test_quick_suite_end_to_end_writes_a_valid_trace(tmp_path, monkeypatch, capsys, cli):
    code, out, err = cli(["profile", "--suite", "quick", "--kernels", "copy,matmul",
                                                   "--out", str(tmp_path), "--json", *FAST])
    assert code == 0, err
    doc = json.loads(out)
    run = Path(doc["path"])
    assert run.parent == tmp_path and doc["energy_method"] == "modeled"
    m = json.loads((run / "manifest.json").read_text())
    assert m["complete"] is True and m["device_id"] == "" and m["device_name"]
    assert m["rows"] == 3 and m["versions"]["torch"] and m["command"].startswith("roofline profile")
    df = traces.load_run(run)
    assert list(df.columns) == list(TRACE_COLUMNS)
    assert sorted(zip(df["kernel"], df["dtype"], strict=True)) == [("copy", "fp32"), ("matmul", "bf16"),
                                                                    ("matmul", "fp32")]
    assert (df["median_s"] > 0).all() and (df["p20_s"] <= df["median_s"]).all()
    assert (df["median_s"] <= df["p80_s"]).all() and (df["reps"] >= 10).all()
    assert (df["max_err"] <= 2e-2).all() and df["timing_method"].eq("perf_counter").all()
    mm = df[(df["kernel"] == "matmul") & (df["dtype"] == "fp32")].iloc[0]
    assert mm["flops"] == 2 * 128**3 and mm["bytes"] == 3 * 128 * 128 * 4
    assert df.loc[df["kernel"] == "copy", "bytes"].iloc[0] == 2 * 2**20 * 4  # read + write
    assert df["energy_method"].eq("").all() and df["energy_j"].isna().all()  # CPU host, no hwdb device


def test_profile_with_device_models_energy_and_prints_summary(tmp_path, monkeypatch, capsys, cli):
    code, _, err = cli(["profile", "--kernels", "copy", "--device", "h100-sxm", "--out", str(tmp_path), *FAST])
    assert code == 2 and "--force-device" in err and not any(tmp_path.iterdir())  # a CPU host is no H100
    code, out, err = cli(["profile", "--kernels", "copy", "--device", "h100-sxm", "--force-device",
                          "--out", str(tmp_path), *FAST])
    assert code == 0, err
    assert "copy" in out and "modeled" in out and "trace:" in out
    df = traces.load_runs(tmp_path)
    assert df["device_id"].tolist() == ["h100-sxm"] and df["energy_j"].iloc[0] > 0
    assert df["device_forced"].iloc[0].startswith("cpu: ")  # labelled in the rows and the manifest
    assert traces.list_runs(tmp_path)[0].manifest["device_forced"] == df["device_forced"].iloc[0]


def test_wrong_kernel_is_refused_not_timed(tmp_path, monkeypatch):
    monkeypatch.setitem(load_all(), "test_wrong", WRONG)
    s = _suite(tmp_path, '[[kernels]]\nname = "test_wrong"\nshapes = "quick"\n')
    res = profile.run_profile(profile.ProfileConfig(suite=s, out=str(tmp_path / "t"), energy="none", target_s=0.01))
    assert res.rows.empty and res.path is None
    assert any("max relative error" in w and "not timed" in w for w in res.warnings)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("args, msg", [
    (["--kernels", "no_such_kernel"], "unknown kernel"),
    (["--suite", "/nonexistent/suite.toml"], "cannot read suite"),
    (["--device", "h999"], "unknown device"),
    (["--energy", "nvml"], "nvml"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys, args, msg, cli):
    out = tmp_path / "traces"
    code, _, err = cli(["profile", "--kernels", "copy", "--out", str(out), *FAST[:2], *args])
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and msg in err
    assert not out.exists()


def test_output_folder_not_writable(tmp_path, monkeypatch, capsys, cli):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, _, err = cli(["profile", "--kernels", "copy", "--out", str(blocker / "traces"), *FAST])
    assert code == 2 and "not writable" in err and err.count("\n") == 1


def test_ncu_not_installed(tmp_path, monkeypatch, capsys, cli):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NCU", raising=False)
    code, _, err = cli(["profile", "--kernels", "copy", "--ncu", "--out", str(tmp_path / "t"),
                                                 *FAST])
    assert code == 2 and "ncu" in err and err.count("\n") == 1
    assert not (tmp_path / "t").exists()


def test_ctrl_c_keeps_completed_rows_and_says_so(tmp_path, monkeypatch, capsys, cli):
    real = profile.run_point
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(profile, "run_point", flaky)
    code, _, err = cli(["profile", "--kernels", "copy,matmul", "--out", str(tmp_path), *FAST])
    assert code == 130 and "interrupted: kept 1 completed rows" in err
    (run,) = traces.list_runs(tmp_path)
    assert run.manifest["complete"] is False and run.manifest["rows"] == 1
    assert any("interrupted (Ctrl-C)" in n for n in run.manifest["notes"])
    assert len(traces.load_run(run.path)) == 1


def test_device_matching_refuses_to_pretend():
    import hwdb
    from roofline.measure.device_query import cpu_name, match_device, query_local

    devs = hwdb.load()
    assert match_device("NVIDIA H100 80GB HBM3", 85.0e9, devs)[0] == "h100-sxm"
    # PCIe is its own hwdb device, never the SXM one (issue 14: matched by name and memory)
    assert match_device("NVIDIA H100 PCIe", 85.0e9, devs)[0] == "h100-pcie"
    assert match_device("NVIDIA H200", 143_771 * 2**20, devs)[0] == "h200"  # as nvidia-smi reports it
    nvl, why = match_device("NVIDIA H100 NVL", 99.9e9, devs)
    assert nvl == "" and "does not hold" in why  # no hwdb entry: not attributed to the SXM or PCIe part
    assert match_device("NVIDIA H200 NVL", 150e9, devs)[0] == ""
    assert match_device("NVIDIA H200", 80e9, devs)[0] == ""  # right name, wrong memory
    assert match_device("NVIDIA H100 80GB HBM3", 40e9, devs)[0] == ""  # right name, wrong memory
    local = query_local(use_gpu=False)
    assert local.device_id == "" and local.device_name == cpu_name() and local.kind == "cpu"
    assert query_local("h100-sxm", use_gpu=False).device_id == "h100-sxm"


def test_timers_and_output_check():
    import torch

    from roofline.measure.timers import KernelWrongError, check_output, summarize, time_cpu

    t = time_cpu(lambda: sum(range(100)), target_s=0.01)
    assert t.method == "perf_counter" and t.reps >= 10 and t.p20_s <= t.median_s <= t.p80_s
    s = summarize([3.0, 1.0, 2.0, 4.0, 5.0], "x")
    assert s.median_s == 3.0 and s.reps == 5
    x = torch.ones(4)
    assert check_output("k", x, x, 0.0) == 0.0
    with pytest.raises(KernelWrongError, match="all zeros"):
        check_output("k", torch.zeros(4), torch.zeros(4), 1e-2)
    with pytest.raises(KernelWrongError, match="shape"):
        check_output("k", torch.ones(3), x, 1e-2)
    with pytest.raises(KernelWrongError):
        check_output("k", torch.full((4,), math.nan), x, 1e-2)


def test_ceiling_kernels_contract():
    import torch

    from kernels.registry import max_rel_error

    reg = load_all()
    for name in ("copy", "matmul"):
        e = reg[name]
        for dt in e.dtypes:
            if dt == "tf32":
                continue  # tf32 is a CUDA tensor-core mode; on a CPU it is plain fp32
            b = e.prepare(dict(e.quick_shapes[0]), dt, "cpu")
            assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol
            assert b.ops[0].bytes > 0
    assert isinstance(reg["matmul"].prepare({"m": 32, "n": 16, "k": 8}, "int8", "cpu").impls["ours"](), torch.Tensor)


def test_gpu_properties_record_what_the_driver_reports():
    from types import SimpleNamespace

    from roofline.measure.device_query import gpu_properties

    props = SimpleNamespace(name="NVIDIA H200", multi_processor_count=132, total_memory=143_771 * 2**20, major=9,
                            minor=0, L2_cache_size=60 * 2**20)
    p = gpu_properties(props, {"max_sm_clock_hz": 1.98e9})
    assert p == {"name": "NVIDIA H200", "sm_count": 132, "total_memory_bytes": 143_771 * 2**20,
                 "compute_capability": "9.0", "l2_bytes": 60 * 2**20, "max_sm_clock_hz": 1.98e9}
