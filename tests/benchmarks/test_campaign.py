"""The GPU campaign without a GPU: the pure parts (targets, plan, budget fitting, suite files) and the whole
machinery end to end in --smoke mode on the CPU (subprocess per stage, deadlines, fault isolation, signals,
packing into one archive + summary.md, --analyze and --commit)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from roofline.measure.profile import parse_suite

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, mod)  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


gc = _load("gpu_campaign")
cp = _load("campaign_plan")


def _row(kernel, impl, shape, median_s, dtype="bf16", run_id="r1", nbytes=1.0):
    return {"run_id": run_id, "kernel": kernel, "impl": impl, "shape": json.dumps(shape, sort_keys=True),
            "dtype": dtype, "median_s": median_s, "bytes": nbytes}


W4 = {"M": 1, "K": 8192, "N": 8192, "group": 128}


def test_evaluate_targets_met_missed_and_not_measured():
    df = pd.DataFrame([
        _row("w4a16_linear", "ours", W4, 10e-6), _row("w4a16_linear", "torch-bf16-linear", W4, 40e-6),  # 4.0x
        _row("w4a16_linear", "ours", {**W4, "M": 16}, 30e-6),
        _row("w4a16_linear", "torch-bf16-linear", {**W4, "M": 16}, 60e-6),  # 2.0x < 3.0x
        # the peer of another run is not compared with
        _row("w4a16_linear", "ours", {**W4, "M": 64}, 10e-6, run_id="r2"),
        _row("w4a16_linear", "torch-bf16-linear", {**W4, "M": 64}, 60e-6, run_id="r3"),
        # decode: an absolute rate; the ragged shape is not the target's
        _row("decode_attention", "ours", {"B": 16, "H": 32, "Hkv": 8, "L": 8192, "D": 128}, 1e-3, nbytes=3.0e9),
        _row("decode_attention", "ours", {"B": 16, "H": 32, "Hkv": 8, "L": 8192, "D": 128, "ragged": True}, 1e-3,
             nbytes=1e9),
        # 2:4 at M <= 16 only, fp16 only
        _row("sparse24_linear", "ours", {"M": 16, "N": 64, "K": 64}, 1.0, dtype="fp16"),
        _row("sparse24_linear", "torch-dense-linear", {"M": 16, "N": 64, "K": 64}, 2.0, dtype="fp16"),
        _row("sparse24_linear", "ours", {"M": 64, "N": 64, "K": 64}, 1.0, dtype="fp16"),
        _row("sparse24_linear", "torch-dense-linear", {"M": 64, "N": 64, "K": 64}, 1.0, dtype="fp16"),
    ])
    t = cp.evaluate_targets(df)
    assert list(t.columns) == cp.TARGET_COLUMNS
    by = t.groupby("target")
    m1 = by.get_group("w4a16-m1").iloc[0]
    assert m1["status"] == "met" and m1["value"] == pytest.approx(4.0) and m1["margin"] == pytest.approx(4.0 / 3.5 - 1)
    m16 = by.get_group("w4a16-m16").iloc[0]
    assert m16["status"] == "missed" and m16["margin"] == pytest.approx(2.0 / 3.0 - 1)  # missed by a third
    assert by.get_group("w4a16-m64").iloc[0]["status"] == "not measured"
    dec = by.get_group("decode-b16")
    assert len(dec) == 1 and dec.iloc[0]["value"] == pytest.approx(3.0e12) and dec.iloc[0]["met"]
    sp = by.get_group("sparse24-m16")
    assert len(sp) == 1 and sp.iloc[0]["value"] == pytest.approx(2.0) and sp.iloc[0]["met"]
    nm = t[t["status"] == "not measured"]
    assert nm["value"].isna().all() and not nm["met"].any()
    assert set(t["target"]) == {x.id for x in cp.TARGETS}


def test_every_target_has_a_planned_point():
    pts = cp.profile_points()
    for t in cp.TARGETS:
        hits = [(p, s, im) for p, k, dt, s, im in pts if (k, dt) == (t.kernel, t.dtype) and cp.shape_matches(s, t.shape)]
        assert hits, t.id
        assert min(p for p, _, _ in hits) <= 1, t.id  # targets run before the calibration spread
        assert any("ours" in im and (t.peer is None or t.peer in im) for _, _, im in hits), t.id


def _item(priority, label, est, group=""):
    return cp.PlanItem(priority, "profile", label, est, group)


def test_trim_plan_drops_lowest_priority_first_and_charges_first_use_once():
    first = {"flash": 10.0}
    items = [_item(3, "c3", 5.0), _item(0, "a0", 5.0), _item(1, "f1", 5.0, "flash"), _item(1, "f2", 5.0, "flash"),
             _item(2, "b2", 5.0)]
    assert cp.plan_cost_s(items, first) == 35.0  # the flash group pays its 10 s once
    kept, dropped = cp.trim_plan(items, 35.0, first)
    assert [i.label for i in kept] == ["a0", "f1", "f2", "b2", "c3"] and not dropped
    kept, dropped = cp.trim_plan(items, 26.0, first)
    assert [i.label for i in kept] == ["a0", "f1", "f2"] and [i.label for i in dropped] == ["c3", "b2"]
    kept, dropped = cp.trim_plan(items, 20.0, first)  # f2 out; f1 still carries the group's first use
    assert [i.label for i in kept] == ["a0", "f1"]
    kept, dropped = cp.trim_plan(items, 4.0, first)
    assert kept == [] and [i.label for i in dropped] == ["c3", "b2", "f2", "f1", "a0"]


def test_fit_plan_skips_what_does_not_fit_and_keeps_trying_smaller_items():
    items = [_item(0, "a", 5.0), _item(1, "big", 50.0), _item(2, "small", 3.0)]
    kept, dropped = cp.fit_plan(items, 10.0, lambda k: sum(i.est_s for i in k))
    assert [i.label for i in kept] == ["a", "small"] and [i.label for i in dropped] == ["big"]


def test_compile_shards_balance_the_longest_first():
    pts = [{"est_s": e} for e in (10.0, 9.0, 8.0, 1.0, 1.0, 1.0)]
    assert cp.assign_shards(pts, 3) == 10.0 and {p["shard"] for p in pts} == {0, 1, 2}
    assert cp.assign_shards([], 4) == 0.0


def test_default_plan_fits_the_budget_and_keeps_the_targets():
    spec = gc.make_spec(gc.parse_args(["--plan"]))
    est = sum(spec["estimates_s"].values()) + cp.PACK_S
    assert est <= spec["budget_s"] == cp.DEFAULT_BUDGET_S == 420.0
    kept = {i["label"] for i in spec["kept"]}
    assert "copy fp32 n=268435456" in kept and "matmul bf16 m=8192,n=8192,k=8192" in kept
    for t in cp.TARGETS:  # every target's point is measured, with its peer and energy
        assert any(i["spec"]["kernel"] == t.kernel and i["spec"]["dtype"] == t.dtype
                   and cp.shape_matches(i["spec"]["shape"], t.shape) for i in spec["kept"]), t.id
    assert {(d["variant"], d["batch"]) for d in spec["decode_configs"]} >= {("bf16", 1), ("w4a16", 1)}
    assert {p["shard"] for p in spec["compile_points"]} <= set(range(spec["workers"]))
    heads = [i for g in spec["families"].values() for grp in g if grp["trials"] >= 2 for i in grp["items"]]
    assert {i["label"] for i in heads} == cp.HEADLINE_LABELS  # two energy windows: the CV is reported
    bonus = [i for g in spec["bonus"].values() for grp in g for i in grp["items"]]
    assert {i["label"] for i in bonus} == {i["label"] for i in spec["dropped"] if i["stage"] == "profile"}


def test_suite_toml_round_trips_through_the_profiler_parser():
    kept = [i for i in cp.build_plan() if i.stage == "profile"][:6]
    text = cp.suite_toml(kept, 0.25, 1.0, 1)
    suite = parse_suite(tomllib.loads(text), "campaign.toml")
    assert suite.window_s == 1.0 and suite.trials == 1 and suite.target_s == 0.25
    assert [e.kernel for e in suite.entries] == [i.spec["kernel"] for i in kept]
    assert [e.shapes[0] for e in suite.entries] == [i.spec["shape"] for i in kept]
    assert suite.entries[0].dtypes == ("fp32",) and suite.entries[0].impls == ("ours",)
    quick = parse_suite(tomllib.loads(cp.suite_toml(cp.smoke_plan()[:2], 0.01, 1.0, 1)), "smoke.toml")
    assert quick.entries[0].shapes == "quick"


def test_shape_matches_values_tuples_and_absent_keys():
    assert cp.shape_matches({"B": 16, "L": 8192}, {"B": 16, "ragged": None})
    assert not cp.shape_matches({"B": 16, "ragged": True}, {"B": 16, "ragged": None})
    assert cp.shape_matches({"M": 8}, {"M": (1, 8, 16)}) and not cp.shape_matches({"M": 64}, {"M": (1, 8, 16)})


def test_plan_mode_runs_without_a_gpu(capsys):
    assert gc.main(["--plan", "--budget-s", "300"]) == 0
    out = capsys.readouterr().out
    assert "kept" in out and "P0 profile" in out and "compile:" in out


def test_bad_arguments_exit_2():
    for bad in (["--budget-s", "5"], ["--trials", "0"], ["--only", "gpu"]):
        with pytest.raises(SystemExit) as e:
            gc.parse_args(bad)
        assert e.value.code == 2


# ---- the whole machinery, --smoke (Triton interpreter, tiny shapes, CPU) ---------------------------------

def _smoke(tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(BENCH / "gpu_campaign.py"), "--smoke", "--out", str(tmp_path / "out"), "--scratch",
           str(tmp_path / "scratch"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _archive(out: Path) -> tuple[Path, list[str]]:
    files = sorted(p.name for p in out.iterdir())
    (arc,) = [out / f for f in files if f.endswith(".tar.gz")]
    assert files == sorted([arc.name, "summary.md"])  # exactly one archive and the summary come back
    with tarfile.open(arc) as t:
        return arc, t.getnames()


def _stages(summary: str) -> dict[str, str]:
    rows = [ln.split("|") for ln in summary.splitlines() if ln.startswith("| ") and ln.count("|") >= 7]
    return {r[1].strip(): r[2].strip() for r in rows if r[1].strip() not in ("stage",)}


# What the measuring machine lacks (it has torch, triton, numpy, pandas, pyarrow, nvidia-ml-py, jinja2, pytest):
# every process of the campaign starts with these imports refused, as there.
GPU_HOST_LACKS = ("streamlit", "plotly", "typer", "rich", "matplotlib", "scipy", "hypothesis", "click")
_BLOCKER = """
import sys
class _Lacks:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {lacks!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on the measuring machine)", name=name)
        return None
