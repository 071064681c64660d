"""Energy model: E = P_idle * t + sum(e_flop[dtype] * flops) + e_byte * bytes, per device.

``coefficients_for(device)`` returns calibrated coefficients where the device was measured
(hwdb measured overlay) and documented defaults derived from datasheet TDP otherwise.
Units: W, J per FLOP, J per DRAM byte. The e_* terms are *dynamic* (above idle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pandas as pd

import hwdb
from hwdb.schema import DTYPES, Device
from roofline.engine.efficiency import efficiency_for
from roofline.provenance import MEASURED, MODELED

# Default derivation (documented; replaced by calibration where measured):
# - idle power: published idle where the file has one, else IDLE_FRACTION[kind] * TDP
#   (H100 SXM: 0.10 * 700 W = 70 W vs 72.8 W measured cold, shared/anchors 2026-11-22).
# - a compute-bound kernel at its attainable rate draws about the whole TDP headroom:
#   e_flop[dt] = COMPUTE_POWER_SHARE * (TDP - idle) / (peak[dt] * eff_c)
#   (H100 bf16: 0.95 * 627 W / 742 TF/s = 0.80 pJ dynamic; measured 1.0 pJ counting idle).
# - a memory-bound kernel at attainable bandwidth draws about 65% of the headroom:
#   e_byte = MEMORY_POWER_SHARE * (TDP - idle) / (bw * eff_m)
#   (H100: 0.65 * 627 W / 2.85 TB/s = 143 pJ; measured 132 pJ counting idle on a copy).
IDLE_FRACTION = {"gpu": 0.10, "accelerator": 0.15, "cpu": 0.30, "soc": 0.10}
COMPUTE_POWER_SHARE = 0.95
MEMORY_POWER_SHARE = 0.65


@dataclass(frozen=True)
class EnergyCoefficients:
    idle_w: float
    e_flop_j: Mapping[str, float] = field(default_factory=dict)  # per dtype, dynamic J/FLOP
    e_byte_j: float = 0.0  # dynamic J per DRAM byte
    kind: str = MODELED  # modeled (derived from datasheet TDP) or measured (calibrated)
    source: str = "roofline.engine.energy defaults"

    def energy_j(self, time_s: float, flops: float, bytes_moved: float, dtype: str) -> float:
        return self.idle_w * time_s + self.e_flop_j.get(dtype, 0.0) * flops + self.e_byte_j * bytes_moved

    def dynamic_energy_j(self, flops: float, bytes_moved: float, dtype: str) -> float:
        return self.e_flop_j.get(dtype, 0.0) * flops + self.e_byte_j * bytes_moved


def default_coefficients(device: Device) -> EnergyCoefficients:
    eff = efficiency_for(device, calibrated=False)
    idle = device.idle_w if device.idle_w is not None else IDLE_FRACTION[device.kind] * device.tdp_w
    headroom = max(device.tdp_w - idle, 0.0)
    e_flop = {dt: COMPUTE_POWER_SHARE * headroom / (peak * eff.compute_for(dt))
              for dt, peak in device.peak_ops_per_s.items()}
    e_byte = MEMORY_POWER_SHARE * headroom / (device.mem_bw_bytes_per_s * eff.memory)
    src = "published idle" if device.idle_w is not None else f"idle = {IDLE_FRACTION[device.kind]:.2f} x TDP"
    return EnergyCoefficients(idle_w=idle, e_flop_j=MappingProxyType(e_flop), e_byte_j=e_byte, kind=MODELED,
                              source=f"derived from datasheet TDP ({src}); roofline.engine.energy")


def coefficients_for(device: Device, calibrated: bool = True) -> EnergyCoefficients:
    """Calibrated coefficients where measured (missing entries fall back to defaults)."""
    base = default_coefficients(device)
    m = device.measured
    if not calibrated or m is None or (m.idle_power_w is None and not m.e_flop_j and m.e_byte_j is None):
        return base
    e_flop = dict(base.e_flop_j)
    e_flop.update(m.e_flop_j)
    return EnergyCoefficients(
        idle_w=m.idle_power_w if m.idle_power_w is not None else base.idle_w,
        e_flop_j=MappingProxyType(e_flop),
        e_byte_j=m.e_byte_j if m.e_byte_j is not None else base.e_byte_j,
        kind=MEASURED, source=f"{m.run_id} ({m.date})",
    )


# ---- intelligence per watt / per joule (Saad-Falcon et al., "Intelligence per Watt") -------------------

def ipw(accuracy_fraction: float, avg_power_w: float) -> float:
    """Intelligence per watt: accuracy (fraction, e.g. 0.667 for 66.7% MMLU) / mean power (W). Units: 1/W."""
    return accuracy_fraction / avg_power_w


def ipj(accuracy_fraction: float, energy_per_query_j: float) -> float:
    """Intelligence per joule: accuracy (fraction) / energy of one query (J). Units: 1/J."""
    return accuracy_fraction / energy_per_query_j


def coefficients_table(devices: list[Device] | None = None, calibrated: bool = True):
    """Every device's energy coefficients as a DataFrame (device_id, kind, idle_w, e_byte_j, e_flop_<dtype>_j,
    source): the documented defaults, or the calibrated values where the device was measured."""


    devs = list(hwdb.load().values()) if devices is None else devices
    rows = []
    for d in devs:
        c = coefficients_for(d, calibrated)
        rows.append({"device_id": d.id, "kind": c.kind, "idle_w": c.idle_w, "e_byte_j": c.e_byte_j,
                     **{f"e_flop_{dt}_j": c.e_flop_j.get(dt) for dt in DTYPES}, "source": c.source})
    return pd.DataFrame(rows)
