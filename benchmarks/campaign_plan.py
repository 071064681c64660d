"""The GPU campaign's pure parts: the kernel targets table and its evaluation, the plan of measured points
with their time estimates (compile, correctness, timing, energy), trimming the plan to a budget, the stage
allowances, and the profile suite files of the kept points.

No GPU and no measurement here (``decode_config_est_s`` only prices a step with the datasheet model);
``benchmarks/gpu_campaign.py`` runs the stages, each in its own process (``benchmarks/campaign_worker.py``).
The estimates were made without a GPU: ``summary.md`` prints each stage's real time beside them; retune here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

MODEL_ID = "llama-3.1-8b"
GEN_TOKENS = 256  # IPW / IPJ query: a CTX-token prompt and 256 generated tokens
FIDELITY_TARGETS = {"median_abs_err": 0.10, "p90_abs_err": 0.25}  # held-out, time and energy
CLOSURE_TOL = 0.10
SETUP_S = 25.0  # interpreter start, imports, CUDA context, device query (the device stage)
CPU_TAIL_S = 20.0  # calibrate, fidelity, IPW (the analysis stage)
PACK_S = 10.0  # summary + archive, always kept back from the budget
GPU_TESTS_S = 25.0  # pytest of the two bit-for-bit files: ~24 cases, a few small compiles each
PROCESS_S = 6.0  # every stage is a fresh process: python + torch import + CUDA context
ROW_OVERHEAD_S = 0.6  # per implementation: warm-up, reference check, clocks
NCU_ROW_S = 25.0  # a fresh process under ncu: CUDA init, inputs, compile cache, one profiled call
DECODE_SLOWDOWN = 1.5  # the estimate of a decode-step config prices its calls at 1.5x the datasheet roofline
# One-time cost the first timed item of a group pays once its kernels are in Triton's disk cache (the
# compile stage put them there): loading cubins, the launchers' first-call autotuning, building weights.
FIRST_USE_S = {"flash_attention": 6.0, "decode_attention": 4.0, "block_sparse_attention": 20.0,
               "w4a16_linear": 12.0, "w8a8_linear": 4.0, "ternary_linear": 4.0, "sparse24_linear": 6.0,
               "contextual_mlp": 4.0, "copy": 1.0, "matmul": 2.0, "ncu": 5.0,
               "stack-bf16": 6.0, "stack-w4a16": 12.0, "stack-check": 15.0}  # random 8B weights; W4A16 quantizes them
# Cold compile of one point (every candidate config the launcher times on its first CUDA call), in the
# parallel compile stage. The 2026-12-01 static table counts ~19 heavy W4A16 candidates across M buckets,
# each a tl.dot kernel of 3-6 s to compile; flex attention pays two cold torch.compile runs (~40 s each).
COMPILE_S = {"flash_attention": 20.0, "decode_attention": 12.0, "block_sparse_attention": 60.0,
             "w4a16_linear": 30.0, "w8a8_linear": 15.0, "ternary_linear": 20.0, "sparse24_linear": 15.0,
             "contextual_mlp": 12.0, "copy": 1.0, "matmul": 2.0}
PREP_S = {"block_sparse_attention": 8.0, "flash_attention": 2.0, "contextual_mlp": 2.0}  # inputs + reference
ENERGY_MAX_PRIORITY = 1  # ceilings and targets get NVML energy windows; the calibration spread is timed only
DEFAULT_BUDGET_S = 420.0  # wall clock from process start: a 10-minute command limit with room to spare
# The kernel families: each runs in its own process (a fault in one cannot poison the others' CUDA context).
KERNEL_FAMILY = {"copy": "ceiling", "matmul": "ceiling", "w4a16_linear": "quant", "w8a8_linear": "quant",
                 "ternary_linear": "quant", "flash_attention": "attention", "decode_attention": "attention",
                 "block_sparse_attention": "attention", "sparse24_linear": "sparse", "contextual_mlp": "sparse"}
FAMILIES = ("ceiling", "quant", "attention", "sparse")


# ---- targets --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A kernel target: speedup = peer median / ours median in the same run (or ours' bytes/s)."""

    id: str
    text: str
    kernel: str
    dtype: str
    shape: dict[str, Any]  # key -> value, a tuple of allowed values, or None (= key absent)
    threshold: float
    peer: str | None = None
    metric: str = "speedup"  # speedup | bytes_per_s


