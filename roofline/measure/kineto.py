"""Import a torch.profiler / Kineto Chrome trace: GPU kernels (or, in a CPU-only trace, CPU ops) mapped
onto ops (matmul, attention, ...).

Each GPU kernel event (``cat`` kernel / gpu_memcpy / gpu_memset) is linked to the CPU op that launched
it through the runtime call with the same ``correlation`` id (the innermost ``cpu_op`` enclosing that
call on its thread), then classified by its own name and the launching op's name. A trace recorded with
``ProfilerActivity.CPU`` only has no kernels: its rows are then the outermost CPU ops of each thread
(an op inside another is part of that one's time), for a CPU roofline (``--device`` a CPU).

Linear in the number of events (one sort per thread, one sweep): 100k kernels import in seconds
(benchmarks/kineto_bench.py). A measured field that is malformed (a kernel's ``ts`` or ``dur`` not a
finite non-negative number) refuses the file, naming the event; fields used only to attribute a kernel
(runtime calls, enclosing ops, ``args``) are skipped when malformed, and counted in the notes.
"""

from __future__ import annotations

import json
import math
import os
import re
import zlib
from pathlib import Path
from typing import Any

import pandas as pd

import hwdb
from roofline.errors import InputError, RooflineError

KINETO_COLUMNS = ["name", "op_kind", "cpu_op", "ts_us", "dur_s", "device", "stream", "correlation", "where"]
MAX_JSON_BYTES = 4 * 2**30  # a decompressed trace past this is refused (a gzip bomb must not take the host down)
_GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
_RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "runtime"}
_CPU_CATS = {"cpu_op", "operator"}
# (op kind, pattern on the kernel name or the launching op); first match wins
_KINDS = [
    ("attention", re.compile(r"flash|fmha|attention|sdpa|scaled_dot_product|paged_attn|decode_attn", re.I)),
    ("matmul", re.compile(r"gemm|gemv|nvjet|cutlass|xmma|cublas|wgmma|int_mm|aten::(mm|addmm|bmm|matmul|linear|_int_mm)"
                          r"|_weight_int4pack_mm|splitk|matmul", re.I)),
    ("copy", re.compile(r"memcpy|copy|aten::(to|copy_|contiguous|clone)", re.I)),
    ("memset", re.compile(r"memset|aten::(zero_|fill_)", re.I)),
    ("reduction", re.compile(r"reduce|softmax|norm|aten::(sum|mean|max|argmax|topk)", re.I)),
    ("elementwise", re.compile(r"elementwise|vectorized|unrolled|pointwise|triton_poi|aten::(add|mul|sub|div|silu|gelu"
                               r"|relu|exp|neg|cat|where|rsqrt|pow)", re.I)),
]


class KinetoError(RooflineError):
    """A file that is not a readable Chrome / Kineto trace."""


def classify(kernel_name: str, cpu_op: str = "") -> str:
    for kind, pat in _KINDS:
        if pat.search(kernel_name) or (cpu_op and pat.search(cpu_op)):
            return kind
    return "other"


def _gunzip(raw: bytes) -> bytes:
    """Decompress a .json.gz whole, refusing a corrupt or truncated stream and one past MAX_JSON_BYTES."""
    d = zlib.decompressobj(wbits=31)  # gzip header
    try:
        out = d.decompress(raw, MAX_JSON_BYTES + 1)
    except zlib.error as e:
        raise KinetoError(f"corrupt gzip data ({e})") from None
    if len(out) > MAX_JSON_BYTES:
        raise KinetoError(f"the trace decompresses past {MAX_JSON_BYTES // 2**30} GiB; refused")
    if not d.eof:
        raise KinetoError("truncated gzip file (the compressed stream ends early)")
    return out


