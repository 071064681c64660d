"""Record the Triton launches a launcher makes, without running them, and compile them ahead of time.

``recording`` swaps the ``@triton.jit`` kernels and autotuners in the given kernel modules for recorders
(``kernel[grid](...)`` appends a ``Launch`` instead of running) and turns off the device checks, so the
real launchers can be called on meta tensors on a CPU with the SM count of the target GPU. ``specialize``
then builds each launch's signature the way Triton's JIT does for CUDA (pointers and ints divisible by 16
get ``tt.divisibility``, an int equal to 1 becomes a constexpr), and ``compile_sass`` compiles it for a
GPU target and disassembles the cubin with the cuobjdump shipped in Triton's package.

Used by ``roofline.measure.inspect`` and by the sm90 compile tests. Triton is imported inside functions:
importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from roofline.errors import InputError


@dataclass
class Launch:
    """One recorded ``kernel[grid](*args, **kwargs)``; ``fn`` is the JITFunction, ``tuner`` its Autotuner."""

    fn: Any
    args: tuple
    kwargs: dict
    grid: Any  # a tuple, or a callable of the launch's meta-parameters (autotuned kernels)
    tuner: Any = None
    context: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.fn.__name__

    def configs(self, all_configs: bool = True) -> list[tuple[dict, dict, bool]]:
        """(kwargs, options, first_choice) per config this launch would run: every autotune candidate
        left after the early prune (the first only unless ``all_configs``), or the launch as given."""
        kwargs = dict(self.kwargs)
        if self.tuner is None:
            opts = {k: kwargs.pop(k) for k in ("num_warps", "num_stages", "num_ctas", "maxnreg") if k in kwargs}
            return [(kwargs, {"num_warps": 4, "num_stages": 3, **opts}, self.context.get("first", True))]
        configs = list(self.tuner.configs)
        prune = getattr(self.tuner, "early_config_prune", None)
        if prune:
            configs = prune(configs, dict(zip(self.fn.arg_names, self.args, strict=False)), **kwargs)
        out = []
        for i, c in enumerate(configs if all_configs else configs[:1]):
            opts = {"num_warps": c.num_warps, "num_stages": c.num_stages}
            if getattr(c, "maxnreg", None):
                opts["maxnreg"] = c.maxnreg
            out.append(({**kwargs, **c.kwargs}, opts, i == 0))
        return out

    def grid_ctas(self, kwargs: dict) -> int:
        g = self.grid(kwargs) if callable(self.grid) else self.grid
        n = 1
        for d in tuple(g):
            n *= int(d)
        return n


class _Recorder:
    def __init__(self, obj: Any, log: list[Launch], context: dict):
        self.tuner = obj if hasattr(obj, "configs") else None
        self.fn = obj.fn if self.tuner is not None else obj
        while hasattr(self.fn, "fn") and not hasattr(self.fn, "arg_names"):  # heuristics wrappers
            self.fn = self.fn.fn
        self.log, self.context = log, context

    def __getitem__(self, grid):
        def record(*args, **kwargs):
            self.log.append(Launch(self.fn, args, kwargs, grid, self.tuner, dict(self.context)))
        return record


def _is_kernel(obj: Any) -> bool:
    # torch / triton imported here, not at the top: importing this module stays cheap
    from triton.runtime.autotuner import Autotuner
    from triton.runtime.jit import JITFunction

    return isinstance(obj, (JITFunction, Autotuner))


@contextlib.contextmanager
def recording(modules: list[ModuleType], sms: int, extra: Callable[[dict], dict] | None = None
              ) -> Iterator[tuple[list[Launch], dict]]:
    """Inside: launches of every kernel defined in ``modules`` are recorded, not run; the device checks
    pass and SM counts read ``sms``. ``extra(context)`` may add patches {(module, name): object}. Yields
    (the launch log, a context dict whose contents are copied into each launch recorded)."""
    log: list[Launch] = []
    context: dict = {}
    stubs = {"check_runnable": lambda *a, **k: None, "check_device": lambda *ts: None,
             "can_run_triton": lambda device: True, "interpreting": lambda: False,
             "num_sms": lambda device, off_gpu=1: sms, "cuda_sm_count": lambda device: sms}
    patches: dict[tuple[ModuleType, str], Any] = {}
    for mod in modules:
        for name, obj in vars(mod).items():
            if name.startswith("_") and _is_kernel(obj):
                patches[(mod, name)] = _Recorder(obj, log, context)
        for name, stub in stubs.items():
            if callable(getattr(mod, name, None)):
                patches[(mod, name)] = stub
    patches.update(extra(context) if extra else {})
    saved = {k: getattr(*k) for k in patches}
    for (mod, name), new in patches.items():
        setattr(mod, name, new)
    try:
        yield log, context
    finally:
        for (mod, name), old in saved.items():
            setattr(mod, name, old)


_TYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32", "float64": "fp64", "int32": "i32",
          "int64": "i64", "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "i1", "float8_e4m3fn": "fp8e4nv"}


def specialize(fn: Any, kwargs_all: dict, args: tuple) -> tuple[dict, dict, dict]:
    """(signature, constexprs, attrs) of one launch by the JIT's rules for CUDA."""
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    bound = {**dict(zip(fn.arg_names, args, strict=False)), **kwargs_all}
    missing = [n for n in fn.arg_names if n not in bound]
    defaults = {p.name: p.default for p in fn.params if p.name in missing and p.has_default}
    bound.update(defaults)
    signature, constexprs, attrs = {}, {}, {}
    for i, p in enumerate(fn.params):
        v = bound[p.name]
        if p.is_constexpr or v is None or isinstance(v, str):
            signature[p.name], constexprs[p.name] = "constexpr", v
            continue
        if isinstance(v, torch.Tensor):
            signature[p.name] = "*" + _TYPES[str(v.dtype).removeprefix("torch.")]
            aligned = v.device.type == "meta" or v.data_ptr() % 16 == 0
        elif isinstance(v, bool):
            signature[p.name], aligned = "i1", False
        elif isinstance(v, int):
            if v == 1 and not p.do_not_specialize:
                signature[p.name], constexprs[p.name] = "constexpr", 1
                continue
            signature[p.name] = "i32" if -2**31 <= v < 2**31 else "i64"
            aligned = v % 16 == 0
        elif isinstance(v, float):
            signature[p.name], aligned = "fp32", False
        else:
            raise TypeError(f"{fn.__name__}: no Triton type for argument {p.name} = {type(v).__name__}")
        if aligned and not p.do_not_specialize and not getattr(p, "do_not_specialize_on_alignment", False):
            attrs[(i,)] = [["tt.divisibility", 16]]
    return signature, constexprs, attrs


