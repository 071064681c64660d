"""Nsight Compute: measured DRAM bytes, L2 bytes and FLOPs per kernel launch (wrapped here, errors translated).

``read_ncu_csv`` reads an ncu CSV export as ncu writes it: the ``==PROF==`` / ``==WARNING==`` lines around
the table, the long "details" layout (one row per metric; with or without the Rule columns and the trailing
comma newer versions print) or the wide ``--page raw`` layout (one row per launch, a units row under the
header), with every unit spelling ncu prints (``ns``, ``usecond``, ``byte``, ``Kbyte``, ``Gbyte/second``,
``cycle``, ``inst``, ``hz``, ``%``, ...). It returns one row per launch; ``summarize_ncu`` groups launches by
kernel name, grid and block (and FLOPs), so launches of one kernel at different shapes stay apart. A file
that is truncated (an unterminated row, a launch missing metrics the others have) or inconsistent (one ID
naming two kernels, a negative, infinite or unreadable value of a metric this module uses) is refused,
never half-imported. ``read_ncu`` also opens ``.ncu-rep`` reports through NVIDIA's ``ncu-report`` package
(``pip install ncu-report``), when it is installed.

``profile_rows`` runs each chosen trace row's implementation once under ncu (a fresh process per row:
``python -m roofline.measure.ncu worker SPEC``) and attaches the sums over the kernels that call launched.
Metric names: shared/anchors/README.md (checked on the H100).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from kernels.registry import load_all
from roofline.errors import RooflineError, UnsupportedDtypeError
from roofline.measure.trace_schema import REFERENCE_IMPL
from roofline.ops import hwdb_dtype

try:  # NVIDIA's report reader, an optional package (pip install ncu-report): only .ncu-rep files need it
    import ncu_report
except ImportError:  # pragma: no cover - depends on the environment
    ncu_report = None

DRAM_METRICS = ("dram__bytes_read.sum", "dram__bytes_write.sum")
L2_METRIC = "lts__t_bytes.sum"
TIME_METRIC = "gpu__time_duration.sum"
TENSOR_METRICS = ("sm__ops_path_tensor_src_bf16_dst_fp32.sum", "sm__ops_path_tensor_src_fp16_dst_fp32.sum")
CORE_METRICS = tuple(f"sm__sass_thread_inst_executed_op_{p}{op}_pred_on.sum" for p in "fhd" for op in ("fma", "mul", "add"))
DEFAULT_METRICS = (*DRAM_METRICS, L2_METRIC, TIME_METRIC, *TENSOR_METRICS, *CORE_METRICS)
GRID_METRIC, BLOCK_METRIC = "launch__grid_size", "launch__block_size"
NCU_COLUMNS = ["id", "kernel_name", "grid", "block", "duration_s", "ncu_dram_bytes", "ncu_l2_bytes",
               "ncu_tensor_flops", "ncu_cuda_core_flops", "ncu_flops"]
SUMMARY_COLUMNS = ["kernel_name", "grid", "block", "launches", "duration_s", "p20_s", "p80_s", "total_s",
                   "ncu_dram_bytes", "ncu_l2_bytes", "ncu_flops"]
_TENSOR_RE = re.compile(r"^sm__ops_path_tensor_src_[a-z0-9]+_dst_[a-z0-9]+\.sum$")
# The details page names the duration in its "GPU Speed Of Light Throughput" section by a label, not a metric.
_LABELS = {"Duration": TIME_METRIC}
_TIMEOUT_S = 600

# -------------------------------------------------------------------------------------------- units
# A unit is "<prefix><base>" or a rate "<unit>/<unit>"; ncu prints both spelled out (usecond, Kbyte, Ghz)
# and short (ns, us, B). Scale factors take the value to the base unit (s, byte, count, Hz).
_SHORT = {"ns": (1e-9, "second"), "us": (1e-6, "second"), "\u00b5s": (1e-6, "second"), "ms": (1e-3, "second"),
          "s": (1.0, "second"), "b": (1.0, "byte"), "kb": (1e3, "byte"), "mb": (1e6, "byte"),
          "gb": (1e9, "byte"), "tb": (1e12, "byte"), "kib": (2**10, "byte"), "mib": (2**20, "byte"),
          "gib": (2**30, "byte"), "%": (1.0, "%"), "": (1.0, "count")}
_BASES = {"byte": "byte", "second": "second", "inst": "count", "cycle": "cycle", "hz": "hz", "sector": "count",
          "request": "count", "warp": "count", "thread": "count", "block": "count", "register": "count",
          "transaction": "count", "op": "count", "flop": "count", "wavefront": "count", "instance": "count"}
_PREFIXES = {"": 1.0, "n": 1e-9, "u": 1e-6, "\u00b5": 1e-6, "\u03bc": 1e-6, "m": 1e-3, "k": 1e3, "K": 1e3,
             "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_TERM_RE = re.compile(r"^(Ki|Mi|Gi|Ti|[nu\u00b5\u03bcmkKMGTP]?)([A-Za-z]+?)s?$")
# what each metric this module uses must measure
_DIMENSION = {TIME_METRIC: "second", L2_METRIC: "byte", **{m: "byte" for m in DRAM_METRICS}}
_COUNTS = ("count",)


class NcuError(RooflineError):
    """ncu is missing, failed, or its export could not be read."""


def parse_unit(unit: str) -> tuple[float, str] | None:
    """(scale to the base unit, dimension) of an ncu unit, e.g. 'usecond' -> (1e-6, 'second'),
    'Gbyte/second' -> (1e9, 'byte/second'), 'ns' -> (1e-9, 'second'); None when it is not a unit."""
    u = unit.strip()
    if "/" in u:
        parts = [parse_unit(x) for x in u.split("/")]
        if len(parts) != 2 or None in parts:
            return None
        (a, da), (b, db) = parts  # type: ignore[misc]
        return a / b, f"{da}/{db}"
    if u.lower() in _SHORT:
        return _SHORT[u.lower()]
    m = _TERM_RE.match(u)
    if m and m.group(2).lower() in _BASES:
        return _PREFIXES[m.group(1)], _BASES[m.group(2).lower()]
    if u.lower() in _BASES:  # e.g. "Hz" spelled in capitals
        return 1.0, _BASES[u.lower()]
    return None


def _used(metric: str) -> bool:
    return metric in DEFAULT_METRICS or bool(_TENSOR_RE.match(metric))


def _value(launch: str, metric: str, text: str, unit: str) -> float:
    """A used metric's value in base units; NaN when not collected (n/a); NcuError when unusable."""
    t = str(text).strip().replace(",", "")
    if t in ("", "n/a", "N/A", "-"):
        return math.nan
    where = f"ncu export: launch {launch}: {metric}"
    try:
        v = float(t)
    except ValueError:
        raise NcuError(f"{where} = {text[:40]!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise NcuError(f"{where} = {text[:40]!r} is not a finite non-negative value")
    if not unit.strip() and metric.startswith("gpu__time_duration"):
        unit = "nsecond"  # ncu's base unit for durations when the units row is blank
    parsed = parse_unit(unit)
    if parsed is None:
        raise NcuError(f"{where}: unknown unit {unit!r}")
    scale, dim = parsed
    want = _DIMENSION.get(metric)
    if (want and dim != want) or (want is None and dim not in _COUNTS):
        raise NcuError(f"{where}: unit {unit!r} is not a {want or 'count'}")
    return v * scale


# -------------------------------------------------------------------------------------------- CSV
def _table(data: str) -> tuple[list[list[str]], list[str]]:
    """(CSV rows from the header on, ncu's own messages): ==PROF== / ==WARNING== / ==ERROR== lines and any
    program output before the header are not part of the table."""
    if "\x00" in data:
        raise NcuError("ncu export contains NUL bytes: not a CSV export (a binary .ncu-rep? `roofline import-ncu "
                       "REPORT.ncu-rep` reads those)")
    messages, lines = [], []
    for ln in data.splitlines(keepends=True):
        if ln.startswith("=="):
            messages.append(ln.strip())
        else:
            lines.append(ln)
    start = None
    for i, ln in enumerate(lines):
        if "Kernel Name" in ln:
            try:
                cells = next(csv.reader([ln]))
            except (csv.Error, StopIteration):
                continue
            if "Kernel Name" in cells:
                start = i
                break
    if start is None:
        raise NcuError("ncu export: no header row with a \"Kernel Name\" column (export with ncu --csv)")
    body = "".join(lines[start:])
    try:
        rows = list(csv.reader(io.StringIO(body), strict=True))
    except csv.Error as e:
        raise NcuError(f"ncu export: unreadable CSV ({e}); is the file truncated?") from None
    if body and not body.endswith(("\n", "\r")):
        raise NcuError("ncu export: the last row is cut off (no final newline): the file is truncated")
    return [r for r in rows if r], messages


def _grid(v: str) -> str:
    return " ".join(str(v).split())


def _long_launches(rows: list[list[str]]) -> list[dict]:
    head = rows[0]
    for col in ("Kernel Name", "Metric Name", "Metric Value"):
        if col not in head:
            raise NcuError(f"ncu export: missing column {col!r}")
    ix = {c: head.index(c) for c in ("ID", "Kernel Name", "Metric Name", "Metric Unit", "Metric Value",
                                     "Grid Size", "Block Size") if c in head}
    need = max(ix.values()) + 1
    launches: dict[str, dict] = {}
    order: list[str] = []
    seq = 0
    for n, r in enumerate(rows[1:], start=2):
        if len(r) < need:
            raise NcuError(f"ncu export: CSV row {n} has {len(r)} fields, the header needs {need}: "
                           "the file is truncated or not one export")
        name, metric = r[ix["Kernel Name"]], r[ix["Metric Name"]]
        if "ID" in ix:
            lid = r[ix["ID"]].strip()
        else:  # no ID column: a new launch when the kernel changes or a metric repeats
            cur = launches.get(order[-1]) if order else None
            if cur is None or cur["kernel_name"] != name or metric in cur["raw"]:
                seq += 1
            lid = str(seq - 1)
        k = launches.get(lid)
        if k is None:
            k = launches[lid] = {"id": lid, "kernel_name": name, "raw": {},
                                 "grid": _grid(r[ix["Grid Size"]]) if "Grid Size" in ix else "",
                                 "block": _grid(r[ix["Block Size"]]) if "Block Size" in ix else ""}
            order.append(lid)
        elif k["kernel_name"] != name:
            raise NcuError(f"ncu export: launch ID {lid} names two kernels ({k['kernel_name'][:40]!r} and "
                           f"{name[:40]!r}): not one export")
        if not metric:
            continue  # a rule row (Rule Name / Description columns), no metric
        unit = r[ix["Metric Unit"]] if "Metric Unit" in ix else ""
        if metric in _LABELS:  # a section's label for a metric: used only where the metric itself is absent
            k.setdefault("labels", {})[_LABELS[metric]] = (r[ix["Metric Value"]], unit)
            continue
        if _used(metric) or metric in (GRID_METRIC, BLOCK_METRIC):
            if metric in k["raw"] and k["raw"][metric] != (r[ix["Metric Value"]], unit):
                raise NcuError(f"ncu export: launch {lid}: {metric} is given twice with different values")
            k["raw"][metric] = (r[ix["Metric Value"]], unit)
    for k in launches.values():
        for metric, v in k.pop("labels", {}).items():
            k["raw"].setdefault(metric, v)
    return [launches[i] for i in order]


def _wide_launches(rows: list[list[str]]) -> list[dict]:
    head = rows[0]
    i_name = head.index("Kernel Name")
    i_id = head.index("ID") if "ID" in head else None
    metric_cols = [(j, h) for j, h in enumerate(head) if "__" in h]
    body = rows[1:]
    units = [""] * len(head)
    first = body[0] if body else []
    if first and not (first[i_id] if i_id is not None and i_id < len(first) else first[i_name]).strip().isdigit() \
            and (i_id is not None or not first[i_name].strip()):
        units, body = body[0] + [""] * (len(head) - len(body[0])), body[1:]  # the units row of --page raw
    out = []
    for n, r in enumerate(body, start=1):
        if r and len(r) == len(head) + 1 and not r[-1].strip():
            r = r[:-1]  # a trailing comma
        if len(r) != len(head):
            raise NcuError(f"ncu export: launch row {n} has {len(r)} fields, the header {len(head)}: "
                           "the file is truncated or not one export")
        lid = r[i_id].strip() if i_id is not None else str(n - 1)
        raw = {h: (r[j], units[j]) for j, h in metric_cols if _used(h) or h in (GRID_METRIC, BLOCK_METRIC)}
        out.append({"id": lid, "kernel_name": r[i_name], "raw": raw,
                    "grid": _grid(r[head.index("Grid Size")]) if "Grid Size" in head else "",
                    "block": _grid(r[head.index("Block Size")]) if "Block Size" in head else ""})
    seen: dict[str, str] = {}
    for k in out:
        if k["id"] in seen:
            raise NcuError(f"ncu export: launch ID {k['id']} appears twice: not one export")
        seen[k["id"]] = k["kernel_name"]
    return out


def _count_text(text: str) -> str:
    """launch__grid_size / launch__block_size as printed or read ('1,024', '132.0') -> '1024', '132'."""
    t = str(text).replace(",", "").strip()
    try:
        v = float(t)
    except ValueError:
        return t
    return str(int(v)) if v.is_integer() else t


def _records(launches: list[dict]) -> pd.DataFrame:
    """Launches (id, kernel_name, grid, block, raw {metric: (value text, unit)}) as NCU_COLUMNS rows; every
    launch must carry the used metrics the others carry (else the file was cut short or merged)."""
    if not launches:
        raise NcuError("ncu export: no kernel launches")
    present = {m for k in launches for m in k["raw"] if _used(m)}
    for k in launches:
        lacks = sorted(present - set(k["raw"]))
        if lacks:
            raise NcuError(f"ncu export: launch {k['id']} ({k['kernel_name'][:40]}) lacks {', '.join(lacks[:3])} "
                           "that other launches have: the file is truncated or mixes exports")
    recs = []
    for k in launches:
        m = {name: _value(k["id"], name, v, u) for name, (v, u) in k["raw"].items() if _used(name)}
        dram = [m[x] for x in DRAM_METRICS if x in m]
        tensor = [v for name, v in m.items() if _TENSOR_RE.match(name)]
        core = [v * (2 if "fma_" in name else 1) for name, v in m.items() if name in CORE_METRICS]
        nt = math.fsum(tensor) if tensor else math.nan
        nc = math.fsum(core) if core else math.nan
        grid = k["grid"] or _count_text(k["raw"].get(GRID_METRIC, ("", ""))[0])
        block = k["block"] or _count_text(k["raw"].get(BLOCK_METRIC, ("", ""))[0])
        recs.append({"id": int(k["id"]) if str(k["id"]).isdigit() else k["id"], "kernel_name": k["kernel_name"],
                     "grid": grid, "block": block, "duration_s": m.get(TIME_METRIC, math.nan),
                     "ncu_dram_bytes": math.fsum(dram) if dram else math.nan,
                     "ncu_l2_bytes": m.get(L2_METRIC, math.nan), "ncu_tensor_flops": nt, "ncu_cuda_core_flops": nc,
                     "ncu_flops": math.fsum(v for v in (nt, nc) if not math.isnan(v)) if tensor or core else math.nan})
    df = pd.DataFrame(recs, columns=NCU_COLUMNS)
    return df


def read_ncu_csv(path_or_bytes: str | os.PathLike | bytes) -> pd.DataFrame:
    """One row per profiled kernel launch: NCU_COLUMNS (bytes, s, FLOPs; NaN where not collected);
    ``df.attrs["messages"]`` holds ncu's own ==WARNING== / ==ERROR== lines. Raises NcuError."""
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes.decode("utf-8", errors="replace")
    else:
        try:
            data = Path(path_or_bytes).read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            raise NcuError(f"cannot read {path_or_bytes}: {e.strerror or e}") from None
    rows, messages = _table(data)
    launches = _long_launches(rows) if "Metric Name" in rows[0] else _wide_launches(rows)
    df = _records(launches)
    df.attrs["messages"] = [m for m in messages if m.startswith(("==WARNING==", "==ERROR=="))]
    return df


def read_ncu_rep(path: str | os.PathLike) -> pd.DataFrame:
    """One row per launch of an Nsight Compute report (.ncu-rep), read with NVIDIA's ``ncu_report`` module
    (the ``ncu-report`` package, or Nsight Compute's extras/python on PYTHONPATH). Raises NcuError."""
    if ncu_report is None:
        raise NcuError(f"{path}: reading .ncu-rep reports needs NVIDIA's ncu-report package (pip install "
                       "ncu-report), or export a CSV: ncu --import REPORT.ncu-rep --csv --page raw > report.csv")
    if not Path(path).is_file():
        raise NcuError(f"cannot read {path}: no such file")
    try:
        ctx = ncu_report.load_report(str(path))
        launches = []
        for r in range(ctx.num_ranges()):
            rng = ctx.range_by_idx(r)
            for a in range(rng.num_actions()):
                act = rng.action_by_idx(a)
                raw = {}
                for name in (*DEFAULT_METRICS, GRID_METRIC, BLOCK_METRIC):
                    m = act.metric_by_name(name)
                    if m is not None and m.has_value():
                        raw[name] = (repr(m.as_double()), m.unit() or "")
                for name in act.metric_names():
                    if _TENSOR_RE.match(name) and name not in raw:
                        m = act.metric_by_name(name)
                        if m is not None and m.has_value():
                            raw[name] = (repr(m.as_double()), m.unit() or "")
                launches.append({"id": str(len(launches)), "kernel_name": act.name(), "raw": raw, "grid": "",
                                 "block": ""})
    except NcuError:
        raise
    except Exception as e:  # the SWIG module raises its own types for a file it cannot parse
        raise NcuError(f"{path}: not a readable Nsight Compute report ({type(e).__name__}: {str(e)[:120]})") from None
    if not launches:
        raise NcuError(f"{path}: no kernel launches in the report (is it an Nsight Compute .ncu-rep?)")
    return _records(launches)


def read_ncu(path_or_bytes: str | os.PathLike | bytes) -> pd.DataFrame:
    """An ncu export by its name: ``.ncu-rep`` / ``.ncu-repz`` reports through ncu-report, anything else as CSV."""
    if not isinstance(path_or_bytes, bytes) and str(path_or_bytes).lower().endswith((".ncu-rep", ".ncu-repz")):
        return read_ncu_rep(path_or_bytes)
    return read_ncu_csv(path_or_bytes)


def summarize_ncu(df: pd.DataFrame) -> pd.DataFrame:
    """Per launch configuration (kernel name, grid, block, FLOPs): launches, median / p20 / p80 / total time
    and the median counters (SUMMARY_COLUMNS). Launches of one kernel at different shapes are different
    configurations: their medians would describe no launch."""
    if df.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    key = df.assign(_flops=df["ncu_flops"].fillna(-1.0))
    g = key.groupby(["kernel_name", "grid", "block", "_flops"], sort=False, dropna=False)
    d = g["duration_s"]
    out = pd.DataFrame({"launches": g.size(), "duration_s": d.median(), "p20_s": d.quantile(0.2),
                        "p80_s": d.quantile(0.8), "total_s": d.sum(min_count=1),
                        "ncu_dram_bytes": g["ncu_dram_bytes"].median(), "ncu_l2_bytes": g["ncu_l2_bytes"].median(),
                        "ncu_flops": g["ncu_flops"].median()}).reset_index()
    out = out.sort_values("total_s", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    return out[SUMMARY_COLUMNS]


def check_ncu_dtype(dtype: str) -> str:
    """The compute dtype saved ncu rows are priced with: a name the roofline knows (bf16, fp16, w4a16, ...)."""
    if not isinstance(dtype, str) or hwdb_dtype(dtype) is None:
        raise UnsupportedDtypeError(f"--dtype {dtype!r} is not a dtype the roofline prices (use fp64, fp32, tf32, "
                                    "bf16, fp16, fp8, int8, int4 or a wNaM name such as w4a16)")
    return dtype


def ncu_trace_rows(df: pd.DataFrame, run_id: str, device_id: str, device_name: str, dtype: str) -> list[dict]:
    """Trace rows from an imported ncu export: one per launch configuration (summarize_ncu); time = the
    median ncu duration of its launches (p20 / p80 beside it), cost = ncu's counters. Raises
    UnsupportedDtypeError (an unknown dtype) or NcuError (no durations: nothing to save as a measured time)."""
    check_ncu_dtype(dtype)
    s = summarize_ncu(df)
    if s["duration_s"].isna().any():
        raise NcuError("ncu export has no duration for some launches (collect gpu__time_duration.sum, or the "
                       "default sections) : nothing to save as a measured time")
    rows = []
    for r in s.itertuples(index=False):
        shape = {k: v for k, v in (("grid", r.grid), ("block", r.block)) if v}
        rows.append({"run_id": run_id, "kernel": r.kernel_name[:200], "impl": "ncu-import",
                     "shape": json.dumps(shape, sort_keys=True), "dtype": dtype, "device_id": device_id,
                     "device_name": device_name, "median_s": r.duration_s, "p20_s": r.p20_s, "p80_s": r.p80_s,
                     "reps": int(r.launches), "flops": r.ncu_flops, "bytes": r.ncu_dram_bytes, "energy_method": "",
                     "ncu_dram_bytes": r.ncu_dram_bytes, "ncu_l2_bytes": r.ncu_l2_bytes, "ncu_flops": r.ncu_flops})
    return rows


def find_ncu() -> str:
    """Path of the ncu binary ($NCU overrides); NcuError when it is not installed."""
    path = os.environ.get("NCU") or shutil.which("ncu")
    if not path or not Path(path).exists():
        raise NcuError("Nsight Compute (ncu) is not installed or not on PATH (set $NCU to its path)")
    return path


def ncu_command(ncu: str, spec: dict, log_file: str, metrics: tuple[str, ...] = DEFAULT_METRICS) -> list[str]:
    return [ncu, "--profile-from-start", "off", "--clock-control", "none", "--csv", "--page", "raw",
            "--print-units", "base", "--metrics", ",".join(metrics), "--log-file", log_file,
            sys.executable, "-m", "roofline.measure.ncu", "worker", json.dumps(spec)]


def measure_one(spec: dict, metrics: tuple[str, ...] = DEFAULT_METRICS) -> dict[str, float]:
    """Run one implementation once under ncu; the sums over the kernels it launched."""
    ncu = find_ncu()
    with tempfile.TemporaryDirectory() as d:
        log = str(Path(d) / "ncu.csv")
        try:
            p = subprocess.run(ncu_command(ncu, spec, log, metrics), capture_output=True, text=True, timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise NcuError(f"ncu timed out after {_TIMEOUT_S} s") from None
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
            raise NcuError(f"ncu failed (exit {p.returncode}): {tail[0][:200]}")
        df = read_ncu_csv(Path(log))
    return {c: float(df[c].sum(min_count=1)) for c in ("ncu_dram_bytes", "ncu_l2_bytes", "ncu_flops")}


def profile_rows(rows: list[dict], kernels: list[str] | None, torch_device: str, warn: Callable[[str], None]) -> None:
    """Attach ncu measurements to the chosen rows in place (kernels=None: every row)."""
    if torch_device != "cuda":
        warn("--ncu needs a CUDA device; hardware counters not collected")
        return
    for row in rows:
        if kernels and row["kernel"] not in kernels:
            continue
        spec = {"kernel": row["kernel"], "impl": row["impl"], "dtype": row["dtype"], "shape": json.loads(row["shape"])}
        try:
            row.update(measure_one(spec))
        except NcuError as e:
            warn(f"ncu {row['kernel']} {row['impl']} {row['shape']}: {e}")


def _worker(spec_json: str) -> None:
    """Inside ncu: prepare the point, warm up outside the profiled range, profile exactly one call."""
    import torch  # lazy: this worker runs under ncu, on a GPU only


    spec = json.loads(spec_json)
    bench = load_all()[spec["kernel"]].prepare(spec["shape"], spec["dtype"], "cuda")
    fn = bench.reference if spec["impl"] == REFERENCE_IMPL else bench.impls[spec["impl"]]
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    fn()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        _worker(sys.argv[2])
    else:
        sys.exit("usage: python -m roofline.measure.ncu worker SPEC_JSON")