SQ = {"K": 8192, "N": 8192}
TARGETS = (
    Target("w4a16-m1", "W4A16 g128 8192² M=1 vs bf16 ≥3.5x", "w4a16_linear", "bf16",
           {"M": 1, **SQ, "group": 128}, 3.5, "torch-bf16-linear"),
    Target("w4a16-m16", "W4A16 g128 8192² M=16 vs bf16 ≥3.0x", "w4a16_linear", "bf16",
           {"M": 16, **SQ, "group": 128}, 3.0, "torch-bf16-linear"),
    Target("w4a16-m64", "W4A16 g128 8192² M=64 vs bf16 ≥1.5x", "w4a16_linear", "bf16",
           {"M": 64, **SQ, "group": 128}, 1.5, "torch-bf16-linear"),
    Target("w8a8-m4096", "W8A8 8192² M=4096 ≥0.9x of torch._int_mm", "w8a8_linear", "bf16",
           {"M": 4096, **SQ}, 0.9, "torch-int-mm"),
    Target("ternary-m1", "ternary 8192² M=1 vs bf16 ≥5x", "ternary_linear", "bf16", {"M": 1, **SQ}, 5.0,
           "torch-bf16-linear"),
    Target("flash-s4096", "flash S4096 D128 ≥ SDPA flash", "flash_attention", "bf16", {"S": 4096, "D": 128},
           1.0, "sdpa-flash"),
    Target("decode-b16", "decode B16 L8192 ≥2.5 TB/s", "decode_attention", "bf16",
           {"B": 16, "L": 8192, "ragged": None, "kv_dtype": None}, 2.5e12, metric="bytes_per_s"),
    Target("bsparse-dense", "block-sparse 10% S16k ≥5x over dense causal", "block_sparse_attention", "bf16",
           {"S": 16384, "kept": 0.1}, 5.0, "sdpa-flash-causal"),
    Target("bsparse-flex", "block-sparse 10% S16k ≤ FlexAttention time", "block_sparse_attention", "bf16",
           {"S": 16384, "kept": 0.1}, 1.0, "flex-attention"),
    Target("sparse24-m16", "2:4 fp16 M≤16 vs dense ≥1.6x", "sparse24_linear", "fp16",
           {"M": (1, 2, 4, 8, 16)}, 1.6, "torch-dense-linear"),
    Target("contextual-b1", "contextual MLP 10% batch 1 vs dense ≥5x", "contextual_mlp", "bf16",
           {"active": 0.1, "batch": 1}, 5.0, "torch-dense-mlp"),
)


def shape_matches(shape: dict[str, Any], spec: dict[str, Any]) -> bool:
    for k, v in spec.items():
        if v is None:
            if k in shape:
                return False
        elif isinstance(v, tuple):
            if shape.get(k) not in v:
                return False
        elif shape.get(k) != v:
            return False
    return True


TARGET_COLUMNS = ["target", "text", "kernel", "dtype", "shape", "value", "threshold", "met", "margin", "status",
                  "run_id"]


def evaluate_targets(df: pd.DataFrame, targets: tuple[Target, ...] = TARGETS) -> pd.DataFrame:
    """One row per (target, matching measured shape): value, met, margin = value / threshold - 1; a target
    with no measured pair gets one row with status "not measured". Ours and peer come from one run."""
    recs = []
    shapes = [json.loads(s) if s else {} for s in df["shape"]] if len(df) else []
    for t in targets:
        hit = False
        for i, row in enumerate(df.itertuples(index=False)):
            if ((row.kernel, row.dtype, row.impl) != (t.kernel, t.dtype, "ours") or not shape_matches(shapes[i], t.shape)
                    or not row.median_s > 0):
                continue
            if t.metric == "bytes_per_s":
                value = row.bytes / row.median_s
            else:
                peer = df[(df["run_id"] == row.run_id) & (df["kernel"] == t.kernel) & (df["dtype"] == t.dtype)
                          & (df["shape"] == row.shape) & (df["impl"] == t.peer) & (df["median_s"] > 0)]
                if peer.empty:
                    continue
                value = float(peer["median_s"].iloc[0]) / row.median_s
            hit = True
            met = value >= t.threshold
            recs.append({"target": t.id, "text": t.text, "kernel": t.kernel, "dtype": t.dtype, "shape": row.shape,
                         "value": value, "threshold": t.threshold, "met": met, "margin": value / t.threshold - 1,
                         "status": "met" if met else "missed", "run_id": row.run_id})
        if not hit:
            recs.append({"target": t.id, "text": t.text, "kernel": t.kernel, "dtype": t.dtype, "shape": "",
                         "value": math.nan, "threshold": t.threshold, "met": False, "margin": math.nan,
                         "status": "not measured", "run_id": ""})
    return pd.DataFrame(recs, columns=TARGET_COLUMNS)


