"""The what-if device editor: a copy of a hwdb device with peaks, bandwidth, memory, power and price edited by
the user. Shared by the Workload and Compare pages (one what-if device per session). The numbers are
user-entered: labelled so wherever they show, kept in the session only, never written to hwdb."""

from __future__ import annotations

import streamlit as st

from app import state
from roofline.views.hardware import WHAT_IF

OPTION = "what-if"  # the device picker's entry for the edited copy
EDITABLE_PEAKS = ("fp32", "bf16", "fp16", "fp8", "int8", "int4")


EDIT_LABELS = {"mem_bw_bytes_per_s": "memory bandwidth", "memory_bytes": "memory", "tdp_w": "TDP",
               "cloud_usd_per_h": "cloud price"}


def describe(params: tuple) -> str:
    """'bf16 peak, memory bandwidth' for the fields a what-if device edits ('nothing yet' when none)."""
    names = [f.removeprefix("peak.") + " peak" if f.startswith("peak.") else EDIT_LABELS.get(f, f)
             for f, _ in (params[1] if params else ())]
    return ", ".join(names) or "nothing yet"


def label(device_id: str) -> str:
    """How a device picker shows an id (the what-if entry says what it is)."""
    if device_id == OPTION:
        return "✎ what-if device (user-entered, not saved)"
    d = state.devices()[device_id]
    return f"{d.name} ({device_id})"


def editor(container=None) -> tuple:
    """Render the editor (in ``container``, default the sidebar) and return the what-if parameters:
    (base id, ((field, value), ...)) for state.device_for / state.prediction. Values start at the base
    device's datasheet numbers; only the ones that differ become edits."""
    devs = state.devices()
    ids = sorted(devs)
    box = container if container is not None else st.sidebar
    with box.expander("What-if device (user-entered)", expanded=True):
        st.caption(f"Numbers here are **{WHAT_IF}**: they start from a hwdb device, are used only in this "
                   "session and are never saved into the hardware database.")
        state.init("wi_base", "h100-sxm", options=ids)
        st.selectbox("start from", ids, key="wi_base", format_func=lambda i: f"{devs[i].name} ({i})")
        base = devs[st.session_state.wi_base]
        b = base.id  # widget keys per base: switching the base starts from its own datasheet numbers
        edits: list[tuple[str, float]] = []
        c1, c2 = st.columns(2)
        for i, dt in enumerate(EDITABLE_PEAKS):
            cur = (base.peak(dt) or 0.0) / 1e12
            col = c1 if i % 2 == 0 else c2
            v = col.number_input(f"{dt} peak (T op/s, 0 = none)", min_value=0.0, value=float(cur), step=10.0,
                                 format="%.1f", key=f"wi_{dt}_{b}")
            if abs(v - cur) > 1e-9:
                edits.append((f"peak.{dt}", v * 1e12))
        for field, lab, cur, scale, step in (
                ("mem_bw_bytes_per_s", "memory bandwidth (TB/s)", base.mem_bw_bytes_per_s, 1e12, 0.1),
                ("memory_bytes", "memory (GB)", base.memory_bytes, 1e9, 8.0),
                ("tdp_w", "power (TDP, W)", base.tdp_w, 1.0, 25.0),
                ("cloud_usd_per_h", "cloud price ($/h)", base.cloud_usd_per_h or 0.0, 1.0, 0.1)):
            v = st.number_input(lab, min_value=0.0, value=float(cur / scale), step=step, format="%.2f",
                                key=f"wi_{field}_{b}")
            if abs(v - cur / scale) > 1e-9 and v > 0:
                edits.append((field, v * scale))
        state.sync("wi_base")
        if not edits:
            st.caption("No number changed yet: the copy equals the datasheet device (modeled with default "
                       "efficiencies, as a what-if device never uses measured calibration).")
    return (base.id, tuple(edits))