def parse_arch(arch: str) -> tuple[str, int, int]:
    """'sm90' / 'sm_90' / 'sm90a' -> GPUTarget fields ("cuda", 90, 32). Raises InputError."""
    a = arch.lower().removeprefix("sm").lstrip("_").rstrip("a")
    if not a.isdigit() or int(a) < 70:
        raise InputError(f"unknown arch {arch!r}: write it as sm<major><minor>, e.g. sm90")
    return ("cuda", int(a), 32)


def tool(name: str) -> str:
    """Path of a CUDA binary tool (cuobjdump, nvdisasm) shipped with Triton, or in $ROOFLINE_CUDA_BIN."""
    where = os.environ.get("ROOFLINE_CUDA_BIN")
    if where is None:
        # torch / triton imported here, not at the top: importing this module stays cheap
        import triton.backends.nvidia as nv

        where = str(Path(nv.__file__).parent / "bin")
    path = Path(where) / name
    if not os.access(path, os.X_OK):
        raise InputError(f"{name} not found in {where}: install triton with its CUDA backend, or point "
                         "ROOFLINE_CUDA_BIN at a folder holding cuobjdump")
    return str(path)


# Triton 3.9 warns on every compile that FP fusion defaults on "for backward compatibility"; 3.6 (the GPU
# machine's) fuses by default too: say so explicitly, so the inspection compiles what the GPU would.
FP_FUSION_ENV = ("TRITON_DEFAULT_FP_FUSION", "1")


def compile_sass(fn: Any, signature: dict, constexprs: dict, attrs: dict, options: dict,
                 target: tuple[str, int, int]) -> dict:
    """Compile for ``target`` and disassemble: {sass, resources, shared_bytes, num_warps, num_stages}."""
    # torch / triton imported here, not at the top: importing this module stays cheap
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    os.environ.setdefault(*FP_FUSION_ENV)
    k = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=GPUTarget(*target), options=options)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "k.cubin"
        path.write_bytes(k.asm["cubin"])
        sass = subprocess.run([tool("cuobjdump"), "--dump-sass", str(path)], capture_output=True, text=True,
                              check=True).stdout
        res = subprocess.run([tool("cuobjdump"), "--dump-resource-usage", str(path)], capture_output=True,
                             text=True, check=True).stdout
    return {"sass": sass, "resources": res, "shared_bytes": int(k.metadata.shared),
            "num_warps": int(k.metadata.num_warps), "num_stages": int(getattr(k.metadata, "num_stages", 0))}
