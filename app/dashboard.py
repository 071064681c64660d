"""Roofline workbench dashboard: `streamlit run app/dashboard.py` (or `roofline dashboard`).

Pages are thin views over pure functions in roofline/ (views, predict, select, attribution); this file only
sets up navigation and says where the data comes from.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # `streamlit run app/dashboard.py` puts app/ on the path, not the repo root
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from app import state  # noqa: E402

st.set_page_config(page_title="Roofline workbench", page_icon=":material/speed:", layout="wide")

# Page scripts live in screens/, not pages/: a pages/ folder next to the entry point switches a fresh server
# into Streamlit's v1 multipage mode, where a shared link (/workload) runs the page without this file.
_PAGES = Path(__file__).resolve().parent / "screens"
nav = st.navigation([
    st.Page(_PAGES / "hardware.py", title="Hardware", icon=":material/memory:", url_path="hardware", default=True),
    st.Page(_PAGES / "workload.py", title="Workload", icon=":material/stacked_bar_chart:", url_path="workload"),
    st.Page(_PAGES / "measurements.py", title="Measurements", icon=":material/timer:", url_path="measurements"),
    st.Page(_PAGES / "selection.py", title="Hardware selection", icon=":material/leaderboard:",
            url_path="selection"),
    st.Page(_PAGES / "energy.py", title="Energy and IPW", icon=":material/bolt:", url_path="energy"),
    st.Page(_PAGES / "compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page(_PAGES / "planning.py", title="Capacity planning", icon=":material/dns:", url_path="planning"),
])

with st.sidebar:
    st.caption("Every number is labelled **datasheet** (hwdb, cited), **modeled** (roofline model) or "
               "**measured** (traces). Hover a chart point or table cell for its source.")
    n_dev = len(state.devices())
    runs = state.run_list()
    if runs:
        st.caption(f"{n_dev} devices · {len(runs)} trace runs in `{state.traces_dir()}`")
    else:
        st.caption(f"{n_dev} devices · no traces in `{state.traces_dir()}`: modeled numbers only")

nav.run()
