"""Data shaping for measured runs: uploads, measured-vs-modeled points, energy rooflines, IPW.

Split from roofline.views (which re-exports these names). Every frame carries ``kind`` and ``source``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hwdb.schema import Device
from roofline import views as _views
from roofline.efficiency import efficiency_for
from roofline.energy import coefficients_for
from roofline.errors import InputError
from roofline.views import MEASURED, MODELED, X_MAX, X_MIN, finite_or_none

# ---------------------------------------------------------------------------------------------- measurements


def upload_kind(name: str, data: bytes) -> str:
    """'trace' (Parquet / trace CSV), 'ncu' (Nsight Compute CSV) or 'kineto' (torch.profiler JSON)."""
    low = name.lower()
    if low.endswith((".json", ".json.gz")):
        return "kineto"
    if low.endswith(".csv") and _looks_like_ncu(data):
        return "ncu"
    return "trace"


def read_upload(name: str, data: bytes, device_id: str = "", device_name: str = "", dtype: str = "bf16") -> pd.DataFrame:
    """An uploaded file as trace rows: Parquet / trace CSV as is; an Nsight Compute CSV or a Kineto JSON through
    their importers, attributed to ``device_id`` (those files do not say which hwdb device ran them; ncu rows
    carry ncu's FLOPs and bytes, Kineto rows only times). Raises InputError (too large, empty, unknown type,
    importer missing) or the reader's RooflineError."""
    from roofline import traces

    limit = _views.MAX_UPLOAD_BYTES  # read at call time: one knob for the app and its tests
    if len(data) > limit:
        raise InputError(f"{name}: {len(data) / 2**20:.0f} MiB is larger than the {limit // 2**20} MiB "
                         "upload limit; copy the run folder under traces/ instead")
    if not data:
        raise InputError(f"{name}: the file is empty")
    kind = upload_kind(name, data)
    run_id = f"upload:{name}"
    if kind == "kineto":
        read = _optional_reader("roofline.kineto", "read_kineto", "Kineto JSON")
        to_rows = _optional_reader("roofline.kineto", "kineto_trace_rows", "Kineto JSON")
        rows = to_rows(read(data), run_id, device_id, device_name)
    elif kind == "ncu":
        read = _optional_reader("roofline.ncu", "read_ncu_csv", "Nsight Compute CSV")
        to_rows = _optional_reader("roofline.ncu", "ncu_trace_rows", "Nsight Compute CSV")
        rows = to_rows(read(data), run_id, device_id, device_name, dtype)
    elif name.lower().endswith((".parquet", ".pq", ".csv")):
        return traces.read_trace_bytes(data, name)
    else:
        raise InputError(f"{name}: unknown file type (upload .parquet, a trace .csv, an ncu .csv or a Kineto .json)")
    if not rows:
        raise InputError(f"{name}: no kernel rows found")
    return traces.normalize(pd.DataFrame(rows))


def _looks_like_ncu(data: bytes) -> bool:
    head = data[:4096].decode("utf-8", "replace")
    return '"Kernel Name"' in head or "Metric Name" in head or '"ID","Process ID"' in head


def _optional_reader(module: str, fn: str, what: str):
    import importlib

    try:
        return getattr(importlib.import_module(module), fn)
    except (ModuleNotFoundError, AttributeError):
        raise InputError(f"the {what} importer ({module}.{fn}) is not installed") from None


def row_labels(df: pd.DataFrame) -> pd.Series:
    """'kernel [impl] shape dtype' for each trace row."""
    if df.empty:
        return pd.Series([], dtype=object)
    return (df["kernel"].astype(str) + " [" + df["impl"].astype(str) + "] " + df["shape"].astype(str).str.slice(0, 60)
            + " " + df["dtype"].astype(str))


