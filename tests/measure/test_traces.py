"""Trace I/O: atomic run folders, listing, loading, uploads, CSV fallback, the traces CLI."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from roofline.errors import UnknownNameError
from roofline.measure import traces
from roofline.measure.trace_schema import SCHEMA_VERSION, TRACE_COLUMNS


def _row(run_id: str, kernel: str = "copy", median_s: float = 1e-3) -> dict:
    return {"run_id": run_id, "kernel": kernel, "impl": "ours", "shape": json.dumps({"n": 1024}), "dtype": "fp32",
            "device_id": "h100-sxm", "device_name": "NVIDIA H100 80GB HBM3", "median_s": median_s, "p20_s": median_s,
            "p80_s": median_s, "reps": 10, "flops": 0.0, "bytes": 8192.0, "energy_method": "nvml-counter",
            "energy_j": 0.1}


def _write(root, run_id="r1", n=2):
    m = traces.base_manifest(run_id, "h100-sxm", "NVIDIA H100 80GB HBM3", "roofline profile", "quick")
    return traces.write_run(root, m, [_row(run_id, median_s=(i + 1) * 1e-3) for i in range(n)])


def test_write_and_load_run_roundtrip(tmp_path):
    path = _write(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "rows.parquet"]  # no temp files left
    m = json.loads((path / "manifest.json").read_text())
    assert m["schema_version"] == SCHEMA_VERSION and m["complete"] is True and m["rows"] == 2
    assert m["end"] and m["host"]
    df = traces.load_run("r1", root=tmp_path)
    assert list(df.columns)[: len(TRACE_COLUMNS)] == list(TRACE_COLUMNS)
    assert df["median_s"].tolist() == [1e-3, 2e-3]
    assert math.isnan(df["ncu_flops"].iloc[0]) and df["reps"].dtype == "int64"
    assert traces.load_run(path)["kernel"].tolist() == ["copy", "copy"]


def test_list_runs_and_load_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_TRACES", str(tmp_path))
    assert traces.list_runs() == []
    empty = traces.load_runs()
    assert empty.empty and list(empty.columns) == list(TRACE_COLUMNS)
    _write(tmp_path, "a")
    _write(tmp_path, "b", n=3)
    (tmp_path / "junk").mkdir()  # not a run: ignored
    assert [r.run_id for r in traces.list_runs()] == ["a", "b"]
    assert len(traces.load_runs()) == 5
    with pytest.raises(UnknownNameError, match="did you mean"):
        traces.load_run("aa")


def test_run_writer_writes_nothing_until_a_row_completes(tmp_path):
    w = traces.RunWriter(tmp_path, traces.base_manifest("x", "", "cpu", "cmd", "quick"))
    assert w.finish(complete=False, reason="interrupted") is None
    assert not (tmp_path / "x").exists()
    w = traces.RunWriter(tmp_path, traces.base_manifest("y", "", "cpu", "cmd", "quick"))
    w.append(_row("y"))
    path = w.finish(complete=False, reason="interrupted (Ctrl-C) after 1 completed rows")
    m = json.loads((path / "manifest.json").read_text())
    assert m["complete"] is False and m["rows"] == 1 and "interrupted" in m["notes"][-1]


def test_csv_fallback_without_pyarrow(tmp_path, monkeypatch):
    monkeypatch.setattr(traces, "has_pyarrow", lambda: False)
    path = _write(tmp_path)
    assert (path / "rows.csv").is_file() and not (path / "rows.parquet").exists()
    m = json.loads((path / "manifest.json").read_text())
    assert m["rows_format"] == "csv" and any("pyarrow" in n for n in m["notes"])
    df = traces.load_run(path)
    assert df["median_s"].tolist() == [1e-3, 2e-3] and df["throttle_reasons"].tolist() == ["", ""]


def test_read_trace_bytes(tmp_path):
    path = _write(tmp_path)
    df = traces.read_trace_bytes((path / "rows.parquet").read_bytes(), "rows.parquet")
    assert len(df) == 2
    csv = pd.DataFrame([_row("u")]).to_csv(index=False).encode()
    assert traces.read_trace_bytes(csv, "u.csv")["kernel"].tolist() == ["copy"]
    with pytest.raises(traces.TraceError, match="not a readable trace"):
        traces.read_trace_bytes(b"garbage", "x.parquet")
    with pytest.raises(traces.TraceError, match="missing columns"):
        traces.read_trace_bytes(b"a,b\n1,2\n", "x.csv")


def test_check_writable(tmp_path):
    traces.check_writable(tmp_path / "new" / "deeper")  # creatable: fine, and nothing created
    assert not (tmp_path / "new").exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("root ignores directory permissions")
        with pytest.raises(traces.TraceError, match="not writable"):
            traces.check_writable(ro / "traces")
    finally:
        ro.chmod(0o700)


def test_traces_cli_list_and_show(tmp_path, monkeypatch, capsys, cli):

    _write(tmp_path, "r1")
    code, out, _ = cli(["traces", "list", "--root", str(tmp_path), "--json"])
    assert code == 0 and json.loads(out)[0]["run_id"] == "r1"
    code, out, _ = cli(["traces", "show", "r1", "--root", str(tmp_path), "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["manifest"]["rows"] == 2 and len(doc["rows"]) == 2
    assert doc["rows"][0]["pct_of_roof"] > 0  # device in hwdb: attributed
    code, out, _ = cli(["traces", "show", "r1", "--root", str(tmp_path)])
    assert code == 0 and "copy" in out
    code, _, err = cli(["traces", "show", "nope", "--root", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "unknown trace run" in err
