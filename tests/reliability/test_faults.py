"""Faults: signals mid-run, kill -9 mid-write, a full disk, concurrent writers into one --out, and a read-only
traces folder under the dashboard. Nothing measured is lost: every completed row reads back, no partial
file is left, and the manifest says whether the run completed."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import hwdb
from roofline.analysis.calibrate import calibrate, write_calibration
from roofline.measure import traces
from roofline.views import measured
from tests.reliability.conftest import REPO, env_without_pythonpath_noise, manifest, run_files, trace_row

PROFILE = [sys.executable, "-m", "roofline", "profile", "--energy", "modeled"]
RUN_FILES = {"manifest.json", "rows.parquet"}


def _wait_for_rows(root: Path, n: int, proc: subprocess.Popen, timeout_s: float = 120) -> Path:
    """The run folder once its manifest says ``n`` rows are on disk (the profile is still running)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        for m in root.glob("*/manifest.json"):
            try:
                if json.loads(m.read_text())["rows"] >= n:
                    return m.parent
            except (ValueError, KeyError, OSError):
                pass
        if proc.poll() is not None:
            raise AssertionError(f"profile ended early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no row appeared")


def _slow_suite(tmp: Path) -> str:
    """Many copy points, each timed for 0.3 s: the run is mid-way for seconds (time to signal it)."""
    p = tmp / "slow.toml"
    shapes = ", ".join(f"{{n = {2**12 + i}}}" for i in range(40))
    p.write_text(f'name = "slow"\n[timing]\ntarget_s = 0.3\n[[kernels]]\nname = "copy"\nshapes = [{shapes}]\n')
    return str(p)


