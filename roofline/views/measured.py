"""The measurements screen: uploads as trace rows, measured-vs-modeled points, the error band, energy per call.

Pure functions to DataFrames; every frame carries ``kind`` (datasheet | modeled | measured) and ``source``.
No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from roofline.analysis.attribution import compare
from roofline.errors import InputError
from roofline.measure import traces
from roofline.provenance import MEASURED, MODELED, STATIC

MAX_UPLOAD_BYTES = 50 * 2**20  # a trace upload larger than this is refused with a message (the app keeps running)




def upload_needs_device(name: str, data: bytes) -> bool:
    """True for exports that do not say which hwdb device ran them (Nsight Compute CSV, Kineto JSON): the
    dashboard then asks for the device."""
    return traces.export_kind(name, data) != "trace"


def read_upload(name: str, data: bytes, device_id: str = "", device_name: str = "", dtype: str = "bf16") -> pd.DataFrame:
    """An uploaded file as trace rows (``traces.read_export``: Parquet / trace CSV as is; an Nsight Compute CSV
    or a Kineto JSON through their importers, attributed to ``device_id``), under the dashboard's upload size
    limit. Raises InputError (too large, empty) or the reader's RooflineError."""
    limit = MAX_UPLOAD_BYTES  # a module global read at call time: one knob for the app and its tests
    if len(data) > limit:
        raise InputError(f"{name}: {len(data) / 2**20:.0f} MiB is larger than the {limit // 2**20} MiB "
                         "upload limit; copy the run folder under traces/ instead")
    return traces.read_export(name, data, device_id, device_name, dtype)




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


def traces_dir() -> str:
    """The traces root the views read (``$ROOFLINE_TRACES`` or the repo's traces/), for display."""
    return str(traces.traces_root())


def run_records(root: str | None = None) -> list[dict]:
    """Trace runs on disk as records {run_id, path, device_id, start}; [] when none or the folder is unreadable
    (a broken traces folder must not take a page down)."""
    try:
        runs = traces.list_runs(root)
    except Exception:
        return []
    return [{"run_id": r.run_id, "path": str(r.path), "device_id": (r.manifest or {}).get("device_id", ""),
             "start": (r.manifest or {}).get("start", "")} for r in runs]


def run_manifests(root: str | None = None) -> dict[str, dict]:
    """run id -> manifest of every run on disk (raises TraceError on an unreadable traces folder)."""
    return {r.run_id: dict(r.manifest or {}) for r in traces.list_runs(root)}


def compared_runs(run_ids: Sequence[str], root: str | None = None, strict: bool = False,
                  assign: tuple[str, str, Sequence[str]] | None = None) -> pd.DataFrame:
    """``attribution.compare`` of the chosen runs' rows (model beside measurement); an empty frame when nothing
    loads. ``strict``: an unreadable run raises (reports); else it is skipped (the dashboard keeps the others).
    ``assign`` = (device_id, device_name, known ids): rows from a host that matched no known device are
    attributed to that device first (``assign_device``)."""
    frames = []
    for rid in run_ids:
        try:
            frames.append(traces.load_run(rid, root))
        except Exception:
            if strict:
                raise
            continue
    df = pd.concat(frames, ignore_index=True) if frames else traces.empty_frame()
    if assign is not None and assign[0]:
        df = assign_device(df, *assign)
    return compare(df)


def unmatched_devices(rows: pd.DataFrame, known: Sequence[str]) -> list[str]:
    """Device ids of rows that name no known device ('' for a host the profiler could not match), sorted."""
    if rows.empty or "device_id" not in rows:
        return []
    ids = rows["device_id"].fillna("").astype(str)
    return sorted(set(ids[~ids.isin(list(known))]))


def assign_device(rows: pd.DataFrame, device_id: str, device_name: str, known: Sequence[str]) -> pd.DataFrame:
    """A copy of trace rows where every row whose device is not among ``known`` is attributed to ``device_id``
    (the user's answer to "which device ran this?"); rows of known devices keep theirs."""
    out = rows.copy()
    ids = out["device_id"].fillna("").astype(str)
    bad = ~ids.isin(list(known))
    if "device_name" in out:
        out.loc[bad, "device_name"] = device_name
    out.loc[bad, "device_id"] = device_id
    return out


