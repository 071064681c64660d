"""Every attention Triton kernel compiles for Hopper (sm90) with the launches an H100 would make.

The interpreter tests (TRITON_INTERPRET=1) never lower a kernel to PTX, so tl.dot shape/dtype limits, layout
conversions, constexpr misuse and bf16 paths go unchecked there. Triton can compile for
GPUTarget("cuda", 90, 32) without a GPU, so this module does that in ONE subprocess (the test run sets
TRITON_INTERPRET=1 process-wide, which turns every @triton.jit into an interpreter object):

1. the real launchers (flash_attention, decode_attention, block_sparse_attention) run on meta tensors for
   the benchmark and quick shapes (bf16, fp16; fp32 on the quick shapes), head dims 64 and 128, causal and
   not, int8 KV, with the autotuned / launched kernels swapped for recorders: that gives each launch's exact
   arguments, constexprs and Triton's own specialization (ints == 1 become constexprs, 16-divisible ints and
   pointers get tt.divisibility), as on the GPU, with 132 SMs for the split heuristic;
2. each launch expands to the configs the autotuner would benchmark (after its early prune; the launched
   config for plain kernels), duplicates are dropped, and each job is compiled to a cubin.

The full product is ~300 compiles (1-3 s each, 5-20 s for fp32's FMA dots), so by default a covering subset
of ~50 runs (~50 s cold on 2 busy cores, forked over the available cores): every (kernel, config) in bf16
and in fp16, every distinct launch variant (head dim, causal, window, int8, GQA group, size-1 and alignment
specializations) at least once, one fp32 compile per kernel. ATTN_SM90_FULL=1 compiles everything (all
~300 pass). Compiled kernels land in Triton's cache, so reruns take a few seconds.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
H100_SMS = 132
H100_SMEM = 232448  # max dynamic shared memory a block can opt into on sm90 (227 KiB)
KERNELS = ("_flash_fwd_kernel", "_decode_split_kernel", "_decode_combine_kernel", "_block_sparse_fwd_kernel")


# ----------------------------------------------------------------------------------------------------------
# worker: runs in the subprocess with TRITON_INTERPRET=0 and prints one JSON report on the last line


def _capture_launches() -> list[dict]:
    """Run the launchers on meta tensors with recorders in place of the kernels; one entry per launch."""
    from kernels.attention import block_sparse, common, decode, flash
    from roofline.measure.launches import recording

    launches: list[dict] = []
    with recording([flash, decode, block_sparse, common], H100_SMS) as (log, _):  # kernels record, checks pass
        _call_launchers(flash, decode, block_sparse, common, log, launches)
    return launches


def _call_launchers(flash, decode, block_sparse, common, log, launches: list[dict]) -> None:
    """Run every launcher on meta tensors; each recorded launch becomes {fn, tuner, args, kwargs, label}."""
    import dataclasses

    import torch

    def meta(shape, dt):
        return torch.empty(shape, dtype=dt, device="meta")

    def run(label: dict, call):
        n0 = len(log)
        call()
        launches.extend({"fn": ln.fn, "tuner": ln.tuner, "args": ln.args, "kwargs": ln.kwargs, "label": label}
                        for ln in log[n0:])

    quick = {"quick": True}
    # edge: every size 1, so Triton turns those ints into constexprs (a classic source of compile errors)
    edges = tuple({"B": 1, "H": 1, "Hkv": 1, "S": 1, "D": 64, "causal": c, "edge": True} for c in (False, True))
    for shape in flash.BENCH_SHAPES + tuple({**s, **quick} for s in flash.QUICK_SHAPES) + edges:
        for dtype in ("bf16", "fp16") + (("fp32",) if shape.get("quick") else ()):
            B, H, Hkv, Sq, Sk, D, causal = flash._dims(shape)
            dt = common.torch_dtype(dtype)
            q, k, v = meta((B, H, Sq, D), dt), meta((B, Hkv, Sk, D), dt), meta((B, Hkv, Sk, D), dt)
            run({"dtype": dtype, "D": D, "causal": causal, **shape},
                lambda q=q, k=k, v=v, c=causal: flash.flash_attention(q, k, v, causal=c))

    decode_shapes = decode.BENCH_SHAPES + tuple({**s, "D": 64}
                                                for s in decode.BENCH_SHAPES[1:3] + decode.BENCH_SHAPES[-1:])
    decode_shapes += tuple({**s, **quick} for s in decode.QUICK_SHAPES) + (
        {"B": 1, "H": 1, "Hkv": 1, "L": 1, "D": 128, "edge": True},
        {"B": 2, "H": 64, "Hkv": 2, "L": 1000, "D": 128, "kv_dtype": "int8", "edge": True})  # GQA 32: BLOCK_H 32
    for shape in decode_shapes:
        for dtype in ("bf16", "fp16") + (("fp32",) if shape.get("quick") else ()):
            B, H, Hkv, L, D = shape["B"], shape["H"], shape["Hkv"], shape["L"], shape["D"]
            dt = common.torch_dtype(dtype)
            int8 = shape.get("kv_dtype") == "int8"
            kv_dt = torch.int8 if int8 else dt
            q, k, v = meta((B, H, D), dt), meta((B, Hkv, L, D), kv_dt), meta((B, Hkv, L, D), kv_dt)
            ks = vs = meta((Hkv,), torch.float32) if int8 else None
            # ragged lengths change no kernel argument's type or alignment (seq_lens is int32 either way)
            run({"dtype": dtype, "D": D, "int8": int8, **shape},
                lambda q=q, k=k, v=v, ks=ks, vs=vs: decode.decode_attention(q, k, v, None, ks, vs))

    bs_shapes = block_sparse.BENCH_SHAPES + tuple({**s, "D": 64} for s in block_sparse.BENCH_SHAPES[1::4])
    bs_shapes += tuple({**s, **quick} for s in block_sparse.QUICK_SHAPES) + (
        {"B": 1, "H": 1, "Hkv": 1, "S": 1, "D": 128, "pattern": "window", "kept": 1.0, "block": 64, "edge": True},)
    for shape in bs_shapes:
        B, H, Hkv, S, D = shape["B"], shape["H"], shape.get("Hkv", shape["H"]), shape["S"], shape["D"]
        # the mask depends on q/k only through centroid scores: build it from 1-wide heads on the CPU
        g = torch.Generator().manual_seed(0)
        mask = block_sparse.make_mask(shape, torch.randn(B, H, S, 1, generator=g),
                                      torch.randn(B, Hkv, S, 1, generator=g))
        mask = dataclasses.replace(mask, **{f.name: getattr(mask, f.name).to("meta")
                                            for f in dataclasses.fields(mask)
                                            if isinstance(getattr(mask, f.name), torch.Tensor)})
        for dtype in ("bf16", "fp16") + (("fp32",) if shape.get("quick") else ()):
            dt = common.torch_dtype(dtype)
            q, k, v = meta((B, H, S, D), dt), meta((B, Hkv, S, D), dt), meta((B, Hkv, S, D), dt)
            run({"dtype": dtype, "D": D, "causal": mask.causal, "window": mask.window > 0, **shape},
                lambda q=q, k=k, v=v, m=mask: block_sparse.block_sparse_attention(q, k, v, m))


_SIXTEEN = {"*bf16": "*16bit", "*fp16": "*16bit"}


def _jobs(launches: list[dict]) -> list[dict]:
    """Expand launches to compile jobs (autotune configs after the early prune), deduplicated."""
    from triton._C.libtriton import native_specialize_impl
    from triton.backends.nvidia.compiler import CUDABackend

    jobs: dict[str, dict] = {}
    for ln in launches:
        fn, tuner, args, kwargs = ln["fn"], ln["tuner"], ln["args"], dict(ln["kwargs"])
        if tuner is not None:
            configs = tuner.configs
            if tuner.early_config_prune:
                configs = tuner.early_config_prune(configs, dict(zip(fn.arg_names, args, strict=False)), **kwargs)
            runs = [({**kwargs, **c.kwargs}, {"num_warps": c.num_warps, "num_stages": c.num_stages,
                                              "num_ctas": c.num_ctas, "maxnreg": c.maxnreg}, c.kwargs)
                    for c in configs]
        else:
            opts = {k: kwargs.pop(k) for k in ("num_warps", "num_stages", "num_ctas", "maxnreg") if k in kwargs}
            runs = [(kwargs, {"num_warps": 4, "num_stages": 3, **opts}, {})]
        for kw, opts, tuned in runs:
            bound = {**dict(zip(fn.arg_names, args, strict=False)), **kw}
            signature, constexprs, attrs = {}, {}, {}
            for p in fn.params:
                val = bound[p.name]
                if p.is_constexpr:
                    signature[p.name], constexprs[p.name] = "constexpr", val
                    continue
                ty, spec = native_specialize_impl(CUDABackend, val, False, not p.do_not_specialize,
                                                  not p.do_not_specialize_on_alignment)
                signature[p.name] = ty
                if ty == "constexpr":
                    constexprs[p.name] = spec
                elif isinstance(spec, str) and CUDABackend.parse_attr(spec):
                    attrs[p.name] = CUDABackend.parse_attr(spec)
            variant = {k: v for k, v in constexprs.items() if k not in tuned}
            config = {**tuned, **opts}
            dtype = signature[fn.arg_names[0]]  # the first pointer is q (or the fp32 partials: combine)
            if fn.__name__ == "_decode_combine_kernel":
                dtype = signature["Out"]
            job = {"kernel": fn.__name__, "signature": signature, "constexprs": constexprs, "attrs": attrs,
                   "options": opts, "config": config, "dtype": dtype,
                   # the launch variant, bf16 and fp16 alike (their smem and code paths match)
                   "variant": json.dumps([{k: _SIXTEEN.get(v, v) for k, v in signature.items()}, variant,
                                          sorted(attrs)], sort_keys=True, default=str),
                   "label": ln["label"]}
            key = json.dumps([fn.__name__, signature, constexprs, sorted(attrs), opts], sort_keys=True, default=str)
            jobs.setdefault(key, job)
    return list(jobs.values())


def _cover(jobs: list[dict]) -> list[dict]:
    """Greedy subset: every (kernel, config, dtype) for bf16 and fp16, every (kernel, launch variant) in one of
    them, and one fp32 job per kernel (fp32 is a test-only dtype whose FMA dots compile 5-10x slower);
    ties go to head dim 128 (the worst case for registers and shared memory), then to the cheaper tile."""
    def items(j):
        if j["dtype"] == "*fp32":
            return {("fp32", j["kernel"])}
        cfg = json.dumps(j["config"], sort_keys=True, default=str)
        return {("cfg", j["kernel"], cfg, j["dtype"]), ("var", j["kernel"], j["variant"])}

    def cost(j):
        c = j["config"]
        return c.get("BLOCK_M", 16) * c.get("BLOCK_N", 16) * c["num_stages"]

    left = set().union(*(items(j) for j in jobs)) if jobs else set()
    chosen, pool = [], list(jobs)
    while left:
        best = max(pool, key=lambda j: (len(items(j) & left), j["constexprs"]["HEAD_DIM"], -cost(j)))
        chosen.append(best)
        pool.remove(best)
        left -= items(best)
    return chosen


_FNS: dict = {}  # kernel name -> JITFunction, set before the pool forks


def _compile(job: dict) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = _FNS[job["kernel"]]
    attrs = {(fn.arg_names.index(k),): v for k, v in job["attrs"].items()}
    t0 = time.perf_counter()
    out = {k: job[k] for k in ("kernel", "dtype", "config", "label", "variant")}
    try:
        k = triton.compile(ASTSource(fn, job["signature"], job["constexprs"], attrs),
                           target=GPUTarget("cuda", 90, 32), options=job["options"])
        out["ok"] = "cubin" in k.asm
        out["error"] = None if out["ok"] else "no cubin in asm"
        out["shared"] = k.metadata.shared
    except Exception as e:  # every failure is reported with its kernel, dtype and config
        out["ok"], out["error"], out["shared"] = False, f"{type(e).__name__}: {e}"[-3000:], None
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _probe_sm90() -> str | None:
    """None when a trivial kernel compiles to an sm90 cubin here, else why not."""
    try:  # the internals _jobs uses to mirror the launch-time specialization (triton 3.9 layout)
        from triton._C.libtriton import native_specialize_impl  # noqa: F401
        from triton.backends.nvidia.compiler import CUDABackend  # noqa: F401
    except ImportError as e:
        return f"this triton lacks the specialization internals the test mirrors: {e}"[:500]
    try:
        import triton
        import triton.language as tl
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource

        @triton.jit
        def _probe(x_ptr, BLOCK: tl.constexpr):
            offs = tl.arange(0, BLOCK)
            tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1.0)

        k = triton.compile(ASTSource(_probe, {"x_ptr": "*fp32", "BLOCK": "constexpr"}, {"BLOCK": 16}),
                           target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
        return None if "cubin" in k.asm else "no cubin produced for a trivial kernel"
    except Exception as e:
        return f"triton cannot compile for sm90 here: {type(e).__name__}: {e}"[:500]


def _worker() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    report: dict = {"skip": _probe_sm90()}
    if report["skip"] is None:
        from kernels.attention import block_sparse, decode, flash

        _FNS.update({f.__name__: f for f in (flash._flash_fwd_kernel, decode._decode_split_kernel,
                                             decode._decode_combine_kernel, block_sparse._block_sparse_fwd_kernel)})
        launches = _capture_launches()
        jobs = _jobs(launches)
        full = os.environ.get("ATTN_SM90_FULL", "0") not in ("", "0")
        chosen = jobs if full else _cover(jobs)
        workers = max(1, min(4, len(os.sched_getaffinity(0)), len(chosen)))
        ctx = multiprocessing.get_context("fork")  # the children inherit the imported kernels: no new Python
        with ctx.Pool(workers) as pool:
            results = pool.map(_compile, chosen, chunksize=1)
        configs: dict[str, list] = {}  # kernel -> every 16-bit config some launch would try
        variants: dict[str, dict] = {}  # per launch variant: configs to try, compiled, any fits in smem
        for jb in jobs:
            if jb["dtype"] != "*fp32" and jb["config"] not in configs.setdefault(jb["kernel"], []):
                configs[jb["kernel"]].append(jb["config"])
            v = variants.setdefault(jb["kernel"] + jb["variant"], {"kernel": jb["kernel"], "label": jb["label"],
                                                                   "dtype": jb["dtype"], "configs": 0,
                                                                   "compiled": 0, "fit": False})
            v["configs"] += 1
        for r in results:
            v = variants[r["kernel"] + r["variant"]]
            v["compiled"] += 1
            v["fit"] |= bool(r["ok"] and r["shared"] <= H100_SMEM)
        report.update(launches=len(launches), jobs_total=len(jobs), full=full, workers=workers,
                      results=results, configs=configs, variants=list(variants.values()))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _worker()
    sys.exit(0)


# ----------------------------------------------------------------------------------------------------------
# tests: one subprocess for the whole module


@pytest.fixture(scope="module")
def report() -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "0", "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, __file__], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"compile worker failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    rep = json.loads(lines[-1])
    if rep["skip"]:
        pytest.skip(rep["skip"])
    return rep


def _describe(r: dict) -> str:
    lab = {k: v for k, v in r["label"].items() if k not in ("B", "H")}
    return f"{r['kernel']} dtype={r['dtype']} config={r['config']} launch={lab}"


def test_every_kernel_config_compiles_for_sm90(report):
    bad = [r for r in report["results"] if not r["ok"]]
    msg = "\n\n".join(f"{_describe(r)}\n  {r['error']}" for r in bad)
    assert not bad, f"{len(bad)} of {len(report['results'])} sm90 compiles failed:\n{msg}"


def test_coverage(report):
    res = report["results"]
    assert {r["kernel"] for r in res} == set(KERNELS)
    for kern in KERNELS:
        assert {r["dtype"] for r in res if r["kernel"] == kern} == {"*fp16", "*bf16", "*fp32"}, kern
        assert {r["label"]["D"] for r in res if r["kernel"] == kern} == {64, 128}, kern
    assert {r["label"]["causal"] for r in res if r["kernel"] == "_flash_fwd_kernel"} == {False, True}
    assert {r["label"]["window"] for r in res if r["kernel"] == "_block_sparse_fwd_kernel"} == {False, True}
    assert {r["label"]["int8"] for r in res if r["kernel"] == "_decode_split_kernel"} == {False, True}
    for kern, cfgs in report["configs"].items():  # every config the H100 could try, in bf16 and in fp16
        for dt in ("*bf16", "*fp16"):
            done = [r["config"] for r in res if r["kernel"] == kern and r["dtype"] == dt]
            assert all(c in done for c in cfgs), (kern, dt, [c for c in cfgs if c not in done])
    n_cfg = {k: len(v) for k, v in report["configs"].items()}
    assert n_cfg["_flash_fwd_kernel"] == 7 and n_cfg["_decode_split_kernel"] == 5, n_cfg
    assert n_cfg["_block_sparse_fwd_kernel"] == 6, n_cfg  # 5 tuned + the prune's fallback for 16-wide blocks
    for v in report["variants"]:  # every launch variant compiled at least once
        assert v["compiled"] >= 1 or v["dtype"] == "*fp32", v


def test_some_config_fits_h100_shared_memory(report):
    """The autotuner skips configs that overflow shared memory (OutOfResources); a launch with no config that
    fits fails on the GPU. Checked where every config of the launch was compiled: plain launches, single-config
    prunes, and everything under ATTN_SM90_FULL=1."""
    done = [v for v in report["variants"] if v["compiled"] == v["configs"]]
    assert done
    bad = [v for v in done if not v["fit"]]
    assert not bad, "\n".join(f"{v['kernel']} {v['dtype']} {v['label']}: no config fits {H100_SMEM} B" for v in bad)