@pytest.mark.parametrize("sig, code, how", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_mid_run_keeps_completed_rows(tmp_path, sig, code, how):
    root = tmp_path / "traces"
    proc = subprocess.Popen([*PROFILE, "--suite", _slow_suite(tmp_path), "--out", str(root)], cwd=REPO,
                            env=env_without_pythonpath_noise(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    run = _wait_for_rows(root, 2, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "interrupted: kept" in err
    m = json.loads((run / "manifest.json").read_text())
    assert m["complete"] is False and m["rows"] >= 2 and any(f"interrupted ({how})" in n for n in m["notes"])
    assert {p.name for p in run.iterdir()} == RUN_FILES  # no temp file left
    assert len(traces.load_run(run)) == m["rows"]


_WRITER = """
import sys, pandas as pd
from roofline.measure import traces
folder = sys.argv[1]
df = pd.DataFrame([{"run_id": "r", "kernel": "copy", "impl": "ours", "median_s": 1e-3 + i * 1e-9, "p20_s": 1e-3,
                    "p80_s": 2e-3, "shape": "{}", "versions": "{}"} for i in range(60000)])
print("ready", flush=True)
while True:
    traces.write_rows(traces.Path(folder), df)
"""


def test_kill_9_mid_write_leaves_no_partial_file(tmp_path):
    """A writer rewriting a large rows file in a loop is killed with SIGKILL at several points: the folder
    holds only whole files, and the run reads back."""
    root = tmp_path / "traces"
    folder = traces.RunWriter(root, manifest(run_id="killed")).folder
    traces.write_manifest(folder, manifest(run_id=folder.name, complete=False))
    for delay in (0.3, 0.7, 1.1):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder)], cwd=REPO,
                                env=env_without_pythonpath_noise(), stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.wait(timeout=30)
        assert {p.name for p in folder.iterdir()} <= RUN_FILES, sorted(p.name for p in folder.iterdir())
        if (folder / "rows.parquet").exists():
            assert len(traces.load_run(folder)) == 60000


def test_kill_9_mid_profile_keeps_the_rows_on_disk(tmp_path):
    root = tmp_path / "traces"
    proc = subprocess.Popen([*PROFILE, "--suite", _slow_suite(tmp_path), "--out", str(root)], cwd=REPO,
                            env=env_without_pythonpath_noise(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = _wait_for_rows(root, 1, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert {p.name for p in run.iterdir()} == RUN_FILES
    m = traces.read_manifest(run)
    assert m["complete"] is False and len(traces.load_run(run)) == m["rows"] >= 1


def _enospc_after(monkeypatch, n_ok: int) -> None:
    """os.fsync in trace writes succeeds ``n_ok`` times, then the disk is full."""
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(traces.os, "fsync", fsync)


def test_enospc_mid_profile_keeps_earlier_rows(tmp_path, monkeypatch, cli):
    root = tmp_path / "traces"
    _enospc_after(monkeypatch, 4)  # two rows (rows + manifest each) fit, the third does not
    code, _, err = cli(["profile", "--kernels", "copy,matmul", "--target", "0.01", "--energy", "modeled",
                        "--out", str(root)])
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "No space left on device" in last and "2 rows written before are kept" in last
    (run,) = traces.list_runs(root)
    assert {p.name for p in run.path.iterdir()} == RUN_FILES
    assert len(traces.load_run(run.path)) == 2 and run.manifest["complete"] is False


def test_enospc_on_import_save_leaves_nothing(tmp_path, monkeypatch, cli, fixtures_dir):
    root = tmp_path / "traces"
    _enospc_after(monkeypatch, 1)  # rows written, the manifest is not: the whole run is taken back
    code, _, err = cli(["import-trace", str(fixtures_dir / "kineto_handmade.json"), "--save", "--out", str(root)])
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
    assert not root.exists() or not any(root.iterdir())


def test_enospc_on_calibrate_leaves_the_overlay_unchanged(tmp_path, monkeypatch, write_traces):
    write_traces(tmp_path / "traces")
    cal = calibrate(traces.load_any(tmp_path / "traces"), "h100-sxm")
    target = tmp_path / "measured"
    target.mkdir()
    (target / "h100-sxm.toml").write_text("old\n")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(hwdb.loader.os, "fdopen", full)
    with pytest.raises(hwdb.HwdbError, match="No space left on device"):
        write_calibration(cal, target)
    assert (target / "h100-sxm.toml").read_text() == "old\n"
    assert [p.name for p in target.iterdir()] == ["h100-sxm.toml"]  # no temp file left


def test_concurrent_profiles_into_one_out_keep_every_row(tmp_path):
    root = tmp_path / "traces"
    args = [*PROFILE, "--kernels", "copy,matmul", "--target", "0.01", "--out", str(root), "--json"]
    procs = [subprocess.Popen(args, cwd=REPO, env=env_without_pythonpath_noise(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        docs.append(json.loads(out))
    assert docs[0]["path"] != docs[1]["path"] and docs[0]["run_id"] != docs[1]["run_id"]
    runs = traces.list_runs(root)
    assert len(runs) == 2
    for r in runs:
        df = traces.load_run(r.path)
        assert len(df) == r.manifest["rows"] == 3 and set(df["run_id"]) == {r.run_id}


def test_reserve_run_is_exclusive_across_threads(tmp_path):
    got: list[Path] = []
    barrier = threading.Barrier(16)

    def take():
        barrier.wait()
        got.append(traces.reserve_run(tmp_path, "20261122-000000-000-host-quick"))

    ts = [threading.Thread(target=take) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len({p.name for p in got}) == 16


# ------------------------------------------------------------------------------------------- read-only traces

_GUARDED: list[str] = []
_ATTEMPTS: list[str] = []
_WRITE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.link", "os.symlink", "os.truncate",
                 "shutil.rmtree", "os.chmod"}


def _guard(event: str, args: tuple) -> None:
    if not _GUARDED:
        return
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = os.fsdecode(args[0]), args[1] or "", args[2] or 0
        writing = any(ch in str(mode) for ch in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and any(path.startswith(g) for g in _GUARDED):
            _ATTEMPTS.append(f"open {path} {mode}")
            raise PermissionError(errno.EROFS, "read-only traces folder (test guard)", path)
    elif event in _WRITE_EVENTS and args:
        path = os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else ""
        if any(path.startswith(g) for g in _GUARDED):
            _ATTEMPTS.append(f"{event} {path}")
            raise PermissionError(errno.EROFS, "read-only traces folder (test guard)", path)


sys.addaudithook(_guard)  # audit hooks cannot be removed: the guard is idle unless _GUARDED names a folder


@pytest.fixture
def read_only_traces(tmp_path, monkeypatch):
    """A traces folder with one good run and one broken run, read-only (chmod, and, because root ignores
    permissions, an audit hook that refuses and records every write under it)."""
    root = tmp_path / "ro"
    for rel, content in {**run_files(), **run_files(man=manifest(schema_version=99), name="broken")}.items():
        p = root / rel.removeprefix("traces/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content(tmp_path) if callable(content) else content.encode())
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    monkeypatch.setenv("ROOFLINE_TRACES", str(root))
    _ATTEMPTS.clear()
    _GUARDED.append(str(root))
    yield root
    _GUARDED.clear()
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def test_dashboard_views_on_a_read_only_traces_folder(read_only_traces):
    recs = measured.run_records()
    assert [r["run_id"] for r in recs] == ["20261122-000000-000-h100-sxm-good"]  # the broken run is left out
    cmp = measured.compared_runs([recs[0]["run_id"], "broken"])
    assert len(cmp) == 1 and cmp["predicted_s"].notna().all()
    up = measured.read_upload("r.parquet", (read_only_traces / recs[0]["run_id"] / "rows.parquet").read_bytes())
    assert len(up) == 1
    assert _ATTEMPTS == []


def test_dashboard_pages_on_a_read_only_traces_folder(read_only_traces):
    at = AppTest.from_file(str(REPO / "app" / "dashboard.py"), default_timeout=60)
    at.run()
    for name in ("measurements", "energy"):
        at = at.switch_page(f"screens/{name}.py").run()
        assert not at.exception, [e.value for e in at.exception]
    assert _ATTEMPTS == []


def test_writes_into_a_read_only_traces_folder_are_one_line(read_only_traces, cli, fixtures_dir):
    code, _, err = cli(["import-trace", str(fixtures_dir / "kineto_handmade.json"), "--save"])
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")


def test_a_trace_written_then_read_matches(tmp_path):
    """The round trip the battery's refusals protect: good rows write and read back unchanged."""
    path = traces.write_run(tmp_path, manifest(), [trace_row(), trace_row(kernel="copy")])
    df = traces.load_run(path)
    assert df["kernel"].tolist() == ["matmul", "copy"] and isinstance(df, pd.DataFrame)
