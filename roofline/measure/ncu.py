"""Nsight Compute: measured DRAM bytes, L2 bytes and FLOPs per kernel (wrapped here, errors translated).

``read_ncu_csv`` reads an ncu CSV export, either the long "details" layout (one row per metric) or the
wide ``--page raw`` layout (one row per kernel, a units row under the header), with scaled units
(Mbyte, usecond, ...) or base units. ``profile_rows`` runs each chosen trace row's implementation once
under ncu (a fresh process per row: ``python -m roofline.measure.ncu worker SPEC``) and attaches the sums over
the kernels that call launched. Metric names: shared/anchors/README.md (checked on the H100).
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
from roofline.errors import RooflineError
from roofline.measure.trace_schema import REFERENCE_IMPL

DRAM_METRICS = ("dram__bytes_read.sum", "dram__bytes_write.sum")
L2_METRIC = "lts__t_bytes.sum"
TIME_METRIC = "gpu__time_duration.sum"
TENSOR_METRICS = ("sm__ops_path_tensor_src_bf16_dst_fp32.sum", "sm__ops_path_tensor_src_fp16_dst_fp32.sum")
CORE_METRICS = tuple(f"sm__sass_thread_inst_executed_op_{p}{op}_pred_on.sum" for p in "fhd" for op in ("fma", "mul", "add"))
DEFAULT_METRICS = (*DRAM_METRICS, L2_METRIC, TIME_METRIC, *TENSOR_METRICS, *CORE_METRICS)
NCU_COLUMNS = ["id", "kernel_name", "duration_s", "ncu_dram_bytes", "ncu_l2_bytes", "ncu_tensor_flops",
               "ncu_cuda_core_flops", "ncu_flops"]
_UNIT_SCALE = {"": 1.0, "byte": 1.0, "kbyte": 1e3, "mbyte": 1e6, "gbyte": 1e9, "tbyte": 1e12,
               "kibyte": 2**10, "mibyte": 2**20, "gibyte": 2**30, "second": 1.0, "msecond": 1e-3,
               "usecond": 1e-6, "nsecond": 1e-9, "inst": 1.0, "kinst": 1e3, "minst": 1e6, "ginst": 1e9,
               "cycle": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
_TENSOR_RE = re.compile(r"^sm__ops_path_tensor_src_[a-z0-9]+_dst_[a-z0-9]+\.sum$")
_TIMEOUT_S = 600


class NcuError(RooflineError):
    """ncu is missing, failed, or its CSV could not be read."""


def find_ncu() -> str:
    """Path of the ncu binary ($NCU overrides); NcuError when it is not installed."""
    path = os.environ.get("NCU") or shutil.which("ncu")
    if not path or not Path(path).exists():
        raise NcuError("Nsight Compute (ncu) is not installed or not on PATH (set $NCU to its path)")
    return path


def _number(text: str, unit: str = "", metric: str = "") -> float:
    t = str(text).strip().replace(",", "")
    if t in ("", "n/a", "N/A", "-"):
        return math.nan
    try:
        v = float(t)
    except ValueError:
        return math.nan
    scale = _UNIT_SCALE.get(unit.strip().lower().replace("/s", ""), None)
    if scale is None:
        if metric in DEFAULT_METRICS or _TENSOR_RE.match(metric):
            raise NcuError(f"ncu CSV: {metric}: unknown unit {unit!r}")
        return v  # a metric this module does not use (%, cycles/s, ...): kept as printed
    return v * scale


def _unit(metric: str, unit: str) -> str:
    """A blank unit means ncu's base unit: ns for durations, bytes or counts otherwise."""
    return unit if unit.strip() else ("nsecond" if metric.startswith("gpu__time_duration") else "")


def _csv_rows(data: str) -> list[list[str]]:
    lines = data.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"ID"') or ln.startswith("ID,")), None)
    if start is None:
        raise NcuError("ncu CSV: no header row (expected a first column \"ID\"; export with --csv)")
    return list(csv.reader(io.StringIO("\n".join(lines[start:]))))


def _long_to_metrics(rows: list[list[str]]) -> dict[str, dict]:
    head = rows[0]
    try:
        i_id, i_name = head.index("ID"), head.index("Kernel Name")
        i_m, i_u, i_v = head.index("Metric Name"), head.index("Metric Unit"), head.index("Metric Value")
    except ValueError as e:
        raise NcuError(f"ncu CSV: missing column ({e})") from None
    out: dict[str, dict] = {}
    for r in rows[1:]:
        if len(r) <= max(i_id, i_name, i_m, i_u, i_v):
            continue
        k = out.setdefault(r[i_id], {"kernel_name": r[i_name], "metrics": {}})
        k["metrics"][r[i_m]] = _number(r[i_v], _unit(r[i_m], r[i_u]), r[i_m])
    return out


