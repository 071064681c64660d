"""`roofline kernels list | inspect`: the registry listing, one real static inspection through the CLI (saved
for the dashboard, read back and joined with a measured row), and the one-line errors."""

from __future__ import annotations

import json

import pandas as pd

from roofline.measure import traces
from roofline.views.measured import static_beside_measured, static_summary

QUICK = "M=1,K=256,N=64,group=64"
FIELDS = {"regs", "spill_bytes", "smem_bytes", "mma", "ldg128_share", "local_ops", "instr_per_weight",
          "issue_floor_s", "memory_floor_s", "compute_floor_s", "predicted_bound", "kind", "first_choice"}


def test_kernels_list_json(cli):
    code, out, err = cli(["kernels", "list", "--json"])
    assert code == 0, err
    recs = {r["name"]: r for r in json.loads(out)}
    assert {"w4a16_linear", "flash_attention", "sparse24_linear", "copy"} <= set(recs)
    assert recs["w4a16_linear"]["family"] == "quant" and recs["w4a16_linear"]["bench_shapes"] > 0


def test_inspect_saves_static_rows_the_views_join_with_measured(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE", str(tmp_path / "cache"))
    code, out, err = cli(["kernels", "inspect", "-k", "w4a16_linear", "--shape", QUICK, "--json", "--save",
                          "--root", str(tmp_path)])
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 1 and FIELDS <= set(rows[0]) and rows[0]["kind"] == "static"
    saved = tmp_path / "static" / "inspect-sm90-h200.json"
    assert saved.is_file() and "wrote" in err
    static = traces.load_static(tmp_path)
    assert static["shape_json"].iloc[0] == json.dumps({"K": 256, "M": 1, "N": 64, "group": 64}, sort_keys=True)
    assert traces.list_runs(tmp_path) == []  # the static folder is not a trace run
    s = static_summary(static)
    assert len(s) == 1 and s["kind"].iloc[0] == "static"
    assert s["predicted_s"].iloc[0] == max(s[["issue_floor_s", "memory_floor_s", "compute_floor_s"]].iloc[0])
    measured = pd.DataFrame([{"kernel": "w4a16_linear", "impl": "ours", "dtype": "bf16", "device_id": "h200",
                              "shape": json.dumps({"M": 1, "K": 256, "N": 64, "group": 64}), "median_s": 2e-5,
                              "run_id": "r1"}])
    b = static_beside_measured(measured, static)
    assert len(b) == 1 and b["measured_over_static"].iloc[0] == 2e-5 / s["predicted_s"].iloc[0]
    assert static_beside_measured(measured.assign(dtype="fp16"), static).empty  # only calls that have both


def test_inspect_bad_input_is_one_line(cli):
    for args in (["kernels", "inspect", "-k", "nope"], ["kernels", "inspect", "--arch", "gfx942"],
                 ["kernels", "inspect", "--workers", "0"], ["kernels", "inspect", "--device", "h300"]):
        code, out, err = cli(args)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (args, err)
