"""Device schema: the cited hardware record every prediction starts from.

Units are SI base units (bytes, bytes/s, ops/s, W, USD). Every numeric field carries the key of a
source in the device's ``[sources]`` table; ``Device.source_of(field)`` resolves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from roofline.errors import DataFileError

DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8", "int4")
# rates of the vector (non-matrix) units, where a vendor publishes them apart from the matrix peaks
VECTOR_DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16")
# tensor rates with 16-bit accumulation, where a vendor publishes them apart from the (fp32-accumulate) peaks:
# GeForce / workstation parts run FP16 (and Ada's FP8) matrix math at twice the rate when the products are summed in
# fp16 -- a separate ceiling a kernel only reaches when it asks for fp16 accumulation (cublasGemmEx CUBLAS_COMPUTE_16F)
ACC16_DTYPES: tuple[str, ...] = ("fp16", "fp8")
KINDS: tuple[str, ...] = ("gpu", "cpu", "soc", "accelerator")


class HwdbError(DataFileError):
    """A device file that cannot be loaded; the message names the file and the field."""


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    url: str
    note: str = ""
    date: str = ""


COST_BASES: tuple[str, ...] = ("cloud", "owned")


@dataclass(frozen=True)
class Price:
    """One public, dated price. basis "cloud": on-demand USD an hour for ONE device (host included, as the
    provider rents it); "owned": the purchase (list / street) price of one device, USD."""

    basis: str
    usd: float
    provider: str
    date: str
    source: str  # key into the device's [sources]
    note: str = ""
    reference: bool = False  # the one the rankings use for its basis (else the median-priced entry)


CURRENT_MONTHS = 12  # quotes within a year of a basis' newest quote make its "current market"


def quote_month(date: str) -> int | None:
    """'2026-09', '2026-09-20' or '2024' as months since year 0 (a bare year counts as its January); None for
    an undated quote ('undated', 'n.d.')."""
    parts = str(date).strip().split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 1
    except ValueError:
        return None
    return year * 12 + month - 1 if 1900 < year < 3000 and 1 <= month <= 12 else None


def reference_price(prices: tuple[Price, ...] | list[Price], basis: str) -> Price | None:
    """The quote a ranking on ``basis`` uses: the one marked ``reference``; else the median of the current
    market (the dated quotes within CURRENT_MONTHS of the newest one; undated quotes only when nothing is
    dated), the lower of the two middle quotes on an even count. An actual quote, so it keeps its provider,
    date and source; None when the basis has no quote."""
    qs = [q for q in prices if q.basis == basis]
    if not qs:
        return None
    marked = [q for q in qs if q.reference]
    if marked:
        return marked[0]
    months = {id(q): quote_month(q.date) for q in qs}
    dated = [q for q in qs if months[id(q)] is not None]
    if dated:
        newest = max(months[id(q)] for q in dated)
        qs = [q for q in dated if months[id(q)] >= newest - CURRENT_MONTHS]
    qs.sort(key=lambda q: (q.usd, q.provider))
    return qs[(len(qs) - 1) // 2]


@dataclass(frozen=True)
class Cache:
    name: str
    size_bytes: float
    bw_bytes_per_s: float | None
    source: str


@dataclass(frozen=True)
class ImplCurve:
    """Fitted time curve of one implementation of one kernel on one device (``roofline calibrate``).

    time(call) = max(t_compute / (compute_eff * s / (s + half_flops)), t_memory / memory_eff) + floor_s, with
    t_compute / t_memory the datasheet roof times of the call and s its FLOPs: ``half_flops`` is the size at
    which tile occupancy / wave quantization halves the compute efficiency; ``floor_s`` the latency floor of
    the smallest calls. Units: s, FLOP, fractions of the datasheet roofs.
    """

    kernel: str
    impl: str
    compute_eff: float
    memory_eff: float
    floor_s: float
    half_flops: float = 0.0
    n_fit: int = 0
    held_out_median_err: float | None = None
    power_w: float | None = None  # static power while it runs: energy = power x time + dynamic J/FLOP, J/byte terms
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.kernel}/{self.impl}"


@dataclass(frozen=True)
class Measured:
    """Ceilings measured on a real device (from traces, never typed in by hand). Units: SI."""

    run_id: str
    date: str
    source: str
    copy_bw_bytes_per_s: float | None = None
    matmul_ops_per_s: Mapping[str, float] = field(default_factory=dict)
    idle_power_w: float | None = None
    idle_state: str = ""
    e_flop_j: Mapping[str, float] = field(default_factory=dict)
    e_byte_j: float | None = None
    compute_eff: Mapping[str, float] = field(default_factory=dict)
    memory_eff: float | None = None
    launch_overhead_s: float | None = None
    note: str = ""
    impl: Mapping[str, ImplCurve] = field(default_factory=dict)  # "kernel/impl" -> fitted curve

    def curve_for(self, kernel: str, impl: str) -> ImplCurve | None:
        return self.impl.get(f"{kernel}/{impl}")


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    vendor: str
    kind: str
    release_year: int
    memory_bytes: float
    mem_bw_bytes_per_s: float
    memory_type: str
    peak_ops_per_s: Mapping[str, float]
    caches: tuple[Cache, ...]
    sparse_2_4: bool
    tdp_w: float
    idle_w: float | None
    interconnect: str
    interconnect_bw_bytes_per_s: float | None
    msrp_usd: float | None
    cloud_usd_per_h: float | None
    price_date: str
    sources: Mapping[str, Source]
    field_sources: Mapping[str, str]
    peak_notes: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""
    path: str = ""
    measured: Measured | None = None
    vector_ops_per_s: Mapping[str, float] = field(default_factory=dict)  # vector-unit rates (VECTOR_DTYPES)
    acc16_ops_per_s: Mapping[str, float] = field(default_factory=dict)  # fp16-accumulate tensor rates (ACC16_DTYPES)
    # the largest-matmul rate a published benchmark measured, per dtype (cited): the device's own compute ceiling
    achievable_ops_per_s: Mapping[str, float] = field(default_factory=dict)
    vendor_memory_bytes: float | None = None  # the vendor's "GB" figure where capacity is the exposed one
    # optional [compute] section: what a static instruction count needs to become time
    sm_count: int | None = None  # streaming multiprocessors (compute units) enabled
    boost_clock_hz: float | None = None  # maximum boost clock of the SMs
    schedulers_per_sm: int | None = None  # warp schedulers a SM (instructions issued a cycle a SM)
    prices: tuple[Price, ...] = ()  # every public quote: [price] (legacy, one per basis) and [[prices]]
    unreliable: Mapping[str, str] = field(default_factory=dict)  # field (e.g. "power.tdp_w") -> why it is not trusted

    def reference_price(self, basis: str) -> Price | None:
        """The price a ranking on ``basis`` uses (``reference_price``); None when the basis has no quote."""
        return reference_price(self.prices, basis)

    def unreliable_reason(self, *fields: str) -> str:
        """The reasons (joined) why any of ``fields`` (field names or prefixes such as "price.") is not trusted."""
        out = [f"{f}: {why}" for f, why in sorted(self.unreliable.items())
               if any(f == x or (x.endswith(".") and f.startswith(x)) for x in fields)]
        return "; ".join(out)

    def peak(self, dtype: str) -> float | None:
        """Dense peak ops/s for a dtype, or None when the device does not support it."""
        return self.peak_ops_per_s.get(dtype)

    def vector_peak(self, dtype: str = "fp32") -> float | None:
        """Rate of the vector (non-matrix) units: the published vector figure, else the dense fp32 peak
        (on GPUs the fp32 figure is the CUDA-core / vector rate), else None (unknown, never guessed)."""
        if dtype in self.vector_ops_per_s:
            return self.vector_ops_per_s[dtype]
        return self.peak("fp32") if dtype == "fp32" else None

    def peak_acc16(self, dtype: str) -> float | None:
        """Dense tensor rate with fp16 accumulation where it is published apart from ``peak`` (None elsewhere:
        on most parts the two are the same rate)."""
        return self.acc16_ops_per_s.get(dtype)

    def ridge_flop_per_byte(self, dtype: str) -> float | None:
        """Arithmetic intensity (FLOP/byte) where the dtype's compute roof meets the memory roof."""
        p = self.peak(dtype)
        return None if p is None else p / self.mem_bw_bytes_per_s

    def source_of(self, field_name: str) -> Source:
        """The source behind a numeric field, e.g. ``peak.bf16`` or ``memory.bw_bytes_per_s``."""
        return self.sources[self.field_sources[field_name]]

    @property
    def supported_dtypes(self) -> tuple[str, ...]:
        return tuple(d for d in DTYPES if d in self.peak_ops_per_s)


def frozen_map(d: Mapping) -> Mapping:
    return MappingProxyType(dict(d))
