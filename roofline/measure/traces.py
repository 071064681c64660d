"""Trace I/O: one folder per run under ``traces/`` holding the rows (Parquet) and ``manifest.json``.

Rows follow ``roofline.measure.trace_schema.TRACE_COLUMNS``. Every file is written atomically (temp file in the
same folder + rename), so a reader never sees half a file and an interrupted run keeps the rows it
finished. Without pyarrow the rows go to ``rows.csv`` and the manifest says so; readers handle both.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from roofline.errors import InputError, RooflineError, UnknownNameError
from roofline.measure.kineto import kineto_trace_rows, read_kineto
from roofline.measure.ncu import ncu_trace_rows, read_ncu_csv
from roofline.measure.trace_schema import MANIFEST_FIELDS, SCHEMA_VERSION, TRACE_COLUMNS

ROWS_PARQUET = "rows.parquet"
ROWS_CSV = "rows.csv"
MANIFEST = "manifest.json"
_REPO_TRACES = Path(__file__).resolve().parents[2] / "traces"  # roofline/measure/traces.py -> the repo root
TRACES_DIR = _REPO_TRACES  # the default; $ROOFLINE_TRACES is read at call time (traces_root), never frozen at import
_PD_TYPES = {"str": "object", "float": "float64", "int": "int64"}
_REQUIRED = ("kernel", "impl", "median_s")  # an uploaded frame without these is not a trace


class TraceError(RooflineError):
    """A trace folder or file that cannot be read or written."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)


def traces_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$ROOFLINE_TRACES`` (read now, so tests can set it), else the repo's traces/."""
    if root is not None:
        return Path(root)
    env = os.environ.get("ROOFLINE_TRACES")
    return Path(env) if env else TRACES_DIR