# ---- the plan -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanItem:
    priority: int  # 0 runs first and is dropped last
    stage: str  # profile | ncu | decode_step
    label: str
    est_s: float
    group: str = ""  # pays FIRST_USE_S[group] once, with its first kept item
    spec: dict[str, Any] = field(default_factory=dict)


def plan_cost_s(items: list[PlanItem], first_use_s: dict[str, float] = FIRST_USE_S) -> float:
    return sum(i.est_s for i in items) + sum(first_use_s.get(g, 0.0) for g in {i.group for i in items if i.group})


def trim_plan(items: list[PlanItem], budget_s: float, first_use_s: dict[str, float] = FIRST_USE_S
              ) -> tuple[list[PlanItem], list[PlanItem]]:
    """(kept, dropped): items in priority order (stable), the last ones dropped until the rest fits."""
    kept = sorted(items, key=lambda i: i.priority)
    dropped: list[PlanItem] = []
    while kept and plan_cost_s(kept, first_use_s) > budget_s:
        dropped.append(kept.pop())
    return kept, dropped


def fit_plan(items: list[PlanItem], budget_s: float, cost_s) -> tuple[list[PlanItem], list[PlanItem]]:
    """(kept, dropped) with a cost that is not a plain sum (``cost_s(kept)``: the compile stage runs in
    parallel): items are taken in priority order (stable) while the cost fits; one that does not fit is
    dropped and the later, smaller ones are still tried."""
    kept: list[PlanItem] = []
    dropped: list[PlanItem] = []
    for it in sorted(items, key=lambda i: i.priority):
        if cost_s([*kept, it]) <= budget_s:
            kept.append(it)
        else:
            dropped.append(it)
    return kept, dropped


def _profile_item(priority: int, kernel: str, dtype: str, shape: dict, impls: tuple[str, ...], row_s: float
                  ) -> PlanItem:
    label = f"{kernel} {dtype} " + ",".join(f"{k}={v}" for k, v in shape.items())
    return PlanItem(priority, "profile", label, PREP_S.get(kernel, 1.0) + len(impls) * row_s, kernel,
                    {"kernel": kernel, "dtype": dtype, "shape": shape, "impls": list(impls)})


