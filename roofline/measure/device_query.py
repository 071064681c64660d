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

# driver-reported name -> hwdb id. The H100 SXM5 reports "NVIDIA H100 80GB HBM3" (PCIe: "NVIDIA H100
# PCIe", NVL: "NVIDIA H100 NVL" -- different devices, not matched to the SXM entry).
DRIVER_NAMES = {"nvidia h100 80gb hbm3": "h100-sxm"}
MEMORY_TOLERANCE = 0.12  # drivers report total memory in GiB-ish units minus reservations (80 GB -> 79.1 GiB)


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
        return LocalDevice(mid, name, "gpu", "cuda", mem, driver, software_versions(driver), note)
    name = cpu_name()
    if device_id:
        return LocalDevice(device_id, name, "cpu", "cpu", versions=software_versions(),
                           match_note=f"--device {device_id} (local CPU {name!r})")
    return LocalDevice("", name, "cpu", "cpu", versions=software_versions(),
                       match_note="CPU host: matched to no hwdb device (pass --device ID)")
