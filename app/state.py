"""Session plumbing for the dashboard: URL query parameters that keep a selection, and cached loaders.

A page seeds each widget's value from the URL once (``init``), renders the widget with that key, then
writes the selection back (``sync``) so the address bar always holds a shareable view.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

import hwdb
from roofline.analysis.attribution import compare
from roofline.engine.catalog import load_models
from roofline.engine.predict import predict
from roofline.engine.select import rank
from roofline.errors import RooflineError
from roofline.views import hardware as views_hardware
from roofline.views import measured as views_measured
from roofline.views import workload as views_workload

# ------------------------------------------------------------------------------------------ query params


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, (list, tuple)):
        return [s for s in raw.split(",") if s]
    return raw


def _dump(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def init(key: str, default: Any, options: Sequence[Any] | None = None,
         lo: float | None = None, hi: float | None = None) -> None:
    """Seed ``st.session_state[key]`` from ``?key=`` (once per widget life); bad values fall back to ``default``.

    ``options`` restricts the value (for a list: each item, unknown items dropped); ``lo``/``hi`` clamp numbers.
    """
    if key in st.session_state:
        return
    value = default
    raw = st.query_params.get(key)
    if raw is not None:
        try:
            value = _parse(raw, default)
        except ValueError:
            value = default
    if options is not None:
        opts = list(options)
        if isinstance(value, list):
            value = [v for v in value if v in opts]
        elif value not in opts:
            value = default if default in opts else (opts[0] if opts else default)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if lo is not None:
            value = type(default)(max(value, lo))
        if hi is not None:
            value = type(default)(min(value, hi))
    st.session_state[key] = value


def sync(*keys: str) -> None:
    """Write the current widget values of ``keys`` into the URL (only the ones that changed)."""
    for k in keys:
        if k not in st.session_state:
            continue
        v = _dump(st.session_state[k])
        if st.query_params.get(k) != v:
            st.query_params[k] = v


# ------------------------------------------------------------------------------------------ cached loaders


@st.cache_resource(show_spinner=False)
def devices() -> dict[str, hwdb.Device]:
    """The hardware database (Device objects are immutable: shared, not copied)."""
    return hwdb.load()


@st.cache_resource(show_spinner=False)
def models() -> dict:
    """The model catalog."""
    return dict(load_models())


def traces_dir() -> str:
    return views_measured.traces_dir()


@st.cache_data(show_spinner=False, ttl=60)
def run_list(root: str | None = None) -> list[dict]:
    """Trace runs on disk: [{run_id, path, device_id, start}] (empty when none or unreadable)."""
    return views_measured.run_records(root)


@st.cache_data(show_spinner=False, ttl=60)
def compared_runs(run_ids: tuple[str, ...], root: str | None = None):
    """compare() of the chosen runs' rows (model beside measurement), empty frame when nothing loads."""
    return views_measured.compared_runs(run_ids, root)


@st.cache_data(show_spinner=False, ttl=60)
def assigned_runs(run_ids: tuple[str, ...], root: str | None, device_id: str):
    """compared_runs with rows from an unmatched host attributed to ``device_id`` (the user's pick)."""
    dev = devices()[device_id]
    return views_measured.compared_runs(run_ids, root, assign=(device_id, dev.name, tuple(devices())))


@st.cache_data(show_spinner=False, ttl=60)
def static_rows(root: str):
    """Saved static inspections (``roofline kernels inspect --save``) under ``root``, one row a compiled launch."""
    return views_measured.static_rows(root)


@st.cache_data(show_spinner=False, ttl=60)
def static_summary(root: str):
    """One row a statically inspected kernel call under ``root``."""
    return views_measured.static_summary(views_measured.static_rows(root))