def _load(path_or_bytes: str | os.PathLike | bytes) -> dict:
    try:
        raw = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    except OSError as e:
        raise KinetoError(f"cannot read {path_or_bytes}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw)
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise KinetoError("not a Chrome trace (JSON nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise KinetoError(f"not a JSON Chrome trace ({str(e)[:160]})") from None
    if isinstance(doc, list):
        doc = {"traceEvents": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise KinetoError("not a Chrome trace (no traceEvents list)")
    return doc


def _finite(v: Any) -> float | None:
    """A finite number from a JSON value (numbers, or numeric strings as some exporters write), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def _measured(i: int, e: dict, key: str) -> float:
    """The ts or dur of a measured event: a finite number (dur >= 0), else KinetoError naming the event."""
    x = _finite(e.get(key))
    if x is None or (key == "dur" and x < 0):
        name = str(e.get("name", ""))[:60]
        raise KinetoError(f"traceEvents[{i}] ({e.get('cat', '')} {name!r}): {key} = {e.get(key)!r} is not a "
                          f"{'non-negative ' if key == 'dur' else ''}number")
    return x


def _args(e: dict) -> dict:
    a = e.get("args")
    return a if isinstance(a, dict) else {}


def _hashable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None


def _enclosing(ops: list[tuple[float, float, str]], queries: list[tuple[float, int]]) -> dict[int, str]:
    """For each query (t, key): the innermost op (start, end, name) covering t, by one sweep over ops sorted
    by start (outer before inner at a tie) and queries sorted by t: a stack of open ops, closed ones popped."""
    ops.sort(key=lambda o: (o[0], -o[1]))
    queries.sort()
    out: dict[int, str] = {}
    stack: list[tuple[float, float, str]] = []
    j = 0
    for t, key in queries:
        while j < len(ops) and ops[j][0] <= t:
            while stack and stack[-1][1] < ops[j][0]:
                stack.pop()
            stack.append(ops[j])
            j += 1
        while stack and stack[-1][1] < t:
            stack.pop()
        out[key] = stack[-1][2] if stack else ""
    return out


def _outermost(ops: list[tuple[float, float, str, int]]) -> list[int]:
    """Indices of the ops not inside another op of the same thread (one start-sorted sweep)."""
    ops.sort(key=lambda o: (o[0], -o[1]))
    keep, end = [], -math.inf
    for start, stop, _, idx in ops:
        if start >= end:
            keep.append(idx)
            end = stop
    return keep


def read_kineto(path_or_bytes: str | os.PathLike | bytes) -> pd.DataFrame:
    """One row per GPU kernel launch (KINETO_COLUMNS; ``where`` = gpu), or, in a CPU-only trace, one row per
    outermost CPU op (``where`` = cpu). dur in s, ts in us as in the trace. ``df.attrs["notes"]`` says what
    was skipped or inferred. Raises KinetoError."""
    events = _load(path_or_bytes)["traceEvents"]
    skipped = {"runtime": 0, "cpu_op": 0, "args": 0}
    runtime: dict[Any, tuple[Any, float]] = {}  # correlation -> (thread, ts)
    cpu_ops: dict[Any, list[tuple[float, float, str, int]]] = {}  # thread -> [(start, end, name, event index)]
    gpu: list[int] = []
    for i, e in enumerate(events):
        if not isinstance(e, dict) or e.get("ph") != "X":
            continue
        cat = str(e.get("cat", "")).lower()
        if cat in _GPU_CATS:
            gpu.append(i)
        elif cat in _RUNTIME_CATS:
            corr, ts = _hashable(_args(e).get("correlation")), _finite(e.get("ts"))
            if corr is None or ts is None:
                skipped["runtime"] += 1
                continue
            runtime[corr] = ((_hashable(e.get("pid")), _hashable(e.get("tid"))), ts)
        elif cat in _CPU_CATS:
            ts, dur = _finite(e.get("ts")), _finite(e.get("dur", 0))
            if ts is None or dur is None or dur < 0:
                skipped["cpu_op"] += 1
                continue
            thread = (_hashable(e.get("pid")), _hashable(e.get("tid")))
            cpu_ops.setdefault(thread, []).append((ts, ts + dur, str(e.get("name", "")), i))
    notes: list[str] = []
    if gpu:
        recs = _gpu_rows(events, gpu, runtime, cpu_ops, skipped)
    elif cpu_ops:
        recs = _cpu_rows(events, cpu_ops)
        notes.append("CPU-only trace (no GPU kernel events): rows are the outermost CPU ops of each thread, "
                     "for a CPU roofline")
    else:
        raise KinetoError("no GPU kernel or CPU op events in the trace (record it with torch.profiler: "
                          "ProfilerActivity.CPU and/or CUDA)")
    for what, n in skipped.items():
        if n:
            notes.append(f"{n} {what} events with malformed fields ignored for kernel attribution")
    df = pd.DataFrame(recs, columns=KINETO_COLUMNS).sort_values("ts_us", kind="stable").reset_index(drop=True)
    df.attrs["notes"] = notes
    return df


def _gpu_rows(events: list, gpu: list[int], runtime: dict, cpu_ops: dict, skipped: dict) -> list[dict]:
    # launching op of each kernel: the innermost CPU op enclosing its runtime call, per thread in one sweep
    queries: dict[Any, list[tuple[float, int]]] = {}
    for i in gpu:
        a = _args(events[i])
        if "args" in events[i] and not isinstance(events[i]["args"], dict):
            skipped["args"] += 1
        rt = runtime.get(_hashable(a.get("correlation")))
        if rt is not None:
            queries.setdefault(rt[0], []).append((rt[1], i))
    launcher: dict[int, str] = {}
    for thread, qs in queries.items():
        ops = [(s, t, name) for s, t, name, _ in cpu_ops.get(thread, [])]
        launcher.update(_enclosing(ops, qs))
    recs = []
    for i in gpu:
        e = events[i]
        ts, dur = _measured(i, e, "ts"), _measured(i, e, "dur")
        a = _args(e)
        corr = _hashable(a.get("correlation"))
        op = launcher.get(i, "")
        name = str(e.get("name", ""))
        recs.append({"name": name, "op_kind": classify(name, op), "cpu_op": op, "ts_us": ts, "dur_s": dur * 1e-6,
                     "device": str(a.get("device", "")), "stream": str(a.get("stream", "")),
                     "correlation": corr if corr is not None else -1, "where": "gpu"})
    return recs


def _cpu_rows(events: list, cpu_ops: dict) -> list[dict]:
    recs = []
    for thread, ops in cpu_ops.items():
        for idx in _outermost(list(ops)):
            e = events[idx]
            ts, dur = _measured(idx, e, "ts"), _measured(idx, e, "dur")
            name = str(e.get("name", ""))
            recs.append({"name": name, "op_kind": classify(name), "cpu_op": name, "ts_us": ts, "dur_s": dur * 1e-6,
                         "device": "cpu", "stream": str(thread[1]), "correlation": -1, "where": "cpu"})
    return recs


def trace_where(df: pd.DataFrame) -> str:
    """'gpu' (kernel rows) or 'cpu' (a CPU-only trace's op rows)."""
    return "cpu" if len(df) and (df["where"] == "cpu").all() else "gpu"


def summarize_kineto(df: pd.DataFrame) -> pd.DataFrame:
    """Time per (op kind, kernel or op name): calls, total, median, p20, p80, share of the traced time."""
    g = df.groupby(["op_kind", "name"], sort=False)["dur_s"]
    out = pd.DataFrame({"cpu_op": df.groupby(["op_kind", "name"], sort=False)["cpu_op"].first(),
                        "calls": g.size(), "total_s": g.sum(), "median_s": g.median(), "p20_s": g.quantile(0.2),
                        "p80_s": g.quantile(0.8)}).reset_index()
    total = out["total_s"].sum()
    out["share"] = out["total_s"] / total if total > 0 else math.nan
    return out.sort_values("total_s", ascending=False, kind="stable").reset_index(drop=True)


def by_kind(df: pd.DataFrame) -> pd.DataFrame:
    """Traced time per op kind (matmul, attention, elementwise, ...)."""
    out = df.groupby("op_kind").agg(calls=("dur_s", "size"), total_s=("dur_s", "sum")).reset_index()
    total = out["total_s"].sum()
    out["share"] = out["total_s"] / total if total > 0 else math.nan
    return out.sort_values("total_s", ascending=False, kind="stable").reset_index(drop=True)


def check_device_for(df: pd.DataFrame, device_id: str) -> None:
    """A Kineto import is attributed to ``device_id``: GPU kernels to a GPU, a CPU-only trace to a CPU (or an
    SoC's CPU). Raises InputError otherwise (CPU op times on a GPU roofline would read as a slow GPU)."""
    if not device_id:
        return
    kind = hwdb.get(device_id).kind
    where = trace_where(df)
    if where == "cpu" and kind not in ("cpu", "soc"):
        raise InputError(f"--device {device_id} is a {kind}, but the trace is CPU-only (no GPU kernels): "
                         "attribute it to a CPU (see `roofline hw list --kind cpu`)")
    if where == "gpu" and kind == "cpu":
        raise InputError(f"--device {device_id} is a cpu, but the trace's rows are GPU kernels")


def kineto_trace_rows(df: pd.DataFrame, run_id: str, device_id: str, device_name: str) -> list[dict]:
    """Trace rows from an imported Kineto trace: one per kernel (or CPU op) name; time measured, cost unknown
    (NaN). Raises InputError when ``device_id`` is the wrong kind for the trace."""
    check_device_for(df, device_id)
    rows = []
    for r in summarize_kineto(df).itertuples(index=False):
        rows.append({"run_id": run_id, "kernel": r.op_kind, "impl": r.name[:200],
                     "shape": json.dumps({"cpu_op": r.cpu_op}), "dtype": "", "device_id": device_id,
                     "device_name": device_name, "median_s": r.median_s, "p20_s": r.p20_s, "p80_s": r.p80_s,
                     "reps": int(r.calls), "energy_method": ""})
    return rows
