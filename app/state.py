"""Session plumbing for the dashboard: URL query parameters that keep a selection, and cached loaders.

A page seeds each widget's value from the URL once (``init``), renders the widget with that key, then
writes the selection back (``sync``) so the address bar always holds a shareable view.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import streamlit as st

import hwdb

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


def optional(module: str) -> Any | None:
    """A part of the product that may not be installed yet (engine, profiler, reports): module or None."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            return None
        raise


@st.cache_resource(show_spinner=False)
def models() -> dict:
    """Model catalog (empty when the engine is not installed)."""
    cat = optional("roofline.catalog")
    return dict(cat.load_models()) if cat else {}


def traces_dir() -> str:
    tr = optional("roofline.traces")
    return str(tr.traces_root()) if tr else "traces/"


@st.cache_data(show_spinner=False, ttl=60)
def run_list(root: str | None = None) -> list[dict]:
    """Trace runs on disk: [{run_id, path, device_id, start}] (empty when none or no profiler)."""
    tr = optional("roofline.traces")
    if tr is None:
        return []
    try:
        runs = tr.list_runs(root)
    except Exception:  # a broken traces folder must not take the dashboard down
        return []
    return [{"run_id": r.run_id, "path": str(r.path), "device_id": (r.manifest or {}).get("device_id", ""),
             "start": (r.manifest or {}).get("start", "")} for r in runs]


@st.cache_data(show_spinner=False, ttl=60)
def compared_runs(run_ids: tuple[str, ...], root: str | None = None):
    """compare() of the chosen runs' rows (model beside measurement), empty frame when nothing loads."""
    import pandas as pd

    from roofline import attribution, traces

    frames = []
    for rid in run_ids:
        try:
            frames.append(traces.load_run(rid, root))
        except Exception:  # one unreadable run must not hide the others
            continue
    df = pd.concat(frames, ignore_index=True) if frames else traces.empty_frame()
    return attribution.compare(df)


@st.cache_data(show_spinner=False, max_entries=8)
def compared_upload(name: str, data: bytes, device_id: str = ""):
    """(compare() of an uploaded file, None) or (None, readable error message)."""
    from roofline import attribution, views
    from roofline.errors import RooflineError

    dev = devices().get(device_id)
    try:
        df = views.read_upload(name, data, device_id, dev.name if dev else "")
    except RooflineError as e:
        return None, str(e)
    except Exception as e:  # a reader bug must not crash the page; say what happened
        return None, f"{name}: could not read ({type(e).__name__}: {str(e)[:160]})"
    try:
        return attribution.compare(df), None
    except Exception as e:
        return None, f"{name}: read {len(df)} rows but could not compare them with the model ({e})"


@st.cache_resource(show_spinner=False, max_entries=256)
def prediction(model_id: str, device_id: str, scenario, calibrated: bool = True):
    """(Prediction, None) or (None, readable reason) for one model x device x scenario (cached)."""
    from roofline.errors import user_errors
    from roofline.predict import predict

    try:
        return predict(model_id, devices()[device_id], scenario, calibrated=calibrated), None
    except user_errors() as e:
        return None, str(e)


@st.cache_resource(show_spinner=False, max_entries=64)
def ranking(model_id: str, scenario, device_ids: tuple[str, ...], by: str, slo_ttft_s: float | None,
            slo_tpot_s: float | None, allow_tp: bool):
    """(select.rank() frame, None) or (None, readable reason); cached per selection."""
    from roofline.errors import user_errors
    from roofline.select import rank

    try:
        return rank(model_id, scenario, [devices()[i] for i in device_ids], by=by, slo_ttft_s=slo_ttft_s,
                    slo_tpot_s=slo_tpot_s, allow_tp=allow_tp), None
    except user_errors() as e:
        return None, str(e)


@st.cache_data(show_spinner=False, max_entries=8)
def report_html(spec_text: str) -> tuple[bytes | None, str | None]:
    """The `roofline report` HTML for a spec (TOML text), or (None, why). Built by reports.build."""
    import tomllib

    build = optional("reports.build")
    spec_mod = optional("reports.spec")
    if build is None or spec_mod is None or not hasattr(build, "build_report"):
        return None, "report builder not installed"
    from roofline.errors import user_errors

    try:
        spec = spec_mod.parse_spec(tomllib.loads(spec_text), name="dashboard.toml", text=spec_text,
                                   path="dashboard.toml")
        spec_mod.resolve_names(spec)
        return build.build_report(spec, fmt="html"), None
    except user_errors() as e:
        return None, str(e)
