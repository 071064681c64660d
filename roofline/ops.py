"""The Op contract: one unit of work the roofline model can price (FLOPs, bytes, compute dtype).

Kernels declare their cost as Ops; the transformer model emits Ops per layer. Units: FLOPs (a
multiply-add counts 2), bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hwdb.schema import DTYPES


@dataclass(frozen=True)
class Op:
    """``count`` identical instances of one operation; flops/bytes are per instance."""

    name: str
    kind: str  # layer kind: attention, mlp, norm, embedding, lm_head, matmul, elementwise, comm, copy, ...
    flops: float
    bytes_read: float
    bytes_written: float
    dtype: str  # which compute ceiling applies: one of hwdb.DTYPES
    count: int = 1
    layer: str = ""  # e.g. "decoder" or "layer 3"; "" for standalone kernels
    comm_bytes: float = 0.0  # bytes over the device interconnect (tensor-parallel all-reduce)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"op {self.name!r}: unknown compute dtype {self.dtype!r} (known: {', '.join(DTYPES)})")
        for f in ("flops", "bytes_read", "bytes_written", "comm_bytes"):
            if getattr(self, f) < 0:
                raise ValueError(f"op {self.name!r}: {f} must be >= 0")
        if self.count < 1:
            raise ValueError(f"op {self.name!r}: count must be >= 1")

    @property
    def bytes(self) -> float:
        """DRAM bytes moved per instance (read + written)."""
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP per DRAM byte (inf for an op that moves nothing)."""
        return self.flops / self.bytes if self.bytes > 0 else float("inf")

    @property
    def total_flops(self) -> float:
        return self.flops * self.count

    @property
    def total_bytes(self) -> float:
        return self.bytes * self.count

    def times(self, n: int) -> Op:
        """The same op repeated n more times over (e.g. once per layer)."""
        return replace(self, count=self.count * n)


def total_flops(ops: list[Op]) -> float:
    return sum(o.total_flops for o in ops)


def total_bytes(ops: list[Op]) -> float:
    return sum(o.total_bytes for o in ops)


_TORCH_NAMES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
                "float64": "fp64", "double": "fp64", "int8": "int8", "float8": "fp8", "float8_e4m3fn": "fp8",
                "float8_e5m2": "fp8", "int4": "int4", "uint4": "int4"}


def hwdb_dtype(dtype: str) -> str | None:
    """A trace dtype ('bf16', 'bfloat16', 'w4a16', ...) as an hwdb dtype, or None."""
    d = str(dtype).lower().replace("torch.", "")
    if d in DTYPES:
        return d
    if d in _TORCH_NAMES:
        return _TORCH_NAMES[d]
    # weight/activation notation: the activation (compute) width decides the ceiling
    if d.startswith("w") and "a" in d:
        a = d.split("a", 1)[1]
        return {"16": "bf16", "8": "int8", "4": "int4", "32": "fp32"}.get(a)
    return None