def guess_device(names: Sequence[str], devices: dict) -> str:
    """The hwdb id whose name or id shares the most words with the reported device names (e.g. 'Apple M4 Max'),
    '' when fewer than two words match or two devices match equally (an 'NVIDIA H100 80GB' could be the SXM or
    the PCIe part). A guess to preselect, never applied without the user seeing it."""
    words = {w for n in names for w in str(n).lower().replace("-", " ").split() if len(w) > 1}
    if not words:
        return ""
    scores = sorted(((len(words & set(f"{d.name} {did}".lower().replace("-", " ").split())), did)
                     for did, d in devices.items()), reverse=True)
    if not scores or scores[0][0] < 2 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
        return ""
    return scores[0][1]


def profile_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per row: kernel, impl, shape, dtype, median_s, pct_of_roof, energy_j, energy_method (for display)."""

    cols = ["kernel", "impl", "shape", "dtype", "median_s", "p20_s", "p80_s", "pct_of_roof", "bound",
            "energy_j", "energy_method", "max_err"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    return compare(rows)[cols]


STATIC_COLUMNS = ["kernel", "shape", "dtype", "device_id", "arch", "launches", "mma", "regs", "spill_bytes",
                  "instr_per_weight", "instr_per_byte", "issue_floor_s", "memory_floor_s", "compute_floor_s",
                  "predicted_bound", "predicted_s", "kind", "source"]


def static_summary(static: pd.DataFrame) -> pd.DataFrame:
    """One row per inspected kernel call (its first-choice launches): MMA kind, the largest register count,
    spills, instructions a weight / a KV byte of its main launch, the issue floor (launches run one after
    another), the memory and compute floors, the bound and the predicted time (the largest floor).
    Columns: STATIC_COLUMNS; kind "static"."""
    if static is None or static.empty:
        return pd.DataFrame(columns=STATIC_COLUMNS)
    first = static[static["first_choice"].astype(bool)]
    rows = []
    for (k, sh, dt, dev, arch), g in first.groupby(["kernel", "shape_json", "dtype", "device_id", "arch"], sort=True):
        main = g.loc[g["instrs"].idxmax()]
        issue = float(g["issue_floor_s"].sum())
        mem, comp = float(g["memory_floor_s"].iloc[0]), float(g["compute_floor_s"].iloc[0])
        rows.append({"kernel": k, "shape": sh, "dtype": dt, "device_id": dev, "arch": arch, "launches": len(g),
                     "mma": "+".join(sorted(set(g["mma"].astype(str)))), "regs": int(g["regs"].max()),
                     "spill_bytes": int(g["spill_bytes"].sum()), "instr_per_weight": main.get("instr_per_weight"),
                     "instr_per_byte": main.get("instr_per_byte"), "issue_floor_s": issue, "memory_floor_s": mem,
                     "compute_floor_s": comp, "predicted_bound": str(main["predicted_bound"]),
                     "predicted_s": max(issue, mem, comp), "kind": STATIC,
                     "source": str(main.get("static_source", main.get("source", "")))})
    return pd.DataFrame(rows, columns=STATIC_COLUMNS)


def static_rows(root: str | None = None) -> pd.DataFrame:
    """Every saved static inspection under the traces root (``roofline kernels inspect --save``), one row a
    compiled launch; empty when none was saved."""
    return traces.load_static(root)


def static_beside_measured(cmp: pd.DataFrame, static: pd.DataFrame) -> pd.DataFrame:
    """Measured rows of our kernels next to the static prediction of the same call (kernel, shape, dtype,
    device): measured median, the static floors and bound, and measured / static-predicted time. Only calls
    that have both; empty otherwise."""
    s = static_summary(static)
    cols = ["kernel", "shape", "dtype", "device_id", "median_s", "static_predicted_s", "measured_over_static",
            "predicted_bound", "issue_floor_s", "memory_floor_s", "mma", "regs", "spill_bytes", "run_id", "source"]
    if s.empty or cmp is None or cmp.empty:
        return pd.DataFrame(columns=cols)
    ours = cmp[cmp["impl"] == "ours"].copy()
    ours["shape"] = ours["shape"].map(lambda x: json.dumps(json.loads(x), sort_keys=True) if x else "")
    m = ours.merge(s.rename(columns={"predicted_s": "static_predicted_s"}), on=["kernel", "shape", "dtype", "device_id"],
                   suffixes=("", "_static"))
    if m.empty:
        return pd.DataFrame(columns=cols)
    m["measured_over_static"] = m["median_s"] / m["static_predicted_s"]
    m["source"] = m["source_static"] if "source_static" in m else m["source"]
    return m[cols].reset_index(drop=True)