def measured_points(cmp: pd.DataFrame) -> pd.DataFrame:
    """compare() rows as roofline points: x = intensity, y_measured = achieved FLOP/s, y_modeled = flops /
    predicted time; rows without a finite intensity, achieved rate or prediction are dropped.

    Columns: label, kernel, impl, device_id, dtype, x, y_measured, y_modeled, median_s, predicted_s, pct_of_roof,
    time_err, bound, energy_j, energy_method, kind, source."""
    cols = ["label", "kernel", "impl", "device_id", "dtype", "x", "y_measured", "y_modeled", "median_s",
            "predicted_s", "pct_of_roof", "time_err", "bound", "energy_j", "energy_method", "kind", "source"]
    if cmp.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({
        "label": row_labels(cmp), "kernel": cmp["kernel"], "impl": cmp["impl"], "device_id": cmp["device_id"],
        "dtype": cmp["dtype"], "x": cmp["intensity"], "y_measured": cmp["achieved_flops_per_s"],
        "y_modeled": cmp["flops"] / cmp["predicted_s"], "median_s": cmp["median_s"],
        "predicted_s": cmp["predicted_s"], "pct_of_roof": cmp["pct_of_roof"], "time_err": cmp["time_err"],
        "bound": cmp["bound"], "energy_j": cmp["energy_j"], "energy_method": cmp["energy_method"],
        "kind": MEASURED, "source": "trace " + cmp["run_id"].astype(str)})
    ok = np.isfinite(out[["x", "y_measured", "y_modeled"]].astype(float)).all(axis=1) & (out["x"] > 0) \
        & (out["y_measured"] > 0)
    return out[ok].reset_index(drop=True)[cols]


def error_band(cmp: pd.DataFrame, coverage: float = 0.8) -> tuple[float, float] | None:
    """The central ``coverage`` interval of measured / predicted time (e.g. (0.9, 1.3)), None without data."""
    if cmp.empty or "time_err" not in cmp:
        return None
    r = (cmp["time_err"].astype(float) + 1.0).to_numpy()
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        return None
    q = (1 - coverage) / 2
    return float(np.quantile(r, q)), float(np.quantile(r, 1 - q))


def measurement_table(cmp: pd.DataFrame) -> pd.DataFrame:
    """Per-row view: measured and modeled numbers side by side, with the error, % of roof and energy per call.

    Columns: label, device_id, median_s (measured), predicted_s (modeled), time_err, pct_of_roof, bound,
    energy_j (measured, or modeled when the energy method says so), predicted_energy_j, energy_err, energy_kind,
    power_w, run_id."""
    cols = ["label", "device_id", "median_s", "predicted_s", "time_err", "pct_of_roof", "bound", "energy_j",
            "predicted_energy_j", "energy_err", "energy_kind", "power_w", "run_id"]
    if cmp.empty:
        return pd.DataFrame(columns=cols)
    out = cmp.assign(label=row_labels(cmp))
    out["energy_kind"] = np.where(out["energy_method"].isin(["nvml-counter", "rapl"]), MEASURED,
                                  np.where(out["energy_j"].notna(), MODELED, ""))
    return out[cols].reset_index(drop=True)


def energy_per_call(cmp: pd.DataFrame) -> pd.DataFrame:
    """Measured vs modeled energy per call for rows with a measured energy. Columns: label, device_id,
    energy_j, predicted_energy_j, energy_err, j_per_flop, j_per_byte, energy_method, kind, source."""
    cols = ["label", "device_id", "energy_j", "predicted_energy_j", "energy_err", "j_per_flop", "j_per_byte",
            "energy_method", "kind", "source"]
    if cmp.empty:
        return pd.DataFrame(columns=cols)
    m = cmp[cmp["energy_j"].notna() & (cmp["energy_j"] > 0)]
    out = pd.DataFrame({"label": row_labels(m), "device_id": m["device_id"], "energy_j": m["energy_j"],
                        "predicted_energy_j": m["predicted_energy_j"], "energy_err": m["energy_err"],
                        "j_per_flop": m["energy_j"] / m["flops"].where(m["flops"] > 0),
                        "j_per_byte": m["energy_j"] / m["bytes"].where(m["bytes"] > 0),
                        "energy_method": m["energy_method"],
                        "kind": np.where(m["energy_method"].isin(["nvml-counter", "rapl"]), MEASURED, MODELED),
                        "source": "trace " + m["run_id"].astype(str)})
    return out.reset_index(drop=True)[cols]


# ---------------------------------------------------------------------------------------------- energy


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
    from roofline.model import attainable_flops_per_s

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