def profile_points() -> list[tuple[int, str, str, dict, tuple[str, ...]]]:
    """(priority, kernel, dtype, shape, impls): ceilings, the targets' shapes, then a calibration spread."""
    bf, lin = "torch-bf16-linear", ("ours", "torch-bf16-linear")
    att = {"B": 4, "H": 32, "Hkv": 32, "D": 128}
    dec = {"H": 32, "Hkv": 8, "D": 128}
    bs = {"B": 4, "H": 32, "Hkv": 32, "S": 16384, "D": 128, "block": 128}
    bs_impls = ("ours", "sdpa-flash-causal", "flex-attention")
    sp = ("ours", "torch-dense-linear", "torch-semi-structured")
    up8 = {"model": "llama-3.1-8b", "layer": "up", "N": 14336, "K": 4096}
    ctx8 = {"model": "llama-3.1-8b", "H": 4096, "I": 14336}
    mm = {"m": 8192, "n": 8192, "k": 8192}
    pts = [(0, "copy", "fp32", {"n": 2**28}, ("ours",)), (0, "matmul", "bf16", mm, ("ours",))]
    pts += [(1, "w4a16_linear", "bf16", {"M": m, **SQ, "group": 128}, ("ours", bf, "torch-tinygemm-int4", "gemlite-w4a16"))
            for m in (1, 16, 64)]
    pts += [(1, "w8a8_linear", "bf16", {"M": 4096, **SQ}, ("ours", "torch-int-mm")),
            (1, "ternary_linear", "bf16", {"M": 1, **SQ, "group": 0}, lin)]
    pts += [(1, "flash_attention", "bf16", {**att, "S": 4096, "causal": c}, ("ours", "sdpa-flash")) for c in (False, True)]
    pts += [(1, "decode_attention", "bf16", {"B": 16, **dec, "L": 8192}, ("ours", "sdpa-flash")),
            (1, "block_sparse_attention", "bf16", {**bs, "pattern": "window", "kept": 0.1}, bs_impls)]
    pts += [(1, "sparse24_linear", "fp16", {**up8, "M": m}, sp) for m in (1, 16)]
    pts += [(1, "contextual_mlp", "bf16", {**ctx8, "batch": 1, "active": 0.1}, ("ours", "torch-dense-mlp"))]
    # calibration spread: other intensities and dtypes
    pts += [(2, "matmul", dt, mm, ("ours",)) for dt in ("fp16", "int8")]
    pts += [(2, "w4a16_linear", "bf16", {"M": m, **SQ, "group": 128}, lin) for m in (4, 256, 4096)]
    pts += [(2, "w8a8_linear", "bf16", {"M": m, **SQ}, ("ours", bf, "torch-int-mm")) for m in (64, 256)]
    pts += [(2, "ternary_linear", "bf16", {"M": 16, **SQ, "group": 0}, lin)]
    pts += [(2, "decode_attention", "bf16", {"B": b, **dec, "L": L}, ("ours", "sdpa-flash")) for b, L in ((1, 32768), (64, 4096))]
    pts += [(2, "flash_attention", "bf16", {**att, "S": s, "causal": True}, ("ours", "sdpa-flash")) for s in (1024, 16384)]
    pts += [(2, "block_sparse_attention", "bf16", {**bs, "pattern": "topk", "kept": 0.1}, bs_impls),
            (2, "contextual_mlp", "bf16", {**ctx8, "batch": 8, "active": 0.1}, ("ours", "torch-dense-mlp")),
            (2, "sparse24_linear", "fp16", {**up8, "M": 4096}, sp)]
    pts += [(3, "matmul", dt, mm, ("ours",)) for dt in ("tf32", "fp32")]
    pts += [(3, "w4a16_linear", "bf16", {"M": m, "K": k, "N": n, "group": 128}, lin)
            for k, n in ((4096, 6144), (4096, 14336), (14336, 4096)) for m in (1, 16)]
    pts += [(3, "w8a8_linear", "bf16", {"M": m, **SQ}, ("ours", bf)) for m in (1, 16)]
    pts += [(3, "decode_attention", "bf16", {"B": 16, **dec, "L": 8192, **x}, ("ours", "sdpa-flash"))
            for x in ({"ragged": True}, {"kv_dtype": "int8"})]
    pts += [(3, "block_sparse_attention", "bf16", {**bs, "pattern": "window", "kept": f}, bs_impls) for f in (0.05, 0.25)]
    pts += [(3, "flash_attention", "bf16", {**att, "D": 64, "S": 4096, "causal": True}, ("ours", "sdpa-flash")),
            (3, "contextual_mlp", "bf16", {"model": "llama-3.1-70b", "H": 8192, "I": 28672, "batch": 1, "active": 0.1},
             ("ours", "torch-dense-mlp"))]
    pts += [(4, "w4a16_linear", "fp16", {"M": m, **SQ, "group": 128}, ("ours", bf, "torch-tinygemm-int4"))
            for m in (1, 16, 64)]
    return pts


NCU_ROWS = (  # representative: a GEMV, a compute-bound GEMM, flash prefill, the decode KV stream
    ("w4a16_linear", "bf16", {"M": 1, **SQ, "group": 128}, "ours"),
    ("matmul", "bf16", {"m": 8192, "n": 8192, "k": 8192}, "ours"),
    ("flash_attention", "bf16", {"B": 4, "H": 32, "Hkv": 32, "D": 128, "S": 4096, "causal": False}, "ours"),
    ("decode_attention", "bf16", {"B": 16, "H": 32, "Hkv": 8, "D": 128, "L": 8192}, "ours"),
)