@st.cache_data(show_spinner=False, max_entries=8)
def compared_upload(name: str, data: bytes, device_id: str = "", assign_to: str = ""):
    """(compare() of an uploaded file, None) or (None, readable error message). ``assign_to``: rows whose device
    is not in hwdb (a host the profiler could not match) are attributed to that device first."""
    dev = devices().get(device_id)
    try:
        df = views_measured.read_upload(name, data, device_id, dev.name if dev else "")
        if assign_to:
            df = views_measured.assign_device(df, assign_to, devices()[assign_to].name, tuple(devices()))
    except RooflineError as e:
        return None, str(e)
    except Exception as e:  # a reader bug must not crash the page; say what happened
        return None, f"{name}: could not read ({type(e).__name__}: {str(e)[:160]})"
    try:
        return compare(df), None
    except Exception as e:
        return None, f"{name}: read {len(df)} rows but could not compare them with the model ({e})"


def device_for(device_id: str, what_if: tuple = ()) -> hwdb.Device:
    """A hwdb device, or the what-if copy ``what_if`` = (base id, edits) describes (app.whatif.params)."""
    if not what_if:
        return devices()[device_id]
    base, edits = what_if
    kw = dict(edits)
    peaks = {k.removeprefix("peak."): v for k, v in kw.items() if k.startswith("peak.")}
    return views_hardware.custom_device(devices()[base], peaks, **{k: v for k, v in kw.items()
                                                                   if not k.startswith("peak.")})


@st.cache_resource(show_spinner=False, max_entries=256)
def prediction(model_id: str, device_id: str, scenario, calibrated: bool = True, what_if: tuple = (),
               runtime: str | None = None):
    """(Prediction, None) or (None, readable reason) for one model x device x scenario under a runtime profile
    (cached); ``what_if`` names an edited copy of a device instead (app.whatif)."""
    try:
        return predict(model_id, device_for(device_id, what_if), scenario, calibrated=calibrated,
                       runtime=runtime), None
    except RooflineError as e:
        return None, str(e)


@st.cache_data(show_spinner=False, max_entries=64)
def curves(model_id: str, device_id: str, scenario, batches: tuple[int, ...], contexts: tuple[int, ...],
           calibrated: bool = True, what_if: tuple = ()):
    """(tokens/s vs batch frame, latency vs context frame, None) from the sweep, or (None, None, reason)."""
    dev = device_for(device_id, what_if)
    try:
        return (views_workload.batch_curve(model_id, dev, scenario, batches, calibrated),
                views_workload.context_curve(model_id, dev, scenario, contexts, calibrated), None)
    except RooflineError as e:
        return None, None, str(e)


@st.cache_resource(show_spinner=False, max_entries=64)
def ranking(model_id: str, scenario, device_ids: tuple[str, ...], by: str, slo_ttft_s: float | None,
            slo_tpot_s: float | None, allow_tp: bool, runtime: str | None = None, cost_basis: str = "cloud",
            include_unreliable: bool = False):
    """(select.rank() frame, None) or (None, readable reason); cached per selection."""
    try:
        return rank(model_id, scenario, [devices()[i] for i in device_ids], by=by, slo_ttft_s=slo_ttft_s,
                    slo_tpot_s=slo_tpot_s, allow_tp=allow_tp, runtime=runtime, cost_basis=cost_basis,
                    include_unreliable=include_unreliable), None
    except RooflineError as e:
        return None, str(e)


REPORT_TIMEOUT_S = 120


@st.cache_data(show_spinner=False, max_entries=8)
def report_html(spec_text: str) -> tuple[bytes | None, str | None]:
    """The HTML that `roofline report` builds from a spec (TOML text), or (None, why).

    The app never imports the report builder (only the CLI does): it runs the same command a user would,
    in a scratch folder, with this process's environment (so $ROOFLINE_TRACES and $ROOFLINE_HWDB hold)."""
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "dashboard.toml"
        spec.write_text(spec_text)
        out = Path(d) / "out"
        try:
            p = subprocess.run([sys.executable, "-m", "roofline", "report", str(spec), "--format", "html",
                                "--out", str(out)], capture_output=True, text=True, timeout=REPORT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None, f"the report took longer than {REPORT_TIMEOUT_S} s"
        if p.returncode != 0:
            lines = (p.stderr or p.stdout).strip().splitlines()
            return None, (lines[-1] if lines else f"roofline report failed (exit {p.returncode})").removeprefix("error: ")
        pages = sorted(out.glob("*.html"))
        if not pages:
            return None, "roofline report wrote no HTML"
        return pages[0].read_bytes(), None
