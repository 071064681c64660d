"""Static inspection of the Triton kernels: compile the launches a launcher would make for a GPU target on
the CPU, read the SASS, and turn instruction counts into an issue-time floor next to the memory and compute
floors of the kernel's declared cost. Provenance kind "static": a prediction from compiled code, not a
measurement.

Per launch (``InspectRow``): registers, spill bytes (STL bytes, ptxas's "bytes spill stores"), shared
memory, MMA kind, the share of global-load bytes moved by 128-bit loads, LDL+STL count, the hot loop's
instruction count (``roofline.measure.sass``) and, per weight or per KV byte a CTA streams,

    instr_per_weight = hot_loop_instrs x 32 lanes x num_warps / weights one hot-loop iteration streams

(lane-instructions: a SASS instruction is issued once a warp and does one operation in each of 32 lanes;
the anchors' convention, e.g. 8.1 for the first W4A16 GEMV). Floors, on ``device_id`` from hwdb:

    issue_floor_s   = warp-instructions issued / (SMs the grid fills x schedulers a SM x boost clock)
                      warp-instructions = num_warps x (CTAs x straight-line instrs + iterations x hot loop)
    memory_floor_s  = bytes of the call's cost() Ops / memory bandwidth
    compute_floor_s = sum of FLOPs / peak of each Op's dtype

``predicted_bound`` names the largest of the call's summed issue floor, its memory and compute floors (the
same on every launch row of one call). Compiled results are cached by a hash of the kernel source (Triton's
``cache_key``, which covers the functions it calls), the specialization, config, arch and Triton version
under ``$ROOFLINE_CACHE`` (default ``~/.cache/roofline/inspect``). Errors are ``InspectError`` (an InputError).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hwdb
from kernels.registry import load_all
from roofline.errors import InputError
from roofline.measure import kernel_calls, launches, sass
from roofline.ops import Op

_CONFIG_KEYS = ("GROUP_M", "SPLIT_K", "SPLIT_A")


class InspectError(InputError):
    """A request inspect cannot serve (unknown kernel or shape, untargetable arch, missing tool)."""


@dataclass(frozen=True)
class InspectRow:
    """One compiled launch of one kernel call at one shape. Times in s, sizes in bytes."""

    kernel: str  # registry name
    launch: str  # Triton function name
    shape: str  # shape key (kernel_calls.shape_key)
    dtype: str
    config: str  # block sizes, warps, stages
    first_choice: bool  # the config the launcher tries first
    regs: int
    spill_bytes: int
    smem_bytes: int
    num_warps: int
    num_stages: int
    grid_ctas: int
    mma: str  # HGMMA / IGMMA / QGMMA / HMMA / IMMA / none
    ldg128_share: float
    local_ops: int
    instrs: int  # static SASS instructions of the function
    hot_loop_instrs: int
    instr_per_weight: float | None  # lane-instructions per weight streamed (linear kernels)
    instr_per_byte: float | None  # lane-instructions per KV byte streamed (attention)
    issue_floor_s: float
    memory_floor_s: float
    compute_floor_s: float
    predicted_bound: str  # issue / memory / compute
    kind: str
    source: str  # triton version + arch + compile hash


def _cache_dir() -> Path:
    return Path(os.environ.get("ROOFLINE_CACHE") or Path.home() / ".cache" / "roofline" / "inspect")


def _config_label(constexprs: dict, options: dict) -> str:
    parts = [f"{k.removeprefix('BLOCK_')}={v}" for k, v in constexprs.items()
             if k.startswith("BLOCK_") or k in _CONFIG_KEYS]
    return " ".join(parts + [f"w{options.get('num_warps', 4)}", f"s{options.get('num_stages', 3)}"])


_PROBED: dict[tuple, str | None] = {}


def _check_arch(target: tuple[str, int, int]) -> None:
    """Compile a trivial kernel once for the target; raise InspectError if this triton cannot."""
    if target not in _PROBED:
        try:
            # torch / triton imported here, not at the top: importing this module stays cheap
            import triton
            import triton.language as tl
            from triton.backends.compiler import GPUTarget
            from triton.compiler import ASTSource

            @triton.jit
            def _probe(x_ptr, BLOCK: tl.constexpr):
                offs = tl.arange(0, BLOCK)
                tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1.0)

            os.environ.setdefault(*launches.FP_FUSION_ENV)
            k = triton.compile(ASTSource(_probe, {"x_ptr": "*fp32", "BLOCK": "constexpr"}, {"BLOCK": 32}),
                               target=GPUTarget(*target), options={"num_warps": 1})
            _PROBED[target] = None if "cubin" in k.asm else "no cubin produced"
        except Exception as e:  # noqa: BLE001 - any failure means this triton cannot target the arch
            _PROBED[target] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    if _PROBED[target] is not None:
        raise InspectError(f"triton cannot compile for sm{target[1]} here ({_PROBED[target][:200]})")


def _compile_key(fn: Any, signature: dict, constexprs: dict, attrs: dict, options: dict, target: tuple) -> str:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import triton

    blob = json.dumps([fn.cache_key, signature, sorted(constexprs.items(), key=str), sorted(attrs.items()),
                       sorted(options.items()), list(target), triton.__version__], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


_JOBS: list = []  # (fn, signature, constexprs, attrs, options, target) read by forked workers


def _analyze_job(i: int) -> dict:
    fn, signature, constexprs, attrs, options, target = _JOBS[i]
    out = launches.compile_sass(fn, signature, constexprs, attrs, options, target)
    st = sass.analyze(out["sass"])
    res = sass.parse_resource_usage(out["resources"]).get(fn.__name__, {})
    return {"regs": res.get("regs", 0), "stack": res.get("stack", 0), "smem_bytes": out["shared_bytes"],
            "num_warps": out["num_warps"], "num_stages": options.get("num_stages", 3), "mma": st.mma,
            "ldg128_share": st.ldg128_share, "local_ops": st.local_ops, "spill_bytes": st.local_store_bytes,
            "instrs": st.instrs, "hot_loop_instrs": st.hot_loop_instrs, "sass": out["sass"]}


def _compile_all(jobs: dict[str, tuple], workers: int) -> dict[str, dict]:
    """Compile the uncached jobs (key -> job), in parallel where there are several; cache each result."""
    cache = _cache_dir()
    done: dict[str, dict] = {}
    todo = []
    for key in jobs:
        path = cache / f"{key}.json"
        if path.is_file():
            try:
                done[key] = json.loads(path.read_text())
                continue
            except (OSError, json.JSONDecodeError):
                pass
        todo.append(key)
    if not todo:
        return done
    _JOBS[:] = [jobs[k] for k in todo]
    if workers > 1 and len(todo) > 1:

        with multiprocessing.get_context("fork").Pool(min(workers, len(todo))) as pool:
            results = pool.map(_analyze_job, range(len(todo)), chunksize=1)
    else:
        results = [_analyze_job(i) for i in range(len(todo))]
    cache.mkdir(parents=True, exist_ok=True)
    for key, r in zip(todo, results, strict=True):
        (cache / f"{key}.sass").write_text(r.pop("sass"))
        tmp = cache / f"{key}.json.tmp"
        tmp.write_text(json.dumps(r))
        tmp.replace(cache / f"{key}.json")
        done[key] = r
    return done


def _floors(ops: list[Op], dev: Any) -> tuple[float, float]:
    memory = sum(o.total_bytes for o in ops) / dev.mem_bw_bytes_per_s
    compute = 0.0
    for o in ops:
        if o.total_flops:
            peak = dev.peak(o.dtype) or dev.peak("fp32")
            compute += o.total_flops / peak if peak else 0.0
    return memory, compute


def _device(device_id: str) -> Any:
    try:
        dev = hwdb.get(device_id)
    except (hwdb.UnknownDeviceError, hwdb.HwdbError) as e:
        raise InspectError(str(e)) from None
    if not (dev.sm_count and dev.boost_clock_hz and dev.schedulers_per_sm):
        raise InspectError(f"hwdb {device_id!r} has no [compute] section (sm_count, boost_clock_hz, "
                           "schedulers_per_sm): static issue floors need them")
    return dev


def _select(kernels: list[str] | None, shapes: list | None) -> list[tuple[str, dict]]:

    reg = load_all()
    known = sorted(kernel_calls.CALLERS)
    names = list(kernels) if kernels else known
    for n in names:
        if n not in kernel_calls.CALLERS:

            close = difflib.get_close_matches(n, known, n=2, cutoff=0.4)
            why = " (a torch-only kernel: no Triton launch)" if n in reg else ""
            raise InspectError(f"unknown kernel {n!r}{why}; inspectable: {', '.join(close or known)}")
    picked = []
    for n in names:
        bench = list(reg[n].bench_shapes)
        if not shapes:
            picked += [(n, s) for s in bench]
            continue
        keys = {kernel_calls.shape_key(s): s for s in (*bench, *reg[n].quick_shapes)}
        for want in shapes:
            key = want if isinstance(want, str) else kernel_calls.shape_key(want)
            if key in keys:
                picked.append((n, keys[key]))
            elif not isinstance(want, str):
                picked.append((n, dict(want)))
            elif len(names) == 1:
                raise InspectError(f"unknown shape key {want!r} for {n}; e.g. {next(iter(keys))}")
    if shapes and not picked:
        raise InspectError(f"no shape key of {list(shapes)[:3]} matches a bench or quick shape of {', '.join(names)}")
    return picked


def inspect_kernels(kernels: list[str] | None = None, shapes: list | None = None, arch: str = "sm90",
                    device_id: str = "h200", all_configs: bool = False, dtype: str | None = None,
                    workers: int | None = None) -> list[InspectRow]:
    """Static rows for every launch of each kernel (default: all registered Triton kernels) at its bench
    shapes, or at ``shapes`` (shape keys or shape dicts); the first-choice config of each launch, or every
    candidate with ``all_configs``. ``dtype`` defaults to each kernel's first registered dtype. Raises
    InspectError."""
    try:
        target = launches.parse_arch(arch)
    except InputError as e:
        raise InspectError(str(e)) from None
    dev = _device(device_id)
    picked = _select(kernels, shapes)
    try:
        launches.tool("cuobjdump")
    except InputError as e:
        raise InspectError(str(e)) from None
    if _kernels_interpreted():
        return _in_subprocess(kernels, shapes, arch, device_id, all_configs, dtype, workers)
    _check_arch(target)

    reg = load_all()
    calls = []  # (kernel, shape, dtype, ops, [(launch, kwargs, options, first)])
    modules = kernel_calls.kernel_modules()
    for name, shape in picked:
        dt = dtype or reg[name].dtypes[0]
        with launches.recording(modules, dev.sm_count, _quant_choose(all_configs)) as (log, ctx):
            ctx.clear()
            ctx["sms"] = dev.sm_count
            ops = kernel_calls.CALLERS[name](shape, dt, ctx)
            recs = list(log)
        if not recs:
            raise InspectError(f"{name} at {kernel_calls.shape_key(shape)} made no Triton launch")
        runs = []
        for rec in recs:
            for kwargs, options, first in rec.configs(all_configs):
                runs.append((rec, kwargs, options, first and rec.context.get("first", True)))
        calls.append((name, shape, dt, ops, runs, dict(ctx)))

    jobs: dict[str, tuple] = {}
    keyed = []
    for name, shape, dt, ops, runs, ctx in calls:
        rows = []
        for rec, kwargs, options, first in runs:
            signature, constexprs, attrs = launches.specialize(rec.fn, kwargs, rec.args)
            key = _compile_key(rec.fn, signature, constexprs, attrs, options, target)
            jobs.setdefault(key, (rec.fn, signature, constexprs, attrs, options, target))
            rows.append((rec, kwargs, options, first, constexprs, key))
        keyed.append((name, shape, dt, ops, rows, ctx))
    stats = _compile_all(jobs, workers or max(1, min(2, os.cpu_count() or 1)))

    # torch / triton imported here, not at the top: importing this module stays cheap
    import triton

    out: list[InspectRow] = []
    for name, shape, dt, ops, rows, ctx in keyed:
        memory, compute = _floors(ops, dev)
        built = []
        for rec, kwargs, options, first, constexprs, key in rows:
            st = stats[key]
            bound = {**dict(zip(rec.fn.arg_names, rec.args, strict=False)), **kwargs}
            ctas = rec.grid_ctas(kwargs)
            warps = st["num_warps"]
            work = kernel_calls.WORK.get(rec.name)
            per_unit = None
            iters = 0
            unit = ""
            if work and st["hot_loop_instrs"]:
                unit, per_iter, iters = work(bound, ctx)
                per_unit = st["hot_loop_instrs"] * 32 * warps / per_iter
            hot = st["hot_loop_instrs"] if iters else 0
            warp_instrs = warps * (ctas * (st["instrs"] - hot) + iters * hot)
            sms_used = min(dev.sm_count, ctas)
            scheds = min(dev.schedulers_per_sm, warps * -(-ctas // dev.sm_count))
            issue = warp_instrs / (sms_used * scheds * dev.boost_clock_hz)
            built.append(dict(
                kernel=name, launch=rec.name, shape=kernel_calls.shape_key(shape), dtype=dt,
                config=_config_label(constexprs, options), first_choice=bool(first), regs=st["regs"],
                spill_bytes=st["spill_bytes"], smem_bytes=st["smem_bytes"], num_warps=warps,
                num_stages=st["num_stages"], grid_ctas=ctas, mma=st["mma"], ldg128_share=round(st["ldg128_share"], 4),
                local_ops=st["local_ops"], instrs=st["instrs"], hot_loop_instrs=st["hot_loop_instrs"],
                instr_per_weight=per_unit if unit == "weight" else None,
                instr_per_byte=per_unit if unit == "kv_byte" else None, issue_floor_s=issue,
                memory_floor_s=memory, compute_floor_s=compute, kind="static",
                source=f"triton {triton.__version__} {arch} {key}"))
        # the call's issue floor: its first-choice launches run one after another
        issue_call = sum(b["issue_floor_s"] for b in built if b["first_choice"])
        floors = {"issue": issue_call, "memory": memory, "compute": compute}
        bound_name = max(floors, key=floors.get)
        out += [InspectRow(**b, predicted_bound=bound_name) for b in built]
    return out


def _quant_choose(all_configs: bool):
    """Patches for the quant launchers' config choice: record every other candidate as not-first (with
    ``all_configs``), then hand back the first, which the launcher runs itself."""
    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.quant import lowbit, w8a8

    def patches(ctx: dict) -> dict:
        def choose(key, candidates, launch, device):
            if all_configs:
                for c in candidates[1:]:
                    ctx["first"] = False
                    launch(c)
            ctx["first"] = True
            return candidates[0]
        return {(lowbit, "choose"): choose, (w8a8, "choose"): choose}
    return patches


def _kernels_interpreted() -> bool:
    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.quant import lowbit

    return not hasattr(lowbit._lowbit_splitk_kernel, "cache_key")


def _in_subprocess(kernels, shapes, arch, device_id, all_configs, dtype, workers) -> list[InspectRow]:
    """The same call in a fresh Python without the interpreter (kernels imported under TRITON_INTERPRET=1
    are interpreter objects that cannot compile)."""
    req = json.dumps({"kernels": kernels, "shapes": shapes, "arch": arch, "device_id": device_id,
                      "all_configs": all_configs, "dtype": dtype, "workers": workers})
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "TRITON_INTERPRET": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-m", "roofline.measure.inspect_worker", req], capture_output=True,
                          text=True, env=env, cwd=root)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    try:
        doc = json.loads(last)
    except json.JSONDecodeError:
        raise InspectError(f"inspect subprocess failed (rc {proc.returncode}): {proc.stderr.strip()[-300:]}") from None
    if "error" in doc:
        raise InspectError(doc["error"])
    return [InspectRow(**r) for r in doc["rows"]]


def rows_to_dicts(rows: list[InspectRow]) -> list[dict]:
    return [asdict(r) for r in rows]
