"""Import a torch.profiler / Kineto Chrome trace: GPU kernels mapped onto ops (matmul, attention, ...).

Each GPU kernel event (``cat`` kernel / gpu_memcpy / gpu_memset) is linked to the CPU op that launched
it through the runtime call with the same ``correlation`` id (the innermost ``cpu_op`` enclosing that
call on its thread), then classified by its own name and the launching op's name.
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
import os
import re
from pathlib import Path

import pandas as pd

from roofline.errors import RooflineError

KINETO_COLUMNS = ["name", "op_kind", "cpu_op", "ts_us", "dur_s", "device", "stream", "correlation"]
_GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
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


def _load(path_or_bytes: str | os.PathLike | bytes) -> dict:
    try:
        raw = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    except OSError as e:
        raise KinetoError(f"cannot read {path_or_bytes}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise KinetoError(f"not a JSON Chrome trace ({e})") from None
    if isinstance(doc, list):
        doc = {"traceEvents": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise KinetoError("not a Chrome trace (no traceEvents list)")
    return doc


def read_kineto(path_or_bytes: str | os.PathLike | bytes) -> pd.DataFrame:
    """GPU kernel events as KINETO_COLUMNS (one row per launch; dur in s, ts in us as in the trace)."""
    events = [e for e in _load(path_or_bytes)["traceEvents"] if isinstance(e, dict) and e.get("ph") == "X"]
    runtime: dict = {}
    cpu_ops: dict = {}
    for e in events:
        cat = str(e.get("cat", "")).lower()
        if cat in ("cuda_runtime", "cuda_driver", "runtime"):
            corr = (e.get("args") or {}).get("correlation")
            if corr is not None:
                runtime[corr] = e
        elif cat in ("cpu_op", "operator"):
            cpu_ops.setdefault((e.get("pid"), e.get("tid")), []).append(e)
    index = {}
    for k, v in cpu_ops.items():
        ops = sorted(v, key=lambda e: float(e["ts"]))
        index[k] = (ops, [float(o["ts"]) for o in ops])

    def launching_op(rt: dict | None) -> str:
        if rt is None:
            return ""
        ops, starts = index.get((rt.get("pid"), rt.get("tid")), ([], []))
        t = float(rt["ts"])
        best = ""
        # innermost enclosing op: the latest-starting op that still covers t
        for j in range(bisect.bisect_right(starts, t) - 1, -1, -1):
            o = ops[j]
            if float(o["ts"]) + float(o.get("dur", 0)) >= t:
                best = str(o["name"])
                break
        return best

    recs = []
    for e in events:
        if str(e.get("cat", "")).lower() not in _GPU_CATS:
            continue
        args = e.get("args") or {}
        corr = args.get("correlation")
        op = launching_op(runtime.get(corr))
        name = str(e.get("name", ""))
        recs.append({"name": name, "op_kind": classify(name, op), "cpu_op": op, "ts_us": float(e.get("ts", math.nan)),
                     "dur_s": float(e.get("dur", math.nan)) * 1e-6, "device": args.get("device", ""),
                     "stream": args.get("stream", ""), "correlation": corr if corr is not None else -1})
    if not recs:
        raise KinetoError("no GPU kernel events in the trace (was it recorded with ProfilerActivity.CUDA?)")
    return pd.DataFrame(recs, columns=KINETO_COLUMNS).sort_values("ts_us", kind="stable").reset_index(drop=True)


def summarize_kineto(df: pd.DataFrame) -> pd.DataFrame:
    """Time per (op kind, kernel name): calls, total, median, share of GPU kernel time."""
    g = df.groupby(["op_kind", "name"], sort=False)
    out = g.agg(cpu_op=("cpu_op", "first"), calls=("dur_s", "size"), total_s=("dur_s", "sum"),
                median_s=("dur_s", "median"), p20_s=("dur_s", lambda s: s.quantile(0.2)),
                p80_s=("dur_s", lambda s: s.quantile(0.8))).reset_index()
    total = out["total_s"].sum()
    out["share"] = out["total_s"] / total if total > 0 else math.nan
    return out.sort_values("total_s", ascending=False).reset_index(drop=True)


def by_kind(df: pd.DataFrame) -> pd.DataFrame:
    """GPU time per op kind (matmul, attention, elementwise, ...)."""
    out = df.groupby("op_kind").agg(calls=("dur_s", "size"), total_s=("dur_s", "sum")).reset_index()
    out["share"] = out["total_s"] / out["total_s"].sum()
    return out.sort_values("total_s", ascending=False).reset_index(drop=True)


def kineto_trace_rows(df: pd.DataFrame, run_id: str, device_id: str, device_name: str) -> list[dict]:
    """Trace rows from an imported Kineto trace: one per kernel name (time measured; cost unknown -> NaN)."""
    rows = []
    for r in summarize_kineto(df).itertuples(index=False):
        rows.append({"run_id": run_id, "kernel": r.op_kind, "impl": r.name[:200],
                     "shape": json.dumps({"cpu_op": r.cpu_op}), "dtype": "", "device_id": device_id,
                     "device_name": device_name, "median_s": r.median_s, "p20_s": r.p20_s, "p80_s": r.p80_s,
                     "reps": int(r.calls), "energy_method": ""})
    return rows
