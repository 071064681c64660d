"""The energy screen: energy coefficients, energy rooflines, measured energy points, IPW tables.

Pure functions to DataFrames; every frame carries ``kind`` (datasheet | modeled | measured) and ``source``.
No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hwdb.schema import Device
from roofline.engine.efficiency import efficiency_for
from roofline.engine.energy import coefficients_for
from roofline.engine.model import attainable_flops_per_s
from roofline.provenance import MEASURED, MODELED
from roofline.views.common import X_MAX, X_MIN, finite_or_none
from roofline.views.measured import row_labels


def energy_coefficients(devices: Iterable[Device]) -> pd.DataFrame:
    """Energy-model coefficients per (device, dtype): dynamic J/FLOP, J/byte, idle W, kind, source."""
    rows = []
    for d in devices:
        c = coefficients_for(d)
        for dt in d.supported_dtypes:
            measured_dt = d.measured is not None and dt in d.measured.e_flop_j
            rows.append({"device_id": d.id, "device": d.name, "dtype": dt, "e_flop_j": c.e_flop_j.get(dt),
                         "e_byte_j": c.e_byte_j, "idle_w": c.idle_w,
                         "kind": MEASURED if measured_dt else MODELED,
                         "byte_kind": MEASURED if d.measured is not None and d.measured.e_byte_j else MODELED,
                         "source": c.source if measured_dt else default_energy_source(d)})
    return pd.DataFrame(rows, columns=["device_id", "device", "dtype", "e_flop_j", "e_byte_j", "idle_w", "kind",
                                       "byte_kind", "source"])


def default_energy_source(d: Device) -> str:
    return coefficients_for(d, calibrated=False).source


def energy_roofline(devices: Iterable[Device], dtypes: Sequence[str] | None = None, n: int = 60,
                    x_min: float = X_MIN, x_max: float = X_MAX) -> pd.DataFrame:
    """Energy per FLOP vs intensity for a kernel running at the attainable rate (energy roofline):
    J/FLOP(I) = e_flop[dtype] + e_byte / I + P_idle / attainable(I). Columns: device_id, device, dtype, x,
    j_per_flop, kind, source."""

    xs = np.logspace(math.log10(x_min), math.log10(x_max), n)
    rows = []
    for d in devices:
        c = coefficients_for(d)
        eff = efficiency_for(d)
        for dt in d.supported_dtypes:
            if dtypes and dt not in dtypes:
                continue
            ef = c.e_flop_j.get(dt, 0.0)
            kind = MEASURED if (d.measured is not None and dt in d.measured.e_flop_j) else MODELED
            for x in xs:
                att = attainable_flops_per_s(float(x), d, dt, eff)
                rows.append({"device_id": d.id, "device": d.name, "dtype": dt, "x": float(x),
                             "j_per_flop": ef + c.e_byte_j / x + c.idle_w / att, "kind": kind,
                             "source": c.source})
    return pd.DataFrame(rows, columns=["device_id", "device", "dtype", "x", "j_per_flop", "kind", "source"])


def measured_energy_points(cmp: pd.DataFrame) -> pd.DataFrame:
    """Trace rows with measured energy as energy-roofline points: x = intensity, y = J/FLOP (measured) and
    the modeled J/FLOP of the same call. Columns: label, kernel, device_id, x, y_measured, y_modeled, kind,
    source."""
    cols = ["label", "kernel", "device_id", "x", "y_measured", "y_modeled", "kind", "source"]
    if cmp.empty:
        return pd.DataFrame(columns=cols)
    m = cmp[(cmp["energy_j"] > 0) & (cmp["flops"] > 0) & (cmp["bytes"] > 0)
            & cmp["energy_method"].isin(["nvml-counter", "rapl"])]
    out = pd.DataFrame({"label": row_labels(m), "kernel": m["kernel"], "device_id": m["device_id"],
                        "x": m["flops"] / m["bytes"], "y_measured": m["energy_j"] / m["flops"],
                        "y_modeled": m["predicted_energy_j"] / m["flops"], "kind": MEASURED,
                        "source": "trace " + m["run_id"].astype(str) + " (" + m["energy_method"] + ")"})
    return out.reset_index(drop=True)[cols]


# One part of each class a buyer weighs (data center, workstation, laptop, edge), for the IPW heatmap's first view.
IPW_DEFAULT_DEVICES = ("b200", "h200", "h100-sxm", "mi300x", "l40s", "l4", "rtx-5090", "rtx-4090", "apple-m4-max",
                       "jetson-agx-orin-64gb", "jetson-orin-nano")


def default_ipw_devices(ids: Sequence[str]) -> list[str]:
    """IPW_DEFAULT_DEVICES that exist among ``ids`` (else the first eight ids)."""
    have = [i for i in IPW_DEFAULT_DEVICES if i in set(ids)]
    return have or list(ids)[:8]


def ipw_long(ranked: dict[str, pd.DataFrame], models: dict) -> pd.DataFrame:
    """IPW / IPJ per (model, device) from select.rank() frames keyed by model id; accuracy carries its benchmark
    and source. Columns: model_id, device_id, device, ipw, ipj, j_per_token, fits, benchmark, accuracy_pct,
    accuracy_source, kind."""
    rows = []
    for mid, df in ranked.items():
        m = models[mid]
        acc = m.accuracy_for() if hasattr(m, "accuracy_for") else (m.accuracy[0] if m.accuracy else None)
        for r in df.itertuples(index=False):
            rows.append({"model_id": mid, "device_id": r.device_id, "device": r.name,
                         "ipw": finite_or_none(r.ipw) if r.fits else None,
                         "ipj": finite_or_none(r.ipj) if r.fits else None,
                         "j_per_token": finite_or_none(r.j_per_token) if r.fits else None, "fits": bool(r.fits),
                         "benchmark": acc.benchmark if acc else "", "accuracy_pct": acc.value_pct if acc else None,
                         "accuracy_source": acc.source if acc else "", "kind": MODELED})
    return pd.DataFrame(rows, columns=["model_id", "device_id", "device", "ipw", "ipj", "j_per_token", "fits",
                                       "benchmark", "accuracy_pct", "accuracy_source", "kind"])