DECODE_CONFIGS = (  # (priority, variant, phase, batch)
    (1, "bf16", "decode", 1), (1, "w4a16", "decode", 1), (1, "bf16", "decode", 32), (1, "w4a16", "decode", 32),
    (2, "bf16", "prefill", 1), (2, "w4a16", "prefill", 1), (3, "bf16", "prefill", 32), (3, "w4a16", "prefill", 32),
)


def decode_config_est_s(variant: str, phase: str, batch: int, ctx: int, target_s: float, window_s: float) -> float:
    """Seconds attribute_step should take: per op type, the whole step and 4 sampled layers, each timed
    (warm-up 2 + 3 + at least 5 calls or target_s) and, but the layers, metered over one window."""
    from roofline.analysis.decode_step import predicted_step as pred
    from roofline.analysis.decode_step import scenario_for
    from roofline.measure.decode_stack import OP_ORDER

    df = pred(MODEL_ID, "h100-sxm", scenario_for(variant, phase, batch, ctx), calibrated=False)
    t = {n: float(v) * DECODE_SLOWDOWN for n, v in df.groupby("name")["time_s"].sum().items()}
    t["rope"] = t.get("attn_norm", 0.0)
    step = sum(t.get(n, 0.0) for n in OP_ORDER) + t.get("dequant", 0.0)

    def measured(c: float, meter: bool = True) -> float:
        return max(target_s, 5 * c) + 5 * c + ((max(window_s, c) + 2 * c) if meter else 0.0) + 0.1

    fill = step if phase == "decode" else 0.0  # prefill of the context first (priced as one more step)
    return (sum(measured(t.get(n, 0.0)) for n in OP_ORDER) + measured(step) + 4 * measured(step / 32, False)
            + fill + 2 * step)


def build_plan(window_s: float = 1.0, trials: int = 1, target_s: float = 0.25, ctx: int = 1024,
               ncu: bool = True) -> list[PlanItem]:
    row_s = target_s + window_s * trials + ROW_OVERHEAD_S
    bare_s = target_s + ROW_OVERHEAD_S  # the calibration spread is timed only: energy windows are for targets
    items = []
    for p, k, dt, s, im in profile_points():
        it = _profile_item(p, k, dt, s, im, row_s if p <= ENERGY_MAX_PRIORITY else bare_s)
        items.append(PlanItem(it.priority, it.stage, it.label, it.est_s, it.group,
                              {**it.spec, "energy": p <= ENERGY_MAX_PRIORITY}))
    if ncu:
        items += [PlanItem(2, "ncu", f"ncu {k} {dt} {s}", NCU_ROW_S, "ncu",
                           {"kernel": k, "dtype": dt, "shape": s, "impl": im}) for k, dt, s, im in NCU_ROWS]
    items.append(PlanItem(1, "decode_step", "functional check (2 layers, both variants)", 10.0, "stack-check",
                          {"check": True}))
    for p, variant, phase, batch in DECODE_CONFIGS:
        items.append(PlanItem(p, "decode_step", f"{variant} {phase} B={batch} ctx={ctx}",
                              decode_config_est_s(variant, phase, batch, ctx, target_s, window_s), f"stack-{variant}",
                              {"variant": variant, "phase": phase, "batch": batch, "ctx": ctx}))
    return items


# ---- the suite file -------------------------------------------------------------------------------------

def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(str(v))


def suite_toml(items: list[PlanItem], target_s: float, window_s: float, trials: int) -> str:
    """A roofline.measure.profile suite running exactly the kept profile points, in plan order."""
    lines = ['name = "campaign"', 'description = "benchmarks/gpu_campaign.py: trimmed to its time budget"',
             "", "[timing]", f"target_s = {target_s!r}", "", "[energy]", f"window_s = {window_s!r}",
             f"trials = {trials}"]
    for i in items:
        s = i.spec
        shapes = _toml(s["shape"]) if s["shape"] in ("quick", "bench") else _toml([s["shape"]])
        lines += ["", "[[kernels]]", f"name = {_toml(s['kernel'])}", f"dtypes = {_toml([s['dtype']])}",
                  f"impls = {_toml(s['impls'])}", f"shapes = {shapes}"]
    return "\n".join(lines) + "\n"


