"""Trace I/O: one folder per run under ``traces/`` holding the rows (Parquet) and ``manifest.json``.

Rows follow ``roofline.measure.trace_schema.TRACE_COLUMNS``. A run's folder is created exclusively when its
writer opens (two processes never share one). Every file is written atomically (an unnamed file in the same
folder, linked and renamed into place only once whole), so a reader never sees half a file, ``kill -9``
leaves no partial one, and an interrupted run keeps the rows it finished. Reading checks the schema (the
manifest's version and fields, each present column's type, finite non-negative times): a trace that would
show "-66.1 us" as a measured time is refused, naming the row and column. Without pyarrow the rows go to
``rows.csv`` and the manifest says so; readers handle both.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import io
import json
import os
import re
import secrets
import socket
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
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
_REQUIRED = ("kernel", "impl", "median_s")  # a frame without these is not a trace
# Measured amounts that are never negative (besides every time: a float column whose name ends in _s);
# energy_dynamic_j (energy minus idle power x time) may dip below 0 in noise and is not listed.
_NONNEGATIVE = frozenset({"reps", "flops", "bytes", "energy_j", "energy_cv", "power_w", "idle_power_w", "max_err",
                          "ncu_dram_bytes", "ncu_l2_bytes", "ncu_flops"})
_JSON_OBJECT_COLUMNS = ("shape", "versions")  # cells that hold a JSON object ('' when absent)
_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {"run_id": str, "rows": int, "complete": bool, "notes": list,
                                                        "versions": dict, "device_id": str, "device_name": str}


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
    """``20261122-153012-123-h100-sxm-quick`` (to the millisecond); a numeric suffix keeps it unused under
    ``root``. Only ``reserve_run`` makes an id unique across processes (it creates the folder exclusively)."""
    when = when or datetime.now()
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "run"
    base = f"{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}-{slug}"
    rid, n = base, 1
    while root is not None and (root / rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def reserve_run(root: Path, run_id: str) -> Path:
    """Create the run folder ``root/run_id`` exclusively (``mkdir`` fails when it exists, so two processes
    never share one); on a collision try ``run_id-2``, ``-3``, ... Returns the folder; raises TraceError."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TraceError(f"cannot create {root}: {e.strerror or e}") from None
    for n in range(1, 1000):
        folder = root / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as e:
            raise TraceError(f"cannot create {folder}: {e.strerror or e}") from None
    raise TraceError(f"cannot create a run folder for {run_id} under {root}: 999 folders of that name exist")


def check_writable(root: Path) -> None:
    """Raise TraceError unless run folders can be created under ``root`` (creates nothing)."""
    p = Path(root).resolve()
    while not p.exists():
        p = p.parent
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        raise TraceError(f"output folder {root} is not writable")