def _wide_to_metrics(rows: list[list[str]]) -> dict[str, dict]:
    head = rows[0]
    if "Kernel Name" not in head:
        raise NcuError("ncu CSV: missing column 'Kernel Name'")
    i_id, i_name = head.index("ID"), head.index("Kernel Name")
    metric_cols = [(j, h) for j, h in enumerate(head) if "__" in h]
    body = rows[1:]
    units = [""] * len(head)
    if body and (not body[0][i_id].strip() or not body[0][i_id].strip().isdigit()):
        units, body = body[0] + [""] * (len(head) - len(body[0])), body[1:]  # the units row of --page raw
    out: dict[str, dict] = {}
    for r in body:
        if len(r) < len(head):
            continue
        out[r[i_id]] = {"kernel_name": r[i_name],
                        "metrics": {h: _number(r[j], _unit(h, units[j]), h) for j, h in metric_cols}}
    return out


def read_ncu_csv(path_or_bytes: str | os.PathLike | bytes) -> pd.DataFrame:
    """One row per profiled kernel launch: NCU_COLUMNS (bytes, s, FLOPs; NaN where not collected)."""
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes.decode("utf-8", errors="replace")
    else:
        try:
            data = Path(path_or_bytes).read_text(errors="replace")
        except OSError as e:
            raise NcuError(f"cannot read {path_or_bytes}: {e.strerror or e}") from None
    rows = _csv_rows(data)
    kernels = _long_to_metrics(rows) if "Metric Name" in rows[0] else _wide_to_metrics(rows)
    if not kernels:
        raise NcuError("ncu CSV: no kernel rows")
    recs = []
    for kid, k in kernels.items():
        m = k["metrics"]
        dram = [m[x] for x in DRAM_METRICS if x in m]
        tensor = [v for name, v in m.items() if _TENSOR_RE.match(name)]
        core = [v * (2 if "fma_" in name else 1) for name, v in m.items() if name in CORE_METRICS]
        nt = math.fsum(tensor) if tensor else math.nan
        nc = math.fsum(core) if core else math.nan
        recs.append({"id": int(kid) if str(kid).isdigit() else kid, "kernel_name": k["kernel_name"],
                     "duration_s": m.get(TIME_METRIC, math.nan),
                     "ncu_dram_bytes": math.fsum(dram) if dram else math.nan,
                     "ncu_l2_bytes": m.get(L2_METRIC, math.nan), "ncu_tensor_flops": nt, "ncu_cuda_core_flops": nc,
                     "ncu_flops": math.fsum(v for v in (nt, nc) if not math.isnan(v)) if tensor or core else math.nan})
    return pd.DataFrame(recs, columns=NCU_COLUMNS)


def summarize_ncu(df: pd.DataFrame) -> pd.DataFrame:
    """Per kernel name: launches and summed/median measurements."""
    g = df.groupby("kernel_name", sort=False)
    out = g.agg(launches=("id", "size"), duration_s=("duration_s", "median"), total_s=("duration_s", "sum"),
                ncu_dram_bytes=("ncu_dram_bytes", "median"), ncu_l2_bytes=("ncu_l2_bytes", "median"),
                ncu_flops=("ncu_flops", "median")).reset_index()
    return out.sort_values("total_s", ascending=False, na_position="last").reset_index(drop=True)


def ncu_trace_rows(df: pd.DataFrame, run_id: str, device_id: str, device_name: str, dtype: str) -> list[dict]:
    """Trace rows from an imported ncu CSV: one per kernel name, time = median ncu duration, cost = ncu's."""
    rows = []
    for r in summarize_ncu(df).itertuples(index=False):
        rows.append({"run_id": run_id, "kernel": r.kernel_name[:200], "impl": "ncu-import", "shape": "{}",
                     "dtype": dtype, "device_id": device_id, "device_name": device_name, "median_s": r.duration_s,
                     "p20_s": math.nan, "p80_s": math.nan, "reps": int(r.launches),
                     "flops": r.ncu_flops, "bytes": r.ncu_dram_bytes, "energy_method": "",
                     "ncu_dram_bytes": r.ncu_dram_bytes, "ncu_l2_bytes": r.ncu_l2_bytes, "ncu_flops": r.ncu_flops})
    return rows


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
