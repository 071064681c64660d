"""The quant Triton kernels compile for Hopper (sm_90) with every launch an H100 would make for the bench shapes.

The interpreter tests (TRITON_INTERPRET=1, CPU) never run Triton's GPU compiler, so tl.dot shape/dtype rules,
layouts, constexpr misuse or bf16 lowering errors would only show up on the GPU. Triton can compile for a
GPUTarget without one, so this test does, in ONE subprocess with TRITON_INTERPRET=0 (the Makefile sets
TRITON_INTERPRET=1 for the whole run, and triton.jit decides interpreted vs compiled at import):

1. The real launchers (``lowbit_linear`` through ``w4a16_linear`` / ``ternary_linear``, and ``w8a8_linear``) are
   called on meta-device tensors for every registry bench and quick shape and dtype, with the kernel launches
   recorded instead of run, the SM count of an H100 SXM (132) and, as on CUDA, EVERY config candidate tried
   (``_common.choose`` times them all on the first call). A few off-bench launches that the kernels claim
   (asymmetric zeros, per-channel/per-group scales, odd K that takes the not-ALIGNED path, fp32 activations)
   use their first candidate only.
2. Each recorded launch goes through triton's own argument specialization for a cuda/90 backend (16-divisible
   ints and pointers, as a real launch specializes them), deduplicated by the key triton caches kernels on,
   and is compiled with ``triton.compile(ASTSource(...), GPUTarget("cuda", 90, 32))``; each must yield a cubin.

Failures are reported with kernel, dtype, config and shape. Skipped only if this triton cannot compile for
sm_90 at all (no CUDA backend or no ptxas).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
H100_SMS = 132
TARGET = ("cuda", 90, 32)
DTYPES = ("bf16", "fp16")  # the registry's dtypes for all three kernels
MARK = "QUANT_SM90_RESULT "


# ------------------------------------------------------------------------------ subprocess side (no pytest)

def _launches() -> list[dict]:
    """Every kernel launch the quant launchers make for the bench/quick shapes, recorded, not run."""
    import torch

    from kernels.quant import _common, lowbit, ternary, w4a16, w8a8

    tdt = _common.TORCH_DTYPES
    records: list[dict] = []
    context: dict = {}

    class Recorder:
        def __init__(self, fn):
            self.fn = fn

        def __getitem__(self, grid):
            def record(*args, **kwargs):
                records.append({"fn": self.fn, "args": args, "kwargs": kwargs, "grid": grid, **context})
            return record

    every = {"on": True}

    def choose_all(key, candidates, launch, device):  # CUDA path of _common.choose: every candidate is launched
        for c in candidates if every["on"] else candidates[:1]:
            context["cfg"] = _cfg_label(c)
            launch(c)
        context["cfg"] = _cfg_label(candidates[0])
        return candidates[0]

    # Patch the launch sites only (module globals the launchers look up at call time).
    lowbit._lowbit_splitk_kernel = Recorder(lowbit._lowbit_splitk_kernel)
    lowbit._splitk_reduce_kernel = Recorder(lowbit._splitk_reduce_kernel)
    lowbit._lowbit_gemm_kernel = Recorder(lowbit._lowbit_gemm_kernel)
    w8a8._w8a8_kernel = Recorder(w8a8._w8a8_kernel)
    lowbit.choose = w8a8.choose = choose_all
    lowbit.check_runnable = w8a8.check_runnable = lambda device: None
    lowbit.num_sms = lambda device: H100_SMS

    meta = torch.device("meta")

    def empty(*shape, dtype):
        return torch.empty(shape, dtype=dtype, device=meta)

    def run_w4a16(m, k, n, group, sym, dtype):
        g = k if group == -1 else group
        x = empty(m, k, dtype=tdt[dtype])
        sdt = tdt[dtype] if dtype != "fp32" else torch.float16
        qw = empty(-(-k // w4a16.PER_WORD), n, dtype=torch.int32)
        scales = empty(k // g, n, dtype=sdt)
        zeros = None if sym else empty(k // g, n, dtype=torch.uint8)
        w4a16.w4a16_linear(x, qw, scales, zeros, group=group)

    def run_ternary(m, k, n, group, dtype):
        x = empty(m, k, dtype=tdt[dtype])
        sdt = tdt[dtype] if dtype != "fp32" else torch.float16
        qw = empty(-(-k // ternary.PER_WORD), n, dtype=torch.int32)
        (sg, sn), _ = ternary.scale_shape(k, n, group)
        ternary.ternary_linear(x, qw, empty(sg, sn, dtype=sdt), group=group)

    def run_w8a8(m, k, n, dtype):
        w8a8.w8a8_linear(empty(m, k, dtype=torch.int8), empty(m, dtype=torch.float32), empty(n, k, dtype=torch.int8),
                         empty(n, dtype=torch.float32), tdt[dtype])

    def shapes(mod):
        return tuple(mod.BENCH_SHAPES) + tuple(mod.QUICK_SHAPES)

    for dtype in DTYPES:
        context["dtype"] = dtype
        for s in shapes(w4a16):
            context["shape"] = f"w4a16 {s}"
            run_w4a16(s["M"], s["K"], s["N"], s.get("group", 128), s.get("sym", True), dtype)
        for s in shapes(ternary):
            context["shape"] = f"ternary {s}"
            run_ternary(s["M"], s["K"], s["N"], s.get("group", 0), dtype)
        for s in shapes(w8a8):
            context["shape"] = f"w8a8 {s}"
            run_w8a8(s["M"], s["K"], s["N"], dtype)

    # Off-bench launches the kernels claim, first candidate only: one M per path (GEMV, decode dot, mid, large).
    every["on"] = False
    for dtype in (*DTYPES, "fp32"):  # fp32 activations (IEEE tl.dot) are accepted by the low-bit kernels
        context["dtype"] = dtype
        for m in (1, 5, 40, 200):
            for k, n, group, sym in ((4096, 4096, 128, False), (4096, 4096, -1, True), (200, 72, -1, False)):
                context["shape"] = f"w4a16 M={m} K={k} N={n} group={group} sym={sym}"
                run_w4a16(m, k, n, group, sym, dtype)
            for k, n, group in ((4096, 4096, 0), (4096, 4096, -1), (4096, 4096, 128), (200, 72, 0)):
                context["shape"] = f"ternary M={m} K={k} N={n} group={group}"
                run_ternary(m, k, n, group, dtype)
    return records


def _cfg_label(c) -> str:
    return f"{dict(c.meta)} warps={c.num_warps} stages={c.num_stages}"


def _specialize(backend, rec):
    """(ASTSource args, options) exactly as JITFunction.run builds them for this backend."""
    from triton.runtime.jit import create_function_from_signature

    fn, kwargs = rec["fn"], dict(rec["kwargs"])
    kwargs.setdefault("debug", False)
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, specialization, opts = binder(*rec["args"], **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, opts)
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


def main() -> dict:
    assert os.environ.get("TRITON_INTERPRET", "0") != "1", "run with TRITON_INTERPRET=0"
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend

    target = GPUTarget(*TARGET)
    why = _probe(target)
    if why is not None:
        return {"unavailable": why}
    backend = make_backend(target)
    t0 = time.time()
    records = _launches()
    seen: dict[str, dict] = {}
    for rec in records:
        signature, constexprs, attrs, options = _specialize(backend, rec)
        key = repr((rec["fn"].fn.__name__, sorted(signature.items()), sorted(constexprs.items()),
                    sorted(attrs.items()), sorted(options.__dict__.items())))
        entry = seen.setdefault(key, {"rec": rec, "spec": (signature, constexprs, attrs, options), "uses": 0})
        entry["uses"] += 1
    t1 = time.time()
    results = []
    for entry in seen.values():
        rec, (signature, constexprs, attrs, options) = entry["rec"], entry["spec"]
        name = rec["fn"].fn.__name__
        kw = rec["kwargs"]
        cfg = rec.get("cfg", "") if name != "_splitk_reduce_kernel" else f"SPLIT_K={kw['SPLIT_K']} BLOCK={kw['BLOCK']}"
        flags = {k: v for k, v in kw.items() if k in ("ALIGNED", "SPLIT_K", "HAS_ZERO", "SCALAR_SCALE", "IEEE",
                                                        "BITS", "EVEN_K")}
        res = {"kernel": name, "dtype": rec["dtype"], "cfg": cfg, "flags": flags, "shape": rec["shape"],
               "launches": entry["uses"]}
        c0 = time.time()
        try:
            k = triton.compile(ASTSource(rec["fn"], signature, constexprs, attrs), target=target,
                               options=options.__dict__)
            res["ok"] = "cubin" in k.asm
            res["error"] = "" if res["ok"] else "no cubin produced"
            res["shared"] = int(k.metadata.shared)
            res["regs"] = getattr(k, "n_regs", None)
        except Exception as e:  # noqa: BLE001 - reported per kernel/config by the test
            res["ok"], res["error"] = False, f"{type(e).__name__}: {str(e)[-1500:]}"
        res["seconds"] = round(time.time() - c0, 2)
        results.append(res)
    return {"triton": triton.__version__, "launches": len(records), "record_s": round(t1 - t0, 1),
            "compile_s": round(time.time() - t1, 1), "results": results}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(MARK + json.dumps(main(), default=str))


# ------------------------------------------------------------------------------------------- pytest side

# Hopper's limit for one CTA (227 KB of the 228 KB a SM can be configured to): a kernel asking for more compiles
# but fails at launch, which the launcher's tuner would then silently skip.
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
    for kernel in ("_lowbit_splitk_kernel", "_lowbit_gemm_kernel", "_w8a8_kernel", "_splitk_reduce_kernel"):
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


def test_shared_memory_fits_one_h100_cta(sm90_report):
    big = [f"{_describe(r)}: {r['shared']} B" for r in sm90_report["results"] if r["ok"] and r["shared"] > SMEM_LIMIT]
    assert not big, "configs needing more shared memory than an H100 CTA can have:\n" + "\n".join(big)
