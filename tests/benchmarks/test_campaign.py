"""The H100 campaign script's pure parts, without a GPU: target evaluation, the plan and its trimming, the
generated suite file."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from roofline.measure.profile import parse_suite

_SPEC = importlib.util.spec_from_file_location(
    "h100_campaign", Path(__file__).resolve().parents[2] / "benchmarks" / "h100_campaign.py")
hc = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("h100_campaign", hc)  # dataclasses look their module up while the class is built
_SPEC.loader.exec_module(hc)


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
    t = hc.evaluate_targets(df)
    assert list(t.columns) == hc.TARGET_COLUMNS
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
    assert set(t["target"]) == {x.id for x in hc.TARGETS}


def test_every_target_has_a_planned_point():
    pts = hc.profile_points()
    for t in hc.TARGETS:
        hits = [(p, s, im) for p, k, dt, s, im in pts if (k, dt) == (t.kernel, t.dtype) and hc.shape_matches(s, t.shape)]
        assert hits, t.id
        assert min(p for p, _, _ in hits) <= 1, t.id  # targets run before the calibration spread
        assert any("ours" in im and (t.peer is None or t.peer in im) for _, _, im in hits), t.id


def _item(priority, label, est, group=""):
    return hc.PlanItem(priority, "profile", label, est, group)


def test_trim_plan_drops_lowest_priority_first_and_charges_first_use_once():
    first = {"flash": 10.0}
    items = [_item(3, "c3", 5.0), _item(0, "a0", 5.0), _item(1, "f1", 5.0, "flash"), _item(1, "f2", 5.0, "flash"),
             _item(2, "b2", 5.0)]
    assert hc.plan_cost_s(items, first) == 35.0  # the flash group pays its 10 s once
    kept, dropped = hc.trim_plan(items, 35.0, first)
    assert [i.label for i in kept] == ["a0", "f1", "f2", "b2", "c3"] and not dropped
    kept, dropped = hc.trim_plan(items, 26.0, first)
    assert [i.label for i in kept] == ["a0", "f1", "f2"] and [i.label for i in dropped] == ["c3", "b2"]
    kept, dropped = hc.trim_plan(items, 20.0, first)  # f2 out; f1 still carries the group's first use
    assert [i.label for i in kept] == ["a0", "f1"]
    kept, dropped = hc.trim_plan(items, 4.0, first)
    assert kept == [] and [i.label for i in dropped] == ["c3", "b2", "f2", "f1", "a0"]


def test_default_plan_fits_the_budget_and_keeps_the_essentials():
    items = hc.build_plan()
    budget = 540.0 - hc.SETUP_S - hc.CPU_TAIL_S
    kept, dropped = hc.trim_plan(items, budget)
    assert hc.plan_cost_s(kept) <= budget and dropped
    assert [i.priority for i in kept] == sorted(i.priority for i in kept)
    labels = {i.label for i in kept}
    assert "copy fp32 n=268435456" in labels and any(i.label.startswith("matmul bf16") for i in kept)
    assert all(i in kept for i in items if i.priority <= 1)  # ceilings, targets, decode steps all fit
    assert {(i.spec["variant"], i.spec["batch"]) for i in kept if i.stage == "decode_step" and "variant" in i.spec} \
        >= {("bf16", 1), ("w4a16", 1), ("bf16", 32), ("w4a16", 32)}
    # a decode step of an 8B model at batch 32 costs more to attribute than at batch 1
    est = {(i.spec.get("variant"), i.spec.get("phase"), i.spec.get("batch")): i.est_s for i in items
           if i.stage == "decode_step"}
    assert est[("bf16", "prefill", 32)] > est[("bf16", "prefill", 1)]


def test_suite_toml_round_trips_through_the_profiler_parser():
    kept = [i for i in hc.build_plan() if i.stage == "profile"][:6]
    text = hc.suite_toml(kept, 0.25, 1.0, 1)
    suite = parse_suite(tomllib.loads(text), "campaign.toml")
    assert suite.window_s == 1.0 and suite.trials == 1 and suite.target_s == 0.25
    assert [e.kernel for e in suite.entries] == [i.spec["kernel"] for i in kept]
    assert [e.shapes[0] for e in suite.entries] == [i.spec["shape"] for i in kept]
    assert suite.entries[0].dtypes == ("fp32",) and suite.entries[0].impls == ("ours",)


def test_shape_matches_values_tuples_and_absent_keys():
    assert hc.shape_matches({"B": 16, "L": 8192}, {"B": 16, "ragged": None})
    assert not hc.shape_matches({"B": 16, "ragged": True}, {"B": 16, "ragged": None})
    assert hc.shape_matches({"M": 8}, {"M": (1, 8, 16)}) and not hc.shape_matches({"M": 64}, {"M": (1, 8, 16)})


def test_plan_mode_runs_without_a_gpu(capsys):
    assert hc.main(["--plan", "--budget-s", "300"]) == 0
    out = capsys.readouterr().out
    assert "kept" in out and "P0 profile" in out