_AT_FDCWD, _AT_SYMLINK_FOLLOW = -100, 0x400
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _name_unnamed(fd: int, target: str) -> bool:
    """Give an O_TMPFILE file a name: linkat(/proc/self/fd/N, AT_SYMLINK_FOLLOW). os.link cannot do it
    (CPython 3.11-3.13 call link(2), which links the /proc symlink itself and fails with EXDEV)."""
    if _LIBC is None:
        return False
    ok = _LIBC.linkat(_AT_FDCWD, f"/proc/self/fd/{fd}".encode(), _AT_FDCWD, os.fsencode(target),
                      _AT_SYMLINK_FOLLOW) == 0
    if not ok:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)
    return True


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a file in the same folder, flushed to disk, renamed over
    ``path``. A reader sees the old file or the new one, never half of one; a failure (disk full, a signal)
    leaves the old file as it was. On Linux the file is unnamed (O_TMPFILE) until it is whole, so even
    ``kill -9`` mid-write leaves no partial file behind; elsewhere a hidden temp file, removed on failure.
    Raises OSError."""
    hidden = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd, named = -1, None
    if _LIBC is not None and hasattr(os, "O_TMPFILE"):
        try:
            fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)
        except OSError as e:  # a filesystem without O_TMPFILE: the named temp file below
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    if fd < 0:
        fd, named = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), hidden
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        if named is None:
            _name_unnamed(fd, hidden)
            named = hidden
        os.replace(named, path)
        named = None
    finally:
        os.close(fd)
        if named is not None:
            Path(named).unlink(missing_ok=True)


def _rows_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    return df.to_csv(index=False).encode()


def write_rows(folder: Path, df: pd.DataFrame) -> str:
    """Write the rows atomically; returns the format used ('parquet' or 'csv'). Raises OSError."""
    df = normalize(df)
    fmt = "parquet" if has_pyarrow() else "csv"
    _atomic_write(folder / (ROWS_PARQUET if fmt == "parquet" else ROWS_CSV), _rows_bytes(df, fmt))
    return fmt


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    _atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())


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
    """Owns one run folder, created exclusively when the writer opens (``reserve_run``: concurrent runs
    into one traces root never share a folder); each ``append`` rewrites rows + manifest atomically, so
    every completed row is on disk before the next one starts. A run that completes no row leaves nothing:
    ``finish`` removes the empty folder."""

    def __init__(self, root: Path, manifest: dict[str, Any]):
        self.root = Path(root)
        self._made_root = not self.root.exists()
        self.folder = reserve_run(self.root, manifest["run_id"])
        self.manifest = {**manifest, "run_id": self.folder.name}
        self.rows: list[dict[str, Any]] = []

    @property
    def run_id(self) -> str:
        return self.folder.name

    def note(self, text: str) -> None:
        self.manifest.setdefault("notes", []).append(text)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append({**row, "run_id": self.run_id})
        self._flush()

    def _flush(self) -> None:
        try:
            fmt = write_rows(self.folder, pd.DataFrame(self.rows))
            self.manifest["rows"] = len(self.rows)
            self.manifest["rows_format"] = fmt
            if fmt == "csv":
                note = "pyarrow missing: rows written as rows.csv instead of Parquet"
                if note not in self.manifest["notes"]:
                    self.note(note)
            write_manifest(self.folder, self.manifest)
        except OSError as e:
            kept = len(self.rows) - 1
            raise TraceError(f"cannot write {self.folder}: {e.strerror or e}"
                             + (f" (the {kept} rows written before are kept)" if kept > 0 else "")) from None

    def finish(self, complete: bool = True, reason: str = "") -> Path | None:
        """Close the run; returns its folder, or None when no row was completed (the folder is removed)."""
        self.manifest["end"] = _now()
        self.manifest["complete"] = complete
        if reason:
            self.note(reason)
        if not self.rows:
            self.discard()
            return None
        self._flush()
        return self.folder

    def discard(self) -> None:
        """Remove the folder if nothing was written into it (a run that failed before its first row)."""
        try:
            self.folder.rmdir()
            if self._made_root:
                self.root.rmdir()  # the traces root this run created, when no other run is in it
        except OSError:
            pass  # not empty (rows are on disk: kept; another run in the root) or already gone


def write_run(root: str | os.PathLike | None, manifest: dict[str, Any], rows: pd.DataFrame | list[dict],
              complete: bool = True) -> Path:
    """Write a whole run at once (imports, replays): rows then manifest, each atomically, into a folder
    created exclusively (the run id gets a suffix when taken). The rows are checked against the trace schema
    first (``check_rows``): nothing is written that would be refused on read."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if df.empty:
        raise TraceError("no rows to write")
    check_rows(df, f"run {manifest.get('run_id', '')}")
    r = traces_root(root)
    check_writable(r)
    w = RunWriter(r, manifest)
    w.rows = [{**rec, "run_id": w.run_id} for rec in df.to_dict("records")]
    try:
        path = w.finish(complete=complete)
    except BaseException:
        _remove_partial_run(w.folder)
        raise
    assert path is not None
    return path


def _remove_partial_run(folder: Path) -> None:
    """A whole-run write that failed: remove what it wrote (only the files a run holds), then the folder."""
    for name in (ROWS_PARQUET, ROWS_CSV, MANIFEST):
        (folder / name).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def check_manifest(m: Any, where: str) -> dict[str, Any]:
    """A manifest this roofline can read: a JSON object, a known schema version, the fields it uses of the
    right types. Raises TraceError naming the folder and the field."""
    if not isinstance(m, dict):
        raise TraceError(f"{where}: manifest.json is not an object")
    sv = m.get("schema_version")
    if isinstance(sv, bool) or not isinstance(sv, int) or sv < 1:
        raise TraceError(f"{where}: manifest.json schema_version {sv!r} is not a positive integer")
    if sv > SCHEMA_VERSION:
        raise TraceError(f"{where}: written with trace schema version {sv}; this roofline reads versions up to "
                         f"{SCHEMA_VERSION} (update roofline to read it)")
    for key, typ in _MANIFEST_TYPES.items():
        if key in m and m[key] is not None and (not isinstance(m[key], typ) or isinstance(m[key], bool) != (typ is bool)):
            raise TraceError(f"{where}: manifest.json {key} = {m[key]!r} is not a {getattr(typ, '__name__', typ)}")
    return m


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        m = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON or bad UTF-8
        raise TraceError(f"{folder}: unreadable manifest.json ({type(e).__name__}: {str(e)[:120]})") from None
    return check_manifest(m, str(folder))


