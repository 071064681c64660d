"""Hardware: pick devices, see their roofs per dtype (and cache / measured roofs), ridge points, cited peaks."""

from __future__ import annotations

import streamlit as st

from app import charts, state
from hwdb.schema import DTYPES
from roofline.views import common, hardware

st.title("Hardware")
st.caption("Datasheet roofs from the cited hardware database (hwdb/); measured roofs where a device was "
           "profiled. Hover any line, point or table cell for its source.")

all_devs = state.devices()
opts = common.device_filter_options(all_devs.values())
max_gb = max(1, int(opts["max_memory_bytes"] / 1e9 + 0.999))

state.init("hw_kind", [], options=opts["kinds"])
state.init("hw_vendor", [], options=opts["vendors"])
state.init("hw_mem", 0, lo=0, hi=max_gb)
with st.sidebar:
    st.subheader("Filter devices")
    st.multiselect("kind", opts["kinds"], key="hw_kind", placeholder="any kind")
    st.multiselect("vendor", opts["vendors"], key="hw_vendor", placeholder="any vendor")
    st.slider("min memory (GB)", 0, max_gb, key="hw_mem")

shown = common.filter_devices(all_devs.values(), st.session_state.hw_kind, st.session_state.hw_vendor,
                             st.session_state.hw_mem * 1e9)
ids = [d.id for d in shown]
default_pick = [i for i in ("h100-sxm", "a100-sxm-80gb", "mi300x") if i in ids] or ids[:2]
state.init("hw_devices", default_pick, options=ids)
st.session_state.hw_devices = [i for i in st.session_state.hw_devices if i in ids]
picked_ids = st.multiselect("devices", ids, key="hw_devices", format_func=lambda i: f"{all_devs[i].name} ({i})",
                            help=f"{len(ids)} of {len(all_devs)} devices match the filters")
picked = [all_devs[i] for i in picked_ids]
dtypes_all = hardware.supported_dtypes(picked)
state.init("hw_dtypes", [d for d in ("fp32", "bf16", "fp8") if d in dtypes_all] or dtypes_all,
           options=dtypes_all)
c1, c2, c3 = st.columns([3, 1, 1])
c1.multiselect("compute dtypes (ceilings)", dtypes_all, key="hw_dtypes")
state.init("hw_caches", True)
state.init("hw_measured", True)
c2.toggle("cache roofs", key="hw_caches", help="L2/SRAM bandwidth roofs, where the bandwidth is published")
c3.toggle("measured roofs", key="hw_measured", help="matmul ceiling and copy bandwidth from traces")
state.sync("hw_kind", "hw_vendor", "hw_mem", "hw_devices", "hw_dtypes", "hw_caches", "hw_measured")

if not picked:
    st.info("No device selected. Loosen the filters or pick a device above.")
    st.stop()

dts = st.session_state.hw_dtypes
lines = hardware.roofline_lines(picked, dts, caches=st.session_state.hw_caches, measured=st.session_state.hw_measured)
ridges = hardware.ridge_points(picked, dts)
st.plotly_chart(charts.roofline_figure(lines, ridges, title="Roofline (datasheet; measured where profiled)"),
                key="hw_roofline", width="stretch")
if st.session_state.hw_caches and not any(c.bw_bytes_per_s for d in picked for c in d.caches):
    st.caption("No cache roof drawn: none of the selected devices publishes its on-chip cache bandwidth.")

st.subheader("Peaks (datasheet, dense)")
st.caption("Hover a cell for its citation. Absent = unsupported (never 0).")
vals, tips = hardware.peaks_matrix(picked)
units = {"memory_bytes": "B", "mem_bw_bytes_per_s": "B/s", "tdp_w": "W", **{dt: "op/s" for dt in DTYPES}}
st.html(charts.html_table(vals, tips, units, {"memory_bytes": "memory", "mem_bw_bytes_per_s": "bandwidth",
                                              "tdp_w": "TDP"}))

with st.expander("Every number with its kind and source"):
    table = hardware.peaks_table(picked)
    table["value"] = [common.fmt_metric(v, u) for v, u in zip(table["value"], table["unit"], strict=True)]
    st.dataframe(charts.styled(table, {}), hide_index=True, width="stretch",
                 column_config={"url": st.column_config.LinkColumn("url"),
                                "value": st.column_config.TextColumn("value"),
                                "kind": st.column_config.TextColumn("kind", help="datasheet / modeled / measured")})

st.subheader("Modeling inputs")
rows = []
for d in picked:
    p = hardware.model_provenance(d)
    rows.append({"device": d.id, "efficiency": p["efficiency_kind"], "efficiency source": p["efficiency_source"],
                 "energy coefficients": p["energy_kind"], "energy source": p["energy_source"]})
st.dataframe(rows, hide_index=True, width="stretch")
