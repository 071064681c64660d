"""Identify the local device and match it to an hwdb id, refusing to pretend.

A GPU matches an hwdb entry only by its driver-reported name *and* its memory size. A CPU host matches
nothing unless ``--device`` names an id. The raw name is always kept (trace column ``device_name``).
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pynvml

import hwdb
from roofline import __version__

# Driver-reported name (lower case, spaces collapsed) -> hwdb id, or None for a part the database does not
# hold (so it is never attributed to a sibling). Names as nvidia-smi / torch report them: the H100 SXM5 is
# "NVIDIA H100 80GB HBM3", the H200 SXM "NVIDIA H200" (143,771 MiB); PCIe and NVL parts are other devices.
DRIVER_NAMES: dict[str, str | None] = {
    "nvidia h100 80gb hbm3": "h100-sxm",
    "nvidia h100 pcie": "h100-pcie",
    "nvidia h100 nvl": None,  # 94 GB, 400 W: not in hwdb
    "nvidia h200": "h200",
    "nvidia h200 nvl": None,  # the 600 W PCIe part: not in hwdb
    "nvidia gh200 480gb": "gh200",
    "nvidia a100-sxm4-80gb": "a100-sxm-80gb",
    "nvidia a100-sxm4-40gb": "a100-sxm-40gb",
    "nvidia a100 80gb pcie": "a100-pcie-80gb",
    "nvidia b200": "b200",
}
# Drivers expose total memory in binary units minus reservations, and vendors quote "GB" loosely
# (H100 "80 GB" exposes 81,559 MiB = 85.5e9 B; H200 "141 GB" 143,771 MiB = 150.8e9 B): a size within 12%
# of the hwdb capacity confirms the name; a farther one (an 80 GB part under a 40 GB name) refuses it.
MEMORY_TOLERANCE = 0.12


@dataclass(frozen=True)
class LocalDevice:
    device_id: str  # hwdb id, or "" when the local device matched none
    device_name: str  # raw name from the driver or /proc/cpuinfo
    kind: str  # gpu | cpu
    torch_device: str  # cuda | cpu
    memory_bytes: float = 0.0
    driver: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    match_note: str = ""
    properties: dict = field(default_factory=dict)  # what the driver reports: SMs, L2, memory, clocks (SI units)


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def match_device(name: str, memory_bytes: float, devices: dict) -> tuple[str, str]:
    """(hwdb id or '', reason). Name via DRIVER_NAMES or an exact hwdb name; memory within tolerance."""
    key = " ".join(name.lower().split())
    if key in DRIVER_NAMES and DRIVER_NAMES[key] is None:
        return "", f"{name!r} is a part the hardware database does not hold; pass --device ID to attribute it"
    cand = DRIVER_NAMES.get(key)
    if cand is None:
        cand = next((d.id for d in devices.values() if " ".join(d.name.lower().split()) == key), None)
    if cand is None or cand not in devices:
        return "", f"{name!r} matches no hwdb device; pass --device ID to attribute it"
    mem = devices[cand].memory_bytes
    if memory_bytes and abs(memory_bytes - mem) / mem > MEMORY_TOLERANCE:
        return "", (f"{name!r} looks like {cand} but has {memory_bytes / 1e9:.1f} GB, not {mem / 1e9:.0f} GB; "
                    "not matched (pass --device ID)")
    return cand, f"matched {cand} by name and memory"


def software_versions(driver: str = "") -> dict[str, str]:
    v = {"python": sys.version.split()[0], "roofline": __version__}
    try:
        import torch  # lazy: only a GPU query needs it; the CLI starts without torch

        v["torch"] = torch.__version__
        v["cuda"] = torch.version.cuda or ""
    except ImportError:
        pass
    try:
        import triton  # lazy: only a GPU query needs it; the CLI starts without torch

        v["triton"] = triton.__version__
    except ImportError:
        pass
    if driver:
        v["driver"] = driver
    return v


def _nvml_driver() -> str:
    try:
        pynvml.nvmlInit()
        d = pynvml.nvmlSystemGetDriverVersion()
        return d.decode() if isinstance(d, bytes) else str(d)
    except Exception:  # no driver, no library: the manifest says ''
        return ""


def _nvml_clocks(index: int = 0) -> dict[str, float]:
    """Max SM and memory clocks (Hz) and the power limit (W) from NVML; {} where NVML cannot say."""
    out: dict[str, float] = {}
    try:
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        out["max_sm_clock_hz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM) * 1e6
        out["max_mem_clock_hz"] = pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM) * 1e6
        out["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3
    except Exception:  # a field the driver does not expose is left out, not guessed
        pass
    return out


def gpu_properties(props, clocks: dict[str, float]) -> dict:
    """The device as its driver reports it (torch device properties + NVML clocks), SI units."""
    out = {"name": props.name, "sm_count": int(props.multi_processor_count),
           "total_memory_bytes": float(props.total_memory),
           "compute_capability": f"{props.major}.{props.minor}"}
    l2 = getattr(props, "L2_cache_size", None)  # torch >= 2.2 reports it, in bytes
    if l2:
        out["l2_bytes"] = float(l2)
    return {**out, **clocks}


def query_local(device_id: str | None = None, use_gpu: bool = True) -> LocalDevice:
    """The local device (GPU 0 when CUDA works, else the CPU), matched to hwdb. ``device_id`` overrides
    the match (validated: UnknownDeviceError)."""

    devices = hwdb.load()
    if device_id:
        hwdb.get(device_id)
    try:
        import torch  # lazy: only a GPU query needs it; the CLI starts without torch

        has_cuda = use_gpu and torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        props = torch.cuda.get_device_properties(0)
        name, mem = props.name, float(props.total_memory)
        driver = _nvml_driver()
        mid, note = match_device(name, mem, devices)
        if device_id:
            mid, note = device_id, f"--device {device_id} (local {name!r}{'' if mid == device_id else ', unmatched'})"
        return LocalDevice(mid, name, "gpu", "cuda", mem, driver, software_versions(driver), note,
                           gpu_properties(props, _nvml_clocks()))
    name = cpu_name()
    if device_id:
        return LocalDevice(device_id, name, "cpu", "cpu", versions=software_versions(),
                           match_note=f"--device {device_id} (local CPU {name!r})")
    return LocalDevice("", name, "cpu", "cpu", versions=software_versions(),
                       match_note="CPU host: matched to no hwdb device (pass --device ID)")