def has_pyarrow() -> bool:
    """Parquet needs pyarrow (a dependency; a broken install falls back to CSV rows)."""
    return importlib.util.find_spec("pyarrow") is not None


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_PD_TYPES[t]) for c, (t, _) in TRACE_COLUMNS.items()})


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Every TRACE_COLUMNS column present with its dtype (missing floats NaN, strings ''); extras kept."""
    df = df.copy()
    for col, (typ, _) in TRACE_COLUMNS.items():
        if col not in df.columns:
            df[col] = 0 if typ == "int" else ("" if typ == "str" else float("nan"))
        if typ == "float":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        elif typ == "int":
            df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0).astype("int64")
        else:
            df[col] = df[col].where(df[col].notna(), "").astype(str).astype(object)
    extras = [c for c in df.columns if c not in TRACE_COLUMNS]
    return df[list(TRACE_COLUMNS) + extras].reset_index(drop=True)


def new_run_id(label: str, when: datetime | None = None, root: Path | None = None) -> str:
    """``20261122-153012-h100-sxm-quick``; a numeric suffix keeps ids unique under ``root``."""
    when = when or datetime.now()
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "run"
    base = f"{when:%Y%m%d-%H%M%S}-{slug}"
    rid, n = base, 1
    while root is not None and (root / rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def check_writable(root: Path) -> None:
    """Raise TraceError unless run folders can be created under ``root`` (creates nothing)."""
    p = Path(root).resolve()
    while not p.exists():
        p = p.parent
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        raise TraceError(f"output folder {root} is not writable")


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_rows(folder: Path, df: pd.DataFrame) -> str:
    """Write the rows atomically; returns the format used ('parquet' or 'csv')."""
    df = normalize(df)
    if has_pyarrow():
        _atomic_write(folder / ROWS_PARQUET, lambda p: df.to_parquet(p, index=False))
        return "parquet"
    _atomic_write(folder / ROWS_CSV, lambda p: df.to_csv(p, index=False))
    return "csv"


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, default=str)
    _atomic_write(folder / MANIFEST, lambda p: Path(p).write_text(text))


def base_manifest(run_id: str, device_id: str, device_name: str, command: str, suite: str,
                  versions: dict[str, str] | None = None, driver: str = "") -> dict[str, Any]:
    versions = versions or {}
    return {"schema_version": SCHEMA_VERSION, "run_id": run_id, "host": socket.gethostname(),
            "device_id": device_id, "device_name": device_name, "driver": driver or versions.get("driver", ""),
            "versions": versions, "command": command, "suite": suite, "start": _now(), "end": "",
            "complete": False, "rows": 0, "idle_power_w": None, "idle_state": "", "notes": []}


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


class RunWriter:
    """Accumulates rows; each ``append`` rewrites rows + manifest atomically (the folder appears with
    the first completed row, so a run that completes nothing leaves nothing behind)."""

    def __init__(self, root: Path, manifest: dict[str, Any]):
        self.root = Path(root)
        self.manifest = dict(manifest)
        self.folder = self.root / manifest["run_id"]
        self.rows: list[dict[str, Any]] = []

    def note(self, text: str) -> None:
        self.manifest.setdefault("notes", []).append(text)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._flush()

    def _flush(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fmt = write_rows(self.folder, pd.DataFrame(self.rows))
            self.manifest["rows"] = len(self.rows)
            self.manifest["rows_format"] = fmt
            if fmt == "csv":
                note = "pyarrow missing: rows written as rows.csv instead of Parquet"
                if note not in self.manifest["notes"]:
                    self.note(note)
            write_manifest(self.folder, self.manifest)
        except OSError as e:
            raise TraceError(f"cannot write {self.folder}: {e.strerror or e}") from None

    def finish(self, complete: bool = True, reason: str = "") -> Path | None:
        """Close the run; returns its folder, or None when no row was completed (nothing written)."""
        self.manifest["end"] = _now()
        self.manifest["complete"] = complete
        if reason:
            self.note(reason)
        if not self.rows:
            return None
        self._flush()
        return self.folder


def write_run(root: str | os.PathLike | None, manifest: dict[str, Any], rows: pd.DataFrame | list[dict],
              complete: bool = True) -> Path:
    """Write a whole run at once (imports, replays): rows then manifest, each atomically."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    w = RunWriter(traces_root(root), manifest)
    w.rows = df.to_dict("records")
    if not w.rows:
        raise TraceError("no rows to write")
    check_writable(w.root)
    path = w.finish(complete=complete)
    assert path is not None
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise TraceError(f"{folder}: unreadable manifest.json ({e})") from None
    if not isinstance(m, dict):
        raise TraceError(f"{folder}: manifest.json is not an object")
    return m


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Run folders (those with a readable manifest.json) under the traces root, oldest first."""
    r = traces_root(root)
    if not r.is_dir():
        return []
    out = []
    for p in sorted(r.iterdir()):
        if p.is_dir() and (p / MANIFEST).is_file():
            try:
                out.append(RunInfo(p.name, p, read_manifest(p)))
            except TraceError:
                continue
    return sorted(out, key=lambda ri: (str(ri.manifest.get("start", "")), ri.run_id))


def _read_rows(folder: Path) -> pd.DataFrame:
    try:
        if (folder / ROWS_PARQUET).is_file():
            df = pd.read_parquet(folder / ROWS_PARQUET)
        elif (folder / ROWS_CSV).is_file():
            df = pd.read_csv(folder / ROWS_CSV, keep_default_na=False, na_values=[""])
        else:
            raise TraceError(f"{folder}: no {ROWS_PARQUET} or {ROWS_CSV}")
    except (OSError, ValueError, ImportError) as e:
        raise TraceError(f"{folder}: unreadable rows ({e})") from None
    return normalize(df)


def resolve_run(run_id_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    p = Path(run_id_or_path)
    if p.is_dir() and (p / MANIFEST).is_file():
        return p
    r = traces_root(root)
    if (r / str(run_id_or_path) / MANIFEST).is_file():
        return r / str(run_id_or_path)
    raise UnknownNameError("trace run", str(run_id_or_path), [ri.run_id for ri in list_runs(r)])


def load_run(run_id_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The rows of one run (a run id under the traces root, or a run folder)."""
    return _read_rows(resolve_run(run_id_or_path, root))


