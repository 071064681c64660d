"""The reliability battery's shared pieces: a case (argv + files to lay down), the promise checked for each
(exit code, one line on stderr, no traceback, no file left or changed), and makers of bad inputs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import hwdb
from roofline.measure import traces

REPO = Path(__file__).resolve().parents[2]
GOOD_RUN = "20261122-000000-000-h100-sxm-good"


@dataclass(frozen=True)
class Case:
    """One bad input: ``args`` (``{tmp}`` is the case's scratch folder), the ``files`` laid down there first
    (path -> text, bytes, or a callable(tmp) -> bytes), the exit code and a fragment of the one stderr line."""

    id: str
    args: tuple[str, ...]
    msg: str = ""
    code: int = 2
    files: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def case(id: str, *args: str, msg: str = "", code: int = 2, files: dict | None = None,
         env: dict | None = None):
    return pytest.param(Case(id, tuple(args), msg, code, files or {}, env or {}), id=id)


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots``: path -> (size, mtime ns); a file left or changed shows as a difference."""
    out = {}
    for root in roots:
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            st = p.stat()
            out[str(p)] = (st.st_size if p.is_file() else -1, st.st_mtime_ns if p.is_file() else 0)
    return out


def lay_down(tmp: Path, files: dict[str, Any]) -> None:
    for rel, content in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content = content(tmp)
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)


def assert_promise(code: int, out: str, err: str, c: Case) -> None:
    """The promise for a bad input: the documented exit code, exactly one line on stderr naming the problem
    (for exit 2 it starts with 'error:'), never a traceback."""
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = err.splitlines()
    assert code == c.code, f"exit {code}, stderr: {err!r}"
    if c.code == 0:
        return
    assert len(lines) == 1, f"{len(lines)} stderr lines: {err!r}"
    if c.code == 2:
        assert lines[0].startswith("error: "), lines[0]
    assert c.msg.lower() in lines[0].lower(), f"{c.msg!r} not in {lines[0]!r}"


@pytest.fixture
def run_case(cli, tmp_path, monkeypatch):
    """``run_case(case)``: lay down its files, run the CLI in-process with $ROOFLINE_TRACES in the scratch
    folder, check the promise and that no file under the scratch folder, the repository's traces/ or
    hwdb/measured/ was left or changed."""

    def run(c: Case) -> tuple[str, str]:
        lay_down(tmp_path, c.files)
        monkeypatch.setenv("ROOFLINE_TRACES", str(tmp_path / "traces"))
        for k, v in c.env.items():
            monkeypatch.setenv(k, v.format(tmp=tmp_path))
        if "ROOFLINE_HWDB" in c.env:
            hwdb.loader._default.cache_clear()  # the database is cached per process: read the case's folder
        watched = (tmp_path, REPO / "traces", REPO / "hwdb" / "measured")
        before = snapshot(*watched)
        try:
            code, out, err = cli([a.format(tmp=tmp_path) for a in c.args])
        finally:
            if "ROOFLINE_HWDB" in c.env:
                monkeypatch.delenv("ROOFLINE_HWDB")
                hwdb.loader._default.cache_clear()
        assert_promise(code, out, err, c)
        if c.code != 0:
            assert snapshot(*watched) == before, "a file was left or changed"
        return out, err

    return run


# ------------------------------------------------------------------------------------------- makers


def trace_row(**kw) -> dict:
    row = {"run_id": GOOD_RUN, "kernel": "matmul", "impl": "torch", "shape": json.dumps({"m": 64}), "dtype": "bf16",
           "device_id": "h100-sxm", "device_name": "NVIDIA H100 80GB HBM3", "median_s": 1e-4, "p20_s": 0.9e-4,
           "p80_s": 1.1e-4, "reps": 100, "flops": 2e9, "bytes": 1e6, "energy_j": 0.05, "energy_method": "nvml-counter",
           "versions": "{}"}
    row.update(kw)
    return row


def manifest(**kw) -> dict:
    m = traces.base_manifest(GOOD_RUN, "h100-sxm", "NVIDIA H100 80GB HBM3", "pytest", "test")
    m.update(complete=True, rows=1)
    m.update(kw)
    return m


def parquet(rows: list[dict] | pd.DataFrame, normalize: bool = False) -> bytes:
    """Rows as Parquet bytes, written as given (not normalized: a bad type stays bad)."""
    import io

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if normalize:
        df = traces.normalize(df)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def run_files(rows: list[dict] | None = None, man: dict | None = None, rows_bytes: bytes | None = None,
              manifest_text: str | None = None, name: str = GOOD_RUN) -> dict[str, Any]:
    """A run folder under the scratch traces root: {traces/<name>/manifest.json, rows.parquet}."""
    files: dict[str, Any] = {}
    m = manifest_text if manifest_text is not None else json.dumps(man if man is not None else manifest())
    files[f"traces/{name}/manifest.json"] = m
    if rows_bytes is not None:
        files[f"traces/{name}/rows.parquet"] = rows_bytes
    else:
        data = rows if rows is not None else [trace_row()]
        files[f"traces/{name}/rows.parquet"] = lambda _tmp, data=data: parquet(data)
    return files


def env_without_pythonpath_noise() -> dict[str, str]:
    """The environment for a subprocess CLI run from the repository (the worktree's code, not an install)."""
    return {**os.environ, "PYTHONPATH": str(REPO), "TRITON_INTERPRET": "1"}
