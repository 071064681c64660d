"""Runtime profiles: how a serving runtime runs on a device, as data (``roofline/engine/runtimes/<name>.toml``).

A profile scales the device's ceilings (its calibrated or documented efficiencies, ``roofline.engine.efficiency``)
per op class and adds the runtime's own costs:

- ``gemm_eff_<bf16|fp8|int8|4bit>``: fraction of the device's compute ceiling the runtime's GEMMs reach, times
  M / (M + ``gemm_half_rows``) for a GEMM of M rows (tile occupancy and wave quantization at small M);
  ``moe_eff``: routed-expert GEMMs against dense ones (compute and weight streaming);
- ``mem_eff``: fraction of the device's memory ceiling weights and activations stream at;
- ``attn_prefill_eff`` / ``attn_decode_eff``: prefill attention vs the compute ceiling, decode attention (paged
  KV cache) vs the memory ceiling;
- ``launch_s``: per-op gap (s) where the runtime sets one (CUDA graphs), else the device's launch overhead;
- ``step_s``: per forward pass (scheduling, sampling, host sync); ``request_s``: per request, on TTFT;
- ``usable_memory_fraction``: of the capacity the device exposes; ``max_batched_tokens``: chunked-prefill budget;
- ``vendor_eff_<vendor>``: a device-class factor on every roof (a ROCm or Metal backend vs CUDA), 1 = none;
- ``gemm_acc16``: 1 where the runtime's 16-bit GEMMs accumulate in fp16 (cuBLAS ``CUBLAS_COMPUTE_16F``): they run
  on the device's fp16-accumulate tensor rate (hwdb ``acc16_ops_per_s``, GeForce parts: twice the fp32-accumulate
  peak) where it publishes one.

Every number names where it came from: ``basis`` fitted (by ``roofline calibrate --runtime``, with the
validation points it was fitted on and the held-out error beside it), documented (the runtime's docs or code,
cited) or assumed (a stated judgment). ``[band.<device class>]`` holds the held-out log residuals of the profile
(quantiles of log(measured / predicted time)) from which every prediction's band is drawn; ``band."*"`` is the
band for device classes nothing was measured on. The engine only loads these numbers; fitting lives in
``roofline.analysis.runtime_fit``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from hwdb.schema import Device
from roofline.errors import DataFileError, UnknownNameError
from roofline.validate import toml_file

RUNTIMES_DIR = Path(__file__).parent / "runtimes"
DEFAULT_RUNTIME = "ideal"
BASES = ("fitted", "documented", "assumed")
ANY_CLASS = "*"  # the band for device classes without a measurement

# parameter -> (ideal value, unit, meaning)
PARAMS: dict[str, tuple[float, str, str]] = {
    "gemm_eff_bf16": (1.0, "", "16-bit GEMMs vs the device's compute ceiling"),
    "gemm_eff_fp8": (1.0, "", "fp8 GEMMs vs the device's compute ceiling"),
    "gemm_eff_int8": (1.0, "", "int8 GEMMs vs the device's compute ceiling"),
    "gemm_eff_4bit": (1.0, "", "fp4 / int4 GEMMs vs the device's compute ceiling"),
    "gemm_half_rows": (0.0, "tokens", "GEMM rows at which compute efficiency is half its asymptote (tile / wave fill)"),
    "moe_eff": (1.0, "", "MoE expert GEMMs (grouped / routed) vs the dense GEMMs"),
    "mem_eff": (1.0, "", "weight and activation streaming vs the device's memory ceiling"),
    "attn_prefill_eff": (1.0, "", "prefill attention vs the device's compute ceiling"),
    "attn_decode_eff": (1.0, "", "decode attention (KV-cache reads) vs the device's memory ceiling"),
    "launch_s": (math.nan, "s", "per-op launch gap; NaN = the device's launch overhead"),
    "step_s": (0.0, "s", "per forward pass: scheduling, sampling, host synchronization"),
    "request_s": (0.0, "s", "per request, added to TTFT: tokenization, admission, first detokenization"),
    "usable_memory_fraction": (0.9, "", "of the capacity the device exposes"),
    "max_batched_tokens": (0.0, "tokens", "chunked-prefill budget a pass; 0 = prefill in one pass"),
    "gemm_acc16": (0.0, "", "1 = 16-bit GEMMs accumulate in fp16: the device's fp16-accumulate rate where it has one"),
}
VENDOR_PREFIX = "vendor_eff_"
_GEMM_CLASS = {"fp8": "gemm_eff_fp8", "int8": "gemm_eff_int8", "fp4": "gemm_eff_4bit", "int4": "gemm_eff_4bit"}


@dataclass(frozen=True)
class Param:
    """One number of a profile: its value, how it was obtained and from which data points or documents."""

    name: str
    value: float
    basis: str  # fitted | documented | assumed
    sources: tuple[str, ...]  # "document-key: locator (date)" for fitted numbers; a URL + quote otherwise
    held_out_median_err: float | None = None  # median |held-out error| of the points this number was fitted on
    note: str = ""


@dataclass(frozen=True)
class Band:
    """Quantiles of log(measured / predicted time) on held-out points: a time x is in [x e^lo, x e^hi]."""

    device_class: str
    lo: float
    hi: float
    n: int
    coverage: float  # the central probability, e.g. 0.8
    basis: str


@dataclass(frozen=True)
class Document:
    key: str
    title: str
    url: str
    date: str = ""


@dataclass(frozen=True)
class RuntimeProfile:
    """A runtime's efficiencies and costs (see the module doc); ``param(name)`` falls back to the ideal value."""

    name: str
    title: str
    description: str
    params: Mapping[str, Param] = field(default_factory=dict)
    bands: Mapping[str, Band] = field(default_factory=dict)
    documents: tuple[Document, ...] = ()
    held_out: tuple[dict, ...] = ()  # per-document held-out summaries from the fit
    fitted: str = ""  # date of the fit, "" for a documented profile
    path: str = ""
    residuals: tuple[dict, ...] = ()  # every held-out residual the bands came from (point, group, class, value)

    def param(self, name: str) -> float:
        p = self.params.get(name)
        if p is not None:
            return p.value
        if name.startswith(VENDOR_PREFIX):
            return 1.0
        return PARAMS[name][0]

    def gemm_eff(self, compute_dtype: str) -> float:
        return self.param(_GEMM_CLASS.get(compute_dtype, "gemm_eff_bf16"))

    def vendor_eff(self, device: Device) -> float:
        return self.param(VENDOR_PREFIX + vendor_key(device))

    def peak_for(self, device: Device, compute_dtype: str, op_class: str) -> float | None:
        """The device rate an op class runs at under this runtime: the fp16-accumulate tensor rate for the GEMMs
        of a runtime that accumulates 16-bit GEMMs in fp16 (``gemm_acc16``) on a device that publishes one, else
        the dtype's peak."""
        if op_class in ("gemm", "moe") and compute_dtype in ("bf16", "fp16") and self.param("gemm_acc16") >= 0.5:
            acc = device.peak_acc16("fp16")
            if acc:
                return acc
        return device.peak(compute_dtype)

    @property
    def launch_s(self) -> float | None:
        v = self.param("launch_s")
        return None if math.isnan(v) else v

    @property
    def max_batched_tokens(self) -> int:
        return int(self.param("max_batched_tokens"))

    def band_for(self, device: Device) -> Band | None:
        """The band of the device's class, else the one for unmeasured classes, else None."""
        return self.bands.get(device_class(device)) or self.bands.get(ANY_CLASS)

    def with_values(self, **values: float) -> RuntimeProfile:
        """A copy with some parameter values replaced (the fit's trial profiles); provenance marked fitted."""
        params = dict(self.params)
        for k, v in values.items():
            old = params.get(k)
            params[k] = Param(k, float(v), "fitted", old.sources if old else ("trial",), None, "")
        return RuntimeProfile(name=self.name, title=self.title, description=self.description,
                              params=MappingProxyType(params), bands=self.bands, documents=self.documents,
                              held_out=self.held_out, fitted=self.fitted, path=self.path, residuals=self.residuals)