# ---- the campaign spec: compile + correctness points, families, headline energy, smoke ---------------------

HEADLINE_LABELS = {  # two energy windows each: the CV across trials is reported
    "copy fp32 n=268435456", "matmul bf16 m=8192,n=8192,k=8192", "w4a16_linear bf16 M=1,K=8192,N=8192,group=128",
    "decode_attention bf16 B=16,H=32,Hkv=8,D=128,L=8192", "flash_attention bf16 B=4,H=32,Hkv=32,D=128,S=4096,causal=False",
}
# Odd shapes the GPU checks numerically (masks, tails, GQA, asymmetric zeros) on top of each kernel's quick
# shapes, in bf16 and fp16: the bf16 tl.dot paths behind almost every target never ran numerically on a CPU.
ODD_SHAPES: dict[str, tuple[dict[str, Any], ...]] = {
    "w4a16_linear": ({"M": 1, "K": 4096, "N": 4104, "group": 128}, {"M": 13, "K": 4096, "N": 1000, "group": 128},
                     {"M": 50, "K": 2048, "N": 1032, "group": 128, "sym": False}),
    "w8a8_linear": ({"M": 33, "K": 1024, "N": 1000},),
    "ternary_linear": ({"M": 1, "K": 4096, "N": 1000, "group": 0},),
    "flash_attention": ({"B": 1, "H": 4, "Hkv": 1, "S": 1000, "D": 128, "causal": True},),
    "decode_attention": ({"B": 3, "H": 32, "Hkv": 8, "L": 1000, "D": 128},),
    "block_sparse_attention": ({"B": 1, "H": 4, "Hkv": 4, "S": 1024, "D": 128, "pattern": "window", "kept": 0.3,
                                "block": 128},),
    "sparse24_linear": ({"M": 3, "N": 1000, "K": 4096},),
    "contextual_mlp": ({"H": 4096, "I": 1000, "batch": 3, "active": 0.1},),
}
CHECK_DTYPES = ("bf16", "fp16")
SMOKE_DTYPE = {"ceiling": "fp32", "quant": "fp16", "attention": "fp16", "sparse": "fp16"}


def family_of(kernel: str) -> str:
    return KERNEL_FAMILY.get(kernel, "other")


def correctness_points(smoke: bool = False) -> list[dict[str, Any]]:
    """(kernel, dtype, shapes) units the compile stage checks against the torch reference. "quick" expands to
    the kernel's registry quick shapes in the worker. Smoke: one kernel a family, fp16 under the interpreter."""
    if smoke:
        return [{"kernel": k, "dtype": "fp16", "shapes": "quick", "check": True, "est_s": 2.0}
                for k in ("w4a16_linear", "decode_attention", "sparse24_linear")]
    pts = []
    for k, odd in ODD_SHAPES.items():
        for dt in CHECK_DTYPES:
            pts.append({"kernel": k, "dtype": dt, "shapes": ["quick", *odd], "check": True,
                        "est_s": 0.6 * COMPILE_S.get(k, 5.0)})
    return pts


def decode_warm_points(ctx: int, batches: tuple[int, ...] = (1, 32)) -> list[dict[str, Any]]:
    """The kernels the Llama-3.1-8B decode-step stack launches, at its shapes, so the decode stage starts warm:
    W4A16 linears (q/k/v fused, o, gate/up fused, down) at M = batch and batch x ctx, flash prefill and the
    split-K decode with GQA 32/8."""
    lin = ((4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096))
    pts = []
    for b in batches:
        for m in (b, b * ctx):
            for k, n in lin:
                pts.append({"kernel": "w4a16_linear", "dtype": "bf16", "shapes": [{"M": m, "K": k, "N": n, "group": 128}],
                            "check": False, "est_s": 0.3 * COMPILE_S["w4a16_linear"]})
        pts.append({"kernel": "flash_attention", "dtype": "bf16",
                    "shapes": [{"B": b, "H": 32, "Hkv": 8, "S": ctx, "D": 128, "causal": True}], "check": False,
                    "est_s": 0.5 * COMPILE_S["flash_attention"]})
        pts.append({"kernel": "decode_attention", "dtype": "bf16",
                    "shapes": [{"B": b, "H": 32, "Hkv": 8, "L": ctx, "D": 128}], "check": False,
                    "est_s": 0.5 * COMPILE_S["decode_attention"]})
    return pts