def load_runs(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """All runs' rows concatenated; an empty frame with TRACE_COLUMNS when there are none."""
    frames = []
    for ri in list_runs(root):
        try:
            frames.append(_read_rows(ri.path))
        except TraceError:
            continue
    frames = [f for f in frames if len(f)]
    return normalize(pd.concat(frames, ignore_index=True)) if frames else empty_frame()


def load_any(target: str | os.PathLike, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """A run id, a run folder, or a folder of runs (all of them)."""
    p = Path(target)
    if p.is_dir() and not (p / MANIFEST).is_file():
        df = load_runs(p)
        if df.empty:
            raise TraceError(f"{p}: no trace runs")
        return df
    return load_run(target, root)


def read_trace_bytes(data: bytes, name: str) -> pd.DataFrame:
    """An uploaded trace file (Parquet, or CSV by its name) as normalized rows; raises TraceError."""
    try:
        if name.lower().endswith(".csv"):
            df = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
        else:
            df = pd.read_parquet(io.BytesIO(data))
    except Exception as e:  # pyarrow/pandas raise many types for bad bytes
        raise TraceError(f"{name}: not a readable trace ({type(e).__name__}: {str(e)[:120]})") from None
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise TraceError(f"{name}: not a trace (missing columns: {', '.join(missing)})")
    return normalize(df)


__all__ = ["MANIFEST_FIELDS", "TRACES_DIR", "RunInfo", "RunWriter", "TraceError", "base_manifest", "check_writable",
           "empty_frame", "list_runs", "load_any", "load_run", "load_runs", "new_run_id", "normalize",
           "read_manifest", "read_trace_bytes", "resolve_run", "traces_root", "write_run", "write_rows"]


def export_kind(name: str, data: bytes) -> str:
    """'trace' (Parquet / trace CSV), 'ncu' (Nsight Compute CSV) or 'kineto' (torch.profiler JSON)."""
    low = name.lower()
    if low.endswith((".json", ".json.gz")):
        return "kineto"
    if low.endswith(".csv") and _looks_like_ncu(data):
        return "ncu"
    return "trace"


def read_export(name: str, data: bytes, device_id: str = "", device_name: str = "", dtype: str = "bf16") -> pd.DataFrame:
    """A trace file or a foreign export as trace rows, by its name and content (``export_kind``): Parquet /
    trace CSV as is; an Nsight Compute CSV or a Kineto JSON through their importers, attributed to
    ``device_id`` (those files do not say which hwdb device ran them; ncu rows carry ncu's FLOPs and bytes,
    Kineto rows only times). Raises InputError (empty, unknown type) or the reader's RooflineError."""
    if not data:
        raise InputError(f"{name}: the file is empty")
    kind = export_kind(name, data)
    run_id = f"upload:{name}"
    if kind == "kineto":
        rows = kineto_trace_rows(read_kineto(data), run_id, device_id, device_name)
    elif kind == "ncu":
        rows = ncu_trace_rows(read_ncu_csv(data), run_id, device_id, device_name, dtype)
    elif name.lower().endswith((".parquet", ".pq", ".csv")):
        return read_trace_bytes(data, name)
    else:
        raise InputError(f"{name}: unknown file type (upload .parquet, a trace .csv, an ncu .csv or a Kineto .json)")
    if not rows:
        raise InputError(f"{name}: no kernel rows found")
    return normalize(pd.DataFrame(rows))


def _looks_like_ncu(data: bytes) -> bool:
    head = data[:4096].decode("utf-8", "replace")
    return '"Kernel Name"' in head or "Metric Name" in head or '"ID","Process ID"' in head
