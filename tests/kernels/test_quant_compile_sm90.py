"""The quant Triton kernels compile for Hopper (sm_90) with every launch an H100 would make for the bench shapes.

The interpreter tests (TRITON_INTERPRET=1, CPU) never run Triton's GPU compiler, so tl.dot shape/dtype rules,
layouts, constexpr misuse or bf16 lowering errors would only show up on the GPU. Triton can compile for a
GPUTarget without one, so this test does, in ONE subprocess with TRITON_INTERPRET=0 (the Makefile sets
TRITON_INTERPRET=1 for the whole run, and triton.jit decides interpreted vs compiled at import):

1. The real launchers (``lowbit_linear`` through ``w4a16_linear`` / ``ternary_linear``, and ``w8a8_linear``) are
   called on meta-device tensors for every registry bench and quick shape and dtype, with the kernel launches
   recorded instead of run, the SM count of an H100 SXM (132) and, as on CUDA, EVERY config candidate tried
   (``_common.choose`` times them all on the first call). Off-bench launches that the kernels claim
   (asymmetric zeros, per-channel/per-group scales, odd K that takes the not-ALIGNED path, fp32 activations)
   use their first candidate only.
2. Each recorded launch goes through triton's own argument specialization for a cuda/90 backend (16-divisible
   ints and pointers, as a real launch specializes them), deduplicated by the key triton caches kernels on,
   and is compiled with ``triton.compile(ASTSource(...), GPUTarget("cuda", 90, 32))``; each must yield a cubin
   and fit one H100 CTA's shared memory (227 KB).

The bench shapes make ~600 distinct compiles (~25 CPU-minutes: the 2-bit kernels unroll 16 code planes), so by
default a covering set is compiled (~75: every kernel x bf16/fp16 x every config candidate, 2-bit first, plus
whatever adds a new BITS, flag value, split-K on/off, or fp32), on QUANT_SM90_JOBS (2) worker processes: about
80 s cold, seconds with a warm Triton cache. QUANT_SM90_FULL=1 compiles every distinct launch (and every
candidate of the off-bench ones). Failures are reported with kernel, dtype, config and shape. Skipped only if
this triton cannot compile for sm_90 at all (no CUDA backend or no ptxas).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
H100_SMS = 132
TARGET = ("cuda", 90, 32)
DTYPES = ("bf16", "fp16")  # the registry's dtypes for all three kernels
MARK = "QUANT_SM90_RESULT "


# ------------------------------------------------------------------------------ subprocess side (no pytest)

def _launches() -> list[dict]:
    """Every kernel launch the quant launchers make for the bench/quick shapes (and the off-bench extras),
    recorded, not run: [{"fn": JITFunction, "args", "kwargs", "dtype", "shape", "cfg"}]."""
    import torch

    from kernels.common import TORCH_DTYPES
    from kernels.quant import lowbit, ternary, w4a16, w8a8
    from roofline.measure.launches import recording

    tdt = TORCH_DTYPES
    every = [True]

    def choose_all(key, candidates, launch, device):  # CUDA path of _common.choose: every candidate is launched
        # (`context` is recording()'s, bound by the with-statement below before any launcher runs)
        for c in candidates if every[0] else candidates[:1]:
            context["cfg"] = _cfg_label(c)
            launch(c)
        context["cfg"] = _cfg_label(candidates[0])
        return candidates[0]

    meta = torch.device("meta")

    def empty(*shape, dtype):
        return torch.empty(shape, dtype=dtype, device=meta)

    def run_w4a16(m, k, n, group, sym, dtype):
        g = k if group == -1 else group
        sdt = tdt[dtype] if dtype != "fp32" else torch.float16
        zeros = None if sym else empty(k // g, n, dtype=torch.uint8)
        qweight = empty(n, -(-k // w4a16.PER_WORD), dtype=torch.int32).t()  # K-contiguous, as pack() stores it
        w4a16.w4a16_linear(empty(m, k, dtype=tdt[dtype]), qweight, empty(k // g, n, dtype=sdt), zeros, group=group)

    def run_ternary(m, k, n, group, dtype):
        sdt = tdt[dtype] if dtype != "fp32" else torch.float16
        (sg, sn), _ = ternary.scale_shape(k, n, group)
        qweight = empty(n, -(-k // ternary.PER_WORD), dtype=torch.int32).t()
        ternary.ternary_linear(empty(m, k, dtype=tdt[dtype]), qweight, empty(sg, sn, dtype=sdt), group=group)

    def run_w8a8(m, k, n, dtype):
        w8a8.w8a8_linear(empty(m, k, dtype=torch.int8), empty(m, dtype=torch.float32), empty(n, k, dtype=torch.int8),
                         empty(n, dtype=torch.float32), tdt[dtype])

    # The shared launch recorder (roofline.measure.launches, also behind the static inspection): inside the
    # block the kernels of lowbit / w8a8 record instead of running, the device checks pass, SM counts read
    # the H100's, the config choice launches every candidate; everything is restored when it ends.
    patches = {(lowbit, "choose"): choose_all, (w8a8, "choose"): choose_all}
    with recording([lowbit, w8a8], H100_SMS, lambda ctx: patches) as (log, context):
        for dtype in DTYPES:
            context["dtype"] = dtype
            for mod, run in ((w4a16, run_w4a16), (ternary, run_ternary), (w8a8, run_w8a8)):
                for s in (*mod.BENCH_SHAPES, *mod.QUICK_SHAPES):
                    context["shape"] = f"{mod.__name__.rsplit('.', 1)[1]} {s}"
                    if mod is w4a16:
                        run(s["M"], s["K"], s["N"], s.get("group", 128), s.get("sym", True), dtype)
                    elif mod is ternary:
                        run(s["M"], s["K"], s["N"], s.get("group", 0), dtype)
                    else:
                        run(s["M"], s["K"], s["N"], dtype)
        # Off-bench launches the kernels claim, first candidate only, one M per path (GEMV, decode dot, mid,
        # large): asymmetric zeros, per-channel / per-group scales, odd K (not ALIGNED), fp32 activations.
        every[0] = os.environ.get("QUANT_SM90_FULL") == "1"
        for dtype in (*DTYPES, "fp32"):
            context["dtype"] = dtype
            for m in (1, 5, 40, 200):
                for k, n, group, sym in ((4096, 4096, 128, False), (4096, 4096, -1, True), (200, 72, -1, False)):
                    context["shape"] = f"w4a16 M={m} K={k} N={n} group={group} sym={sym}"
                    run_w4a16(m, k, n, group, sym, dtype)
                for k, n, group in ((4096, 4096, 0), (4096, 4096, -1), (4096, 4096, 128), (200, 72, 0)):
                    context["shape"] = f"ternary M={m} K={k} N={n} group={group}"
                    run_ternary(m, k, n, group, dtype)
    return [{"fn": ln.fn, "args": ln.args, "kwargs": ln.kwargs, "dtype": ln.context["dtype"],
             "shape": ln.context["shape"], "cfg": ln.context.get("cfg", "")} for ln in log]


def _cfg_label(c) -> str:
    return f"{dict(c.meta)} warps={c.num_warps} stages={c.num_stages}"


def _specialize(backend, rec):
    """(signature, constexprs, attrs, options) as JITFunction.run builds them for this backend; triton's
    private binder where it has the 3.9 shape, else the same rules by hand (pointers and ints divisible by 16
    get tt.divisibility, an int equal to 1 becomes a constexpr)."""
    fn, kwargs = rec["fn"], {"debug": False, **rec["kwargs"]}
    try:
        from triton.runtime.jit import create_function_from_signature

        binder = create_function_from_signature(fn.signature, fn.params, backend)
        bound, specialization, opts = binder(*rec["args"], **kwargs)
        options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, opts)
        return signature, constexprs, attrs, options.__dict__
    except (ImportError, AttributeError, TypeError):
        pass
    import torch

    names = fn.arg_names
    values = dict(zip(names, rec["args"], strict=False)) | {k: v for k, v in kwargs.items() if k in names}
    signature, constexprs, attrs = {}, {}, {}
    for i, (name, param) in enumerate(zip(names, fn.params, strict=True)):
        v = values[name]
        if param.is_constexpr or (isinstance(v, int) and not isinstance(v, bool) and v == 1):
            signature[name], constexprs[(i,)] = "constexpr", v
        elif isinstance(v, torch.Tensor):
            signature[name] = "*" + {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32",
                                     torch.int32: "i32", torch.int8: "i8", torch.uint8: "u8"}[v.dtype]
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif isinstance(v, int):
            signature[name] = "i32" if -2**31 <= v < 2**31 else "i64"
            if v % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        else:
            signature[name] = "fp32"
    options = {k: kwargs[k] for k in ("num_warps", "num_stages", "debug") if k in kwargs}
    return signature, constexprs, attrs, options


def _probe(target) -> str | None:
    """None if triton compiles a trivial kernel to a cubin for ``target``, else why not."""
    try:
        import triton
        import triton.language as tl
        from triton.compiler import ASTSource

        @triton.jit
        def _copy(x_ptr, y_ptr, BLOCK: tl.constexpr):
            offs = tl.arange(0, BLOCK)
            tl.store(y_ptr + offs, tl.load(x_ptr + offs))

        k = triton.compile(ASTSource(fn=_copy, signature={"x_ptr": "*fp32", "y_ptr": "*fp32", "BLOCK": "constexpr"},
                                     constexprs={"BLOCK": 128}), target=target, options={"num_warps": 4})
        return None if "cubin" in k.asm else "no cubin in the compiled probe kernel"
    except Exception as e:  # noqa: BLE001 - any failure here means the environment, not our kernels
        return f"{type(e).__name__}: {e}"


def _select(entries: list[dict], full: bool) -> list[dict]:
    """All distinct compiles (full), or a covering set: every (kernel, dtype, config) of the bf16/fp16 bench
    launches once (2-bit first: the larger unroll and shared-memory footprint), plus any launch that brings a
    new (kernel, dtype, BITS), a new (kernel, flag, value) or split-K on/off; fp32 only for that coverage."""
    if full:
        return entries
    picked, seen = [], set()
    for e in sorted(entries, key=lambda e: e["flags"].get("BITS", 0) != 2):  # stable: 2-bit launches first
        f = e["flags"]
        keys = {("cfg", e["kernel"], e["dtype"], e["cfg"])} if e["dtype"] != "fp32" else set()
        keys |= {("bits", e["kernel"], e["dtype"], f.get("BITS"))}
        keys |= {("flag", e["kernel"], k, v) for k, v in f.items() if k != "SPLIT_K"}
        keys.add(("split", e["kernel"], f.get("SPLIT_K", 1) > 1))
        if not keys <= seen:
            seen |= keys
            picked.append(e)
    return picked


def _compile_one(job):
    """Worker: compile one specialized launch for sm_90 (job = (index, fn module, fn name, spec))."""
    import importlib

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    i, module, name, signature, constexprs, attrs, options = job
    fn = getattr(importlib.import_module(module), name)
    t0 = time.time()
    try:
        k = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=GPUTarget(*TARGET), options=options)
        ok = "cubin" in k.asm
        out = {"ok": ok, "error": "" if ok else "no cubin produced", "shared": int(k.metadata.shared)}
    except Exception as e:  # noqa: BLE001 - reported per kernel/config by the test
        out = {"ok": False, "error": f"{type(e).__name__}: {str(e)[-1500:]}", "shared": 0}
    out["seconds"] = round(time.time() - t0, 2)
    return i, out


def main() -> dict:
    assert os.environ.get("TRITON_INTERPRET", "0") != "1", "run with TRITON_INTERPRET=0"
    from concurrent.futures import ProcessPoolExecutor

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import make_backend

    target = GPUTarget(*TARGET)
    why = _probe(target)
    if why is not None:
        return {"unavailable": why}
    backend = make_backend(target)
    t0 = time.time()
    records = _launches()
    entries: dict[str, dict] = {}
    for rec in records:
        signature, constexprs, attrs, options = _specialize(backend, rec)
        name = rec["fn"].fn.__name__
        key = repr((name, sorted(signature.items()), sorted(constexprs.items()), sorted(attrs.items()),
                    sorted(options.items())))
        if key in entries:
            entries[key]["launches"] += 1
            continue
        kw = rec["kwargs"]
        cfg = rec.get("cfg", "")
        flags = {k: v for k, v in kw.items()
                 if k in ("ALIGNED", "SPLIT_K", "HAS_ZERO", "SCALAR_SCALE", "IEEE", "BITS", "EVEN_K", "FAST", "EVEN")}
        entries[key] = {"kernel": name, "dtype": rec["dtype"], "cfg": cfg, "flags": flags, "shape": rec["shape"],
                        "launches": 1, "module": rec["fn"].fn.__module__,
                        "spec": (signature, constexprs, attrs, options)}
    full = os.environ.get("QUANT_SM90_FULL") == "1"
    chosen = _select(list(entries.values()), full)
    t1 = time.time()
    order = sorted(range(len(chosen)), key=lambda i: (not chosen[i]["flags"].get("IEEE"),  # slow compiles first
                                                      chosen[i]["flags"].get("BITS", 8)))
    jobs = [(i, chosen[i]["module"], chosen[i]["kernel"], *chosen[i]["spec"]) for i in order]
    workers = int(os.environ.get("QUANT_SM90_JOBS", "2"))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = dict(pool.map(_compile_one, jobs))
    results = []
    for i, e in enumerate(chosen):
        results.append({k: v for k, v in e.items() if k not in ("spec", "module")} | done[i])
    return {"triton": triton.__version__, "launches": len(records), "distinct": len(entries), "full": full,
            "record_s": round(t1 - t0, 1), "compile_s": round(time.time() - t1, 1), "results": results}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(MARK + json.dumps(main(), default=str))


# ------------------------------------------------------------------------------------------- pytest side

# Hopper's limit for one CTA (227 KB of the 228 KB a SM can be configured to): a kernel asking for more compiles
# but fails at launch (OutOfResources); the tuner skips it silently, a forced cfg= or ROOFLINE_QUANT_TUNE=0 fails.
SMEM_LIMIT = 232448


@pytest.fixture(scope="module")
def sm90_report() -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "0", "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, __file__], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)), None)
    assert proc.returncode == 0 and line is not None, (
        f"compile subprocess failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    report = json.loads(line[len(MARK):])
    if "unavailable" in report:
        pytest.skip(f"triton cannot compile for sm_90 here: {report['unavailable']}")
    return report


def _describe(r: dict) -> str:
    return f"{r['kernel']} dtype={r['dtype']} cfg={r['cfg']} flags={r['flags']} (e.g. {r['shape']})"


def test_every_quant_kernel_compiles_for_sm90(sm90_report):
    results = sm90_report["results"]
    failures = [f"{_describe(r)}:\n    {r['error']}" for r in results if not r["ok"]]
    assert not failures, f"{len(failures)}/{len(results)} sm_90 compiles failed:\n" + "\n".join(failures)


def test_coverage_every_kernel_and_dtype(sm90_report):
    got = {(r["kernel"], r["dtype"]) for r in sm90_report["results"]}
    # (the split-K partial sums are added by the split kernel's last CTA: no _splitk_reduce_kernel since 2026-12)
    for kernel in ("_lowbit_splitk_kernel", "_lowbit_gemm_kernel", "_w8a8_kernel"):
        for dtype in DTYPES:
            assert (kernel, dtype) in got, f"{kernel} never compiled for {dtype}"
    for kernel in ("_lowbit_splitk_kernel", "_lowbit_gemm_kernel"):
        assert (kernel, "fp32") in got, f"{kernel} never compiled for fp32"
    flags = {(r["kernel"], k, v) for r in sm90_report["results"] for k, v in r["flags"].items()}
    for kernel in ("_lowbit_splitk_kernel", "_lowbit_gemm_kernel"):
        for flag in ("ALIGNED", "HAS_ZERO", "SCALAR_SCALE", "IEEE"):
            for v in (True, False):
                assert (kernel, flag, v) in flags, f"{kernel} never compiled with {flag}={v}"
    assert {("_w8a8_kernel", "EVEN_K", True), ("_w8a8_kernel", "EVEN_K", False)} <= flags
    for flag in ("FAST", "EVEN"):  # the inline-PTX dequantization and the unmasked tiles, and their fallbacks
        assert {("_lowbit_splitk_kernel", flag, True), ("_lowbit_splitk_kernel", flag, False)} <= flags, flag
    assert ("_lowbit_splitk_kernel", "SPLIT_K", 1) in flags and any(
        k == "_lowbit_splitk_kernel" and f == "SPLIT_K" and v > 1 for k, f, v in flags)  # fused split-K finish


def test_shared_memory_fits_one_h100_cta(sm90_report):
    big = [f"{_describe(r)}: {r['shared']} B" for r in sm90_report["results"] if r["ok"] and r["shared"] > SMEM_LIMIT]
    assert not big, "configs needing more shared memory than an H100 CTA can have:\n" + "\n".join(big)