def vendor_key(device: Device) -> str:
    return "".join(c for c in device.vendor.lower() if c.isalnum())


def device_class(device: Device) -> str:
    """The class bands are kept for: vendor and kind (``nvidia-gpu``, ``amd-gpu``, ``apple-soc``, ...)."""
    return f"{vendor_key(device)}-{device.kind}"


# ---- loading --------------------------------------------------------------------------------------------------

def _err(path: Path, where: str, msg: str) -> DataFileError:
    return DataFileError(f"{path.name}: {where}: {msg}")


def _num(path: Path, where: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(path, where, f"expected a number, got {v!r}")
    return float(v)


def parse_profile(path: Path, raw: dict) -> RuntimeProfile:
    """Validate one profile document; raise DataFileError naming the file and the field."""
    allowed = {"name", "title", "description", "fitted", "document", "param", "band", "held_out", "residual"}
    for k in raw:
        if k not in allowed:
            raise _err(path, k, "unknown field")
    for k in ("name", "title"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            raise _err(path, k, "missing or not a string")
    docs = []
    for i, d in enumerate(raw.get("document", [])):
        if not isinstance(d, dict) or not d.get("key") or not d.get("title") or not str(d.get("url", "")).startswith("http"):
            raise _err(path, f"document[{i}]", "needs key, title and an http(s) url")
        docs.append(Document(str(d["key"]), str(d["title"]), str(d["url"]), str(d.get("date", ""))))
    params: dict[str, Param] = {}
    rp = raw.get("param", {})
    if not isinstance(rp, dict) or not rp:
        raise _err(path, "param", "missing table of parameters (a profile states where each number comes from)")
    for name, p in rp.items():
        where = f"param.{name}"
        if name not in PARAMS and not name.startswith(VENDOR_PREFIX):
            raise _err(path, where, f"unknown parameter (known: {', '.join(PARAMS)}, {VENDOR_PREFIX}<vendor>)")
        if not isinstance(p, dict):
            raise _err(path, where, "must be a table {value, basis, sources}")
        extra = set(p) - {"value", "basis", "sources", "held_out_median_err", "note"}
        if extra:
            raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
        if "value" not in p:
            raise _err(path, f"{where}.value", "missing field")
        value = float("nan") if p["value"] == "device" else _num(path, f"{where}.value", p["value"])
        if p.get("basis") not in BASES:
            raise _err(path, f"{where}.basis", f"must be one of {', '.join(BASES)}")
        src = p.get("sources")
        if not isinstance(src, list) or not src or not all(isinstance(s, str) and s for s in src):
            raise _err(path, f"{where}.sources", "has no sources (every number names where it came from)")
        if name != "launch_s" and not value >= 0:
            raise _err(path, f"{where}.value", f"must be >= 0, got {value!r}")
        held = p.get("held_out_median_err")
        params[name] = Param(name, value, p["basis"], tuple(src),
                             None if held is None else _num(path, f"{where}.held_out_median_err", held),
                             str(p.get("note", "")))
    if any(p.basis == "fitted" for p in params.values()) and not docs:
        raise _err(path, "document", "a fitted profile lists the documents its points come from")
    bands: dict[str, Band] = {}
    for cls, b in raw.get("band", {}).items():
        where = f"band.{cls}"
        if not isinstance(b, dict) or not {"lo", "hi", "n", "basis"} <= set(b):
            raise _err(path, where, "needs lo, hi, n and basis")
        lo, hi = _num(path, f"{where}.lo", b["lo"]), _num(path, f"{where}.hi", b["hi"])
        if lo > hi:
            raise _err(path, where, f"lo {lo} > hi {hi}")
        bands[cls] = Band(cls, lo, hi, int(b["n"]), float(b.get("coverage", 0.8)), str(b["basis"]))
    held_out = tuple(dict(h) for h in raw.get("held_out", []))
    residuals = []
    for i, r in enumerate(raw.get("residual", [])):
        if not isinstance(r, dict) or not {"point", "group", "device_class", "measured_class", "value"} <= set(r):
            raise _err(path, f"residual[{i}]", "needs point, group, device_class, measured_class and value")
        residuals.append(dict(r))
    return RuntimeProfile(name=raw["name"], title=raw["title"], description=str(raw.get("description", "")),
                          params=MappingProxyType(params), bands=MappingProxyType(bands), documents=tuple(docs),
                          held_out=held_out, fitted=str(raw.get("fitted", "")), path=str(path),
                          residuals=tuple(residuals))


def load_profile_file(path: str | Path) -> RuntimeProfile:
    p = Path(path)
    return parse_profile(p, toml_file(p))


@lru_cache(maxsize=1)
def load_profiles() -> dict[str, RuntimeProfile]:
    """Every shipped profile keyed by name."""
    out: dict[str, RuntimeProfile] = {}
    for path in sorted(RUNTIMES_DIR.glob("*.toml")):
        if path.name == "validation.toml":
            continue
        prof = load_profile_file(path)
        if prof.name != path.stem:
            raise DataFileError(f"{path.name}: name: {prof.name!r} does not match the file name")
        out[prof.name] = prof
    return out


def get_profile(runtime: str | RuntimeProfile | None = None) -> RuntimeProfile:
    """A profile by name (or a profile file path ending in .toml); None = the default runtime."""
    if isinstance(runtime, RuntimeProfile):
        return runtime
    name = runtime or DEFAULT_RUNTIME
    if name.endswith(".toml"):
        return load_profile_file(name)
    profiles = load_profiles()
    if name not in profiles:
        raise UnknownNameError("runtime", name, list(profiles))
    return profiles[name]


def runtime_names() -> list[str]:
    return sorted(load_profiles())
