"""`roofline profile --ray`: every node of a (local, 2-CPU) Ray cluster profiled, rows gathered into one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roofline.measure import traces

pytest.importorskip("ray", reason="the `scale` extra is not installed")
FAST = ["--energy", "none", "--target", "0.01"]


def test_fleet_profile_gathers_every_nodes_rows_into_one_run(tmp_path, cli):
    code, out, err = cli(["profile", "--ray", "local", "--cpu", "--suite", "quick", "--kernels", "copy,matmul",
                          "--out", str(tmp_path), "--json", *FAST])
    assert code == 0, err
    doc = json.loads(out)
    run = Path(doc["path"])
    assert run.parent == tmp_path and doc["rows"] == 3 and len(doc["nodes"]) == 1
    m = json.loads((run / "manifest.json").read_text())
    assert m["complete"] is True and m["fleet"][0]["run_id"] and m["notes"][0].startswith("node ")
    df = traces.load_run(run)
    assert sorted(df["kernel"]) == ["copy", "matmul", "matmul"]


def test_fleet_without_gpu_nodes_is_one_line(tmp_path, cli):
    code, _, err = cli(["profile", "--ray", "local", "--suite", "quick", "--out", str(tmp_path), *FAST])
    assert code == 2 and "no GPU nodes" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(["profile", "--ray", "local", "--device", "h100-sxm", "--out", str(tmp_path)])
    assert code == 2 and "--device" in err