sys.meta_path.insert(0, _Lacks())
"""


def test_smoke_runs_every_stage_and_packs_one_archive(tmp_path):
    site = tmp_path / "gpu_host_site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_BLOCKER.format(lacks=GPU_HOST_LACKS))
    p = _smoke(tmp_path, env={"PYTHONPATH": str(site)})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    arc, names = _archive(tmp_path / "out")
    for must in ("campaign/spec.json", "campaign/device.json", "campaign/compile/shard-0.json",
                 "campaign/compile/shard-1.json", "campaign/family-quant.json", "campaign/family-attention.json",
                 "campaign/decode.json", "campaign/analysis.json", "campaign/summary.md", "campaign/logs/decode.log"):
        assert must in names, must
    assert sum(n.endswith("rows.parquet") for n in names) == 4  # one trace run a family
    summary = (tmp_path / "out" / "summary.md").read_text()
    st = _stages(summary)
    assert all(st[s] == "ok" for s in ("device", "compile", "family:ceiling", "family:quant", "family:attention",
                                        "family:sparse", "decode", "analysis")), st  # with the GPU host's packages
    assert "Correctness:" in summary and "matched the torch reference" in summary and "## Peer ratios" in summary
    # --analyze reproduces the analysis from the archive; --commit merges the runs into one committed run
    repo = tmp_path / "repo"
    a = subprocess.run([sys.executable, str(BENCH / "gpu_campaign.py"), "--analyze", str(arc), "--out",
                        str(tmp_path / "an"), "--commit", "--repo", str(repo)], capture_output=True, text=True,
                       timeout=300)
    assert a.returncode == 0, a.stdout[-2000:] + a.stderr[-2000:]
    (run,) = (repo / "traces").iterdir()
    rows = pd.read_parquet(run / "rows.parquet")
    assert rows["run_id"].nunique() == 1 and len(rows) >= 20 and (run / "campaign" / "summary.md").is_file()
    assert json.loads((run / "manifest.json").read_text())["parts"]


def test_a_crashing_family_is_isolated(tmp_path):
    p = _smoke(tmp_path, "--only", "ceiling,quant,sparse", env={"ROOFLINE_CAMPAIGN_FAULT": "family:quant"})
    assert p.returncode == 1, p.stdout[-2000:]
    _, names = _archive(tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text()
    st = _stages(summary)
    assert st["family:quant"] == "crashed" and st["family:ceiling"] == "ok" and st["family:sparse"] == "ok"
    assert "exit codes [134]" in summary


def test_a_hung_stage_is_killed_and_the_budget_holds(tmp_path):
    t = time.monotonic()
    p = _smoke(tmp_path, "--only", "ceiling,sparse", "--budget-s", "60", env={"ROOFLINE_CAMPAIGN_FAULT": "hang:family:sparse"})
    assert time.monotonic() - t < 60 + 5  # its own deadline, not the command's timeout
    _, names = _archive(tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text()
    st = _stages(summary)
    assert st["family:sparse"] == "timeout" and "killed at its allowance" in summary  # hung, SIGINT ignored
    assert st["family:ceiling"] == "ok" and st["analysis"] == "ok", st  # the stage after it still ran
    assert p.returncode == 1


def test_sigterm_packs_what_was_measured(tmp_path):
    cmd = [sys.executable, str(BENCH / "gpu_campaign.py"), "--smoke", "--out", str(tmp_path / "out"), "--scratch",
           str(tmp_path / "scratch")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    scratch = tmp_path / "scratch"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(scratch.glob("traces/*/rows.parquet")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-2000:]
    _, names = _archive(tmp_path / "out")
    assert any(n.endswith("rows.parquet") for n in names)  # the rows measured before the signal came back
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "interrupted by SIGTERM" in summary and "interrupted" in _stages(summary).values()
