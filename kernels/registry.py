"""Kernel registry: what `roofline profile` can run.

Each kernel module registers a ``KernelEntry``. ``entry.prepare(shape, dtype, device)`` builds fresh
random inputs and returns a ``Bench``: zero-argument callables for our kernel and its peers, the
torch reference, and the cost (Ops) of one call of each implementation for the roofline model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from roofline.ops import Op


@dataclass
class Bench:
    """One prepared benchmark point; the inputs live inside the closures."""

    kernel: str
    shape: dict[str, Any]
    dtype: str
    impls: dict[str, Callable[[], Any]]  # "ours" and peer names (e.g. "torch-bf16-linear") -> output
    reference: Callable[[], Any]  # plain-torch reference of what "ours" computes
    ops: list[Op]  # cost of one call of "ours"
    rtol: float = 1e-2  # max |out - ref| / max(|ref|) accepted; the kernel module says why
    peer_ops: dict[str, list[Op]] = field(default_factory=dict)  # cost of one call of a peer, when it differs
    checked: set[str] = field(default_factory=lambda: {"ours"})  # impls whose output must match the reference
    gpu_only: set[str] = field(default_factory=set)  # impls that cannot run on a CPU (Triton, cuSPARSELt, ...)

    def ops_for(self, impl: str) -> list[Op]:
        return self.peer_ops.get(impl, self.ops)


@dataclass(frozen=True)
class KernelEntry:
    name: str  # e.g. "w4a16_linear"
    family: str  # quant | attention | sparse | ceiling
    description: str
    prepare: Callable[[dict[str, Any], str, str], Bench]  # (shape, dtype, device "cuda"/"cpu") -> Bench
    dtypes: tuple[str, ...]
    bench_shapes: tuple[dict[str, Any], ...]  # the kernel issue's benchmark sweep (GPU)
    quick_shapes: tuple[dict[str, Any], ...] = ()  # tiny shapes that run in seconds on a CPU


REGISTRY: dict[str, KernelEntry] = {}


def register(entry: KernelEntry) -> KernelEntry:
    if entry.name in REGISTRY and REGISTRY[entry.name] is not entry:
        raise ValueError(f"kernel {entry.name!r} registered twice")
    REGISTRY[entry.name] = entry
    return entry


def max_rel_error(out: Any, ref: Any) -> float:
    """max |out - ref| / max(|ref|, tiny), in fp32; tuples compare their first element."""
    if isinstance(out, (tuple, list)):
        out, ref = out[0], ref[0]
    o, r = out.float(), ref.float()
    denom = r.abs().max().clamp_min(1e-12)
    return float((o - r).abs().max() / denom)


def load_all() -> dict[str, KernelEntry]:
    """Import every kernel family so each registers itself; the registry by name."""
    # The families import torch and triton at their top: loaded here, when a kernel is first needed, so that
    # importing the registry (the profiler, the CLI) stays cheap.
    import kernels.attention  # noqa: F401
    import kernels.ceilings  # noqa: F401
    import kernels.quant  # noqa: F401
    import kernels.sparse  # noqa: F401

    return REGISTRY