def compile_points(kept: list[PlanItem], ctx: int, smoke: bool = False) -> list[dict[str, Any]]:
    """Every point a timed stage will launch (first use pays the compile), the correctness units, and the
    decode stack's kernels; one record each with its estimated cold cost."""
    seen, pts = set(), []
    for i in kept:
        if i.stage != "profile":
            continue
        s = i.spec
        key = (s["kernel"], s["dtype"], json.dumps(s["shape"], sort_keys=True, default=str))
        if key in seen:
            continue
        seen.add(key)
        pts.append({"kernel": s["kernel"], "dtype": s["dtype"], "shapes": [s["shape"]] if s["shape"] != "quick"
                    else "quick", "check": False, "est_s": 1.0 if smoke else COMPILE_S.get(s["kernel"], 5.0)})
    fams = {family_of(i.spec["kernel"]) for i in kept if i.stage == "profile"}
    pts += [p for p in correctness_points(smoke) if family_of(p["kernel"]) in fams]
    if not smoke and any(i.stage == "decode_step" for i in kept):
        pts += decode_warm_points(ctx)
    return pts


def assign_shards(points: list[dict[str, Any]], n: int) -> float:
    """Longest-processing-time first: each point gets a ``shard`` in 0..n-1; returns the makespan (s)."""
    load = [0.0] * max(1, n)
    for p in sorted(points, key=lambda p: -p["est_s"]):
        k = min(range(len(load)), key=load.__getitem__)
        p["shard"] = k
        load[k] += p["est_s"]
    return max(load) if points else 0.0


def family_groups(kept: list[PlanItem], trials: int = 1, headline_trials: int = 2) -> dict[str, list[dict]]:
    """family -> the trace runs it makes, each a trials / energy setting and its items: headline points first
    (``headline_trials`` energy windows: their CV is reported), then the other targets, then the calibration
    spread (timed only)."""
    out: dict[str, list[dict]] = {}
    for fam in FAMILIES:
        items = [i for i in kept if i.stage == "profile" and family_of(i.spec["kernel"]) == fam]
        if not items:
            continue
        head = [i for i in items if i.label in HEADLINE_LABELS]
        rest = [i for i in items if i.label not in HEADLINE_LABELS and i.spec.get("energy", True)]
        bare = [i for i in items if i.label not in HEADLINE_LABELS and not i.spec.get("energy", True)]
        out[fam] = [g for g in ({"trials": max(headline_trials, trials), "energy": True, "items": head},
                                {"trials": trials, "energy": True, "items": rest},
                                {"trials": trials, "energy": False, "items": bare}) if g["items"]]
        for g in out[fam]:
            g["items"] = [asdict(i) for i in g["items"]]
    return out


def family_cost_s(kept: list[PlanItem], fam: str) -> float:
    return plan_cost_s([i for i in kept if i.stage == "profile" and family_of(i.spec["kernel"]) == fam])


def smoke_plan(target_s: float = 0.01) -> list[PlanItem]:
    """The CPU smoke campaign: every kernel's registry quick shapes in one dtype under the interpreter (GPU-only
    peers skipped by the profiler), a tiny decode stack, no ncu."""
    items = [PlanItem(0 if k in ("copy", "matmul") else 1, "profile", f"{k} {SMOKE_DTYPE[f]} quick",
                      1.0 + 2 * target_s, k, {"kernel": k, "dtype": SMOKE_DTYPE[f], "shape": "quick", "impls": []})
             for k, f in KERNEL_FAMILY.items()]
    items.append(PlanItem(1, "decode_step", "functional check (tiny stack)", 3.0, "stack-check", {"check": True}))
    for variant in ("bf16", "w4a16"):
        items.append(PlanItem(1, "decode_step", f"{variant} decode B=1 (tiny)", 4.0, f"stack-{variant}",
                              {"variant": variant, "phase": "decode", "batch": 1, "ctx": 16}))
    return items


SMOKE_FIRST_USE_S = {k: 0.5 for k in FIRST_USE_S}
SMOKE_PROCESS_S = 2.5  # a CPU stage process: python + torch import, no CUDA context