def scan_runs(root: str | os.PathLike | None = None) -> tuple[list[RunInfo], list[str]]:
    """(runs, problems): the run folders under the traces root with a readable manifest, oldest first, and a
    one-line reason for each folder that has a manifest.json but cannot be read (nothing is skipped silently)."""
    r = traces_root(root)
    try:
        entries = sorted(r.iterdir()) if r.is_dir() else []
    except OSError as e:
        raise TraceError(f"cannot list {r}: {e.strerror or e}") from None
    out, problems = [], []
    for p in entries:
        if p.is_dir() and (p / MANIFEST).is_file():
            try:
                out.append(RunInfo(p.name, p, read_manifest(p)))
            except TraceError as e:
                problems.append(str(e))
    return sorted(out, key=lambda ri: (str(ri.manifest.get("start", "")), ri.run_id)), problems


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Run folders (those with a readable manifest.json) under the traces root, oldest first."""
    return scan_runs(root)[0]


def check_rows(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """The trace schema on read (and before a write): the required columns, each TRACE_COLUMNS column that is
    present of its type (a column an older trace lacks is absent, not an error), finite non-negative times
    and amounts, a finite positive median with p20 <= median <= p80, JSON objects in the JSON cells.
    Returns the normalized rows; raises TraceError naming the row and the column."""
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise TraceError(f"{where}: not a trace (missing columns: {', '.join(missing)})")
    df = df.reset_index(drop=True)

    def fail(i: int, col: str, why: str) -> TraceError:
        return TraceError(f"{where}: row {i}: {col} {why}")

    nums: dict[str, np.ndarray] = {}
    for col, (typ, _) in TRACE_COLUMNS.items():
        if col not in df.columns:
            continue
        s = df[col]
        if typ in ("float", "int"):
            num = pd.to_numeric(s, errors="coerce")
            given = s.notna() & (s.astype(str).str.strip() != "")
            bad = np.flatnonzero((num.isna() & given).to_numpy())
            if bad.size:
                raise fail(int(bad[0]), col, f"= {s.iloc[bad[0]]!r} is not a number")
            v = num.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(v).any():
                raise fail(int(np.flatnonzero(np.isinf(v))[0]), col, "is infinite")
            if (col.endswith("_s") or col in _NONNEGATIVE) and (v < 0).any():
                i = int(np.flatnonzero(v < 0)[0])
                raise fail(i, col, f"= {v[i]!r} is negative")
            if typ == "int" and (np.isfinite(v) & (v != np.round(v))).any():
                i = int(np.flatnonzero(np.isfinite(v) & (v != np.round(v)))[0])
                raise fail(i, col, f"= {v[i]!r} is not an integer")
            nums[col] = v
        elif col in _JSON_OBJECT_COLUMNS:
            for i, cell in enumerate(s.tolist()):
                if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell == "":
                    continue
                try:
                    ok = isinstance(json.loads(cell), dict) if isinstance(cell, str) else False
                except (ValueError, RecursionError):
                    ok = False
                if not ok:
                    raise fail(i, col, f"= {str(cell)[:60]!r} is not a JSON object")
    med = nums["median_s"]
    if (~np.isfinite(med)).any():
        raise fail(int(np.flatnonzero(~np.isfinite(med))[0]), "median_s", "is missing (a measured row has a latency)")
    for col, sign in (("p20_s", 1), ("p80_s", -1)):
        if col in nums:
            v = nums[col]
            bad = np.isfinite(v) & (sign * (v - med) > 1e-12 * med)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise fail(i, col, f"= {v[i]!r} is on the wrong side of median_s = {med[i]!r}")
    return normalize(df)


def _read_rows(folder: Path) -> pd.DataFrame:
    read_manifest(folder)  # the schema version and fields first: a newer or broken manifest is refused
    try:
        if (folder / ROWS_PARQUET).is_file():
            df = pd.read_parquet(folder / ROWS_PARQUET)
        elif (folder / ROWS_CSV).is_file():
            df = pd.read_csv(folder / ROWS_CSV, keep_default_na=False, na_values=[""])
        else:
            raise TraceError(f"{folder}: no {ROWS_PARQUET} or {ROWS_CSV}")
    except TraceError:
        raise
    except Exception as e:  # pyarrow / pandas raise many types for bad bytes (ArrowInvalid, OSError, ...)
        raise TraceError(f"{folder}: unreadable rows ({type(e).__name__}: {str(e)[:120]})") from None
    return check_rows(df, str(folder))


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


def load_runs(root: str | os.PathLike | None = None, strict: bool = False) -> pd.DataFrame:
    """All runs' rows concatenated; an empty frame with TRACE_COLUMNS when there are none. ``strict``: an
    unreadable run raises TraceError (calibrate, attribute); else it is left out (the dashboard keeps the rest)."""
    runs, problems = scan_runs(root)
    if strict and problems:
        raise TraceError(f"{problems[0]} ({len(problems)} of {len(runs) + len(problems)} runs unreadable; "
                         "fix or move them)")
    frames = []
    for ri in runs:
        try:
            frames.append(_read_rows(ri.path))
        except TraceError:
            if strict:
                raise
            continue
    frames = [f for f in frames if len(f)]
    return normalize(pd.concat(frames, ignore_index=True)) if frames else empty_frame()


def load_any(target: str | os.PathLike, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """A run id, a run folder, or a folder of runs (all of them)."""
    p = Path(target)
    if p.is_dir() and not (p / MANIFEST).is_file():
        df = load_runs(p, strict=True)
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
    return check_rows(df, name)


__all__ = ["MANIFEST_FIELDS", "TRACES_DIR", "RunInfo", "RunWriter", "TraceError", "base_manifest", "check_manifest",
           "check_rows", "check_writable", "empty_frame", "list_runs", "load_any", "load_run", "load_runs", "new_run_id",
           "normalize", "read_manifest", "read_trace_bytes", "reserve_run", "resolve_run", "scan_runs", "traces_root",
           "write_run", "write_rows"]


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


# ---- static inspection results (provenance "static": compiled code read, nothing run) -------------------

STATIC_DIR = "static"  # under the traces root; not a run folder (no manifest.json), so run listings skip it


def static_path(arch: str, device_id: str, root: str | os.PathLike | None = None) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", f"inspect-{arch}-{device_id}".lower()).strip("-")
    return traces_root(root) / STATIC_DIR / f"{slug}.json"


def write_static(doc: dict[str, Any], root: str | os.PathLike | None = None) -> Path:
    """Write one inspection (``{"kind": "static", "arch", "device_id", "rows": [...], ...}``) atomically,
    replacing the previous one of the same arch and device."""
    if doc.get("kind") != "static" or not isinstance(doc.get("rows"), list):
        raise TraceError("a static inspection needs kind 'static' and a list of rows")
    path = static_path(str(doc.get("arch", "")), str(doc.get("device_id", "")), root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(doc, indent=1, default=str, sort_keys=True).encode())
    except OSError as e:
        raise TraceError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def _shape_value(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(v, v)


def shape_json_of_key(key: str) -> str:
    """An inspection's shape key (``M=1,K=8192,...``) as the trace rows' shape cell (sorted-key JSON)."""
    d = {}
    for part in str(key).split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            d[k] = _shape_value(v)
    return json.dumps(d, sort_keys=True)


def load_static(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every saved inspection under the traces root as rows (one per compiled launch) with ``arch``,
    ``device_id`` and ``shape_json`` (joinable with trace rows' ``shape``); empty when there are none.
    A file that cannot be read is skipped: static rows are context, never the only copy of a measurement."""
    frames = []
    for p in sorted((traces_root(root) / STATIC_DIR).glob("*.json")):
        try:
            doc = json.loads(p.read_text())
            rows = pd.DataFrame(doc["rows"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if rows.empty or "shape" not in rows:
            continue
        rows["arch"], rows["device_id"] = doc.get("arch", ""), doc.get("device_id", "")
        rows["shape_json"] = rows["shape"].map(shape_json_of_key)
        rows["static_source"] = f"{p.name} ({doc.get('date', '')})"
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
