"""Measurements: measured kernels on the roofline with the modeled point beside each; % of roof; energy per
call; predicted vs measured with the error band. Shipped traces or an uploaded file."""

from __future__ import annotations

import streamlit as st

from app import charts, state
from roofline.views import common, hardware, measured

st.title("Measurements")
runs = state.run_list(state.traces_dir())
sources = ["shipped traces", "upload a file"]
state.init("ms_source", sources[0], options=sources)
src = st.segmented_control("data", sources, key="ms_source", help="runs under the traces folder, or one file")
cmp, origin = None, ""
if src == "upload a file":
    up = st.file_uploader("Trace file: Parquet rows (roofline profile), Nsight Compute CSV (ncu --csv) or "
                          "Kineto JSON (torch.profiler)", type=["parquet", "pq", "csv", "json"], key="ms_upload")
    if up is None:
        st.info(f"Upload a file (up to {measured.MAX_UPLOAD_BYTES // 2**20} MiB).")
        st.stop()
    data = up.getvalue()
    dev_for_upload = ""
    if measured.upload_needs_device(up.name, data):
        ids = sorted(state.devices())
        state.init("ms_upload_device", "h100-sxm", options=ids)
        dev_for_upload = st.selectbox("device the profile was recorded on (ncu / Kineto files do not say)", ids,
                                      key="ms_upload_device")
    cmp, err = state.compared_upload(up.name, data, dev_for_upload)
    if err:
        st.error(f"Could not use this file: {err}")
        st.stop()
    origin = f"uploaded {up.name}"
else:
    if not runs:
        st.info(f"No traces found in `{state.traces_dir()}`: nothing measured to show. Every number elsewhere in "
                "the dashboard is modeled or datasheet. Record runs with `roofline profile`, or upload a file.")
        st.stop()
    run_ids = [r["run_id"] for r in runs]
    state.init("ms_runs", run_ids, options=run_ids)
    picked = st.multiselect("trace runs", run_ids, key="ms_runs")
    state.sync("ms_runs")
    cmp = state.compared_runs(tuple(picked), state.traces_dir())
    origin = f"{len(picked)} run(s) from `{state.traces_dir()}`"
state.sync("ms_source")

if cmp is None or cmp.empty:
    st.info("No rows in the selection.")
    st.stop()

devs = state.devices()
unmatched = measured.unmatched_devices(cmp, list(devs))
if unmatched:  # a host the profiler could not match to hwdb (a CPU box, a part hwdb lacks): ask, never guess silently
    rows_un = cmp[cmp["device_id"].fillna("").astype(str).isin(unmatched)]
    names = sorted(set(rows_un["device_name"].fillna("").astype(str)) - {""}) if "device_name" in rows_un else []
    st.warning(f"{len(rows_un)} row(s) were recorded on a device that matches no hwdb entry "
               f"({', '.join(names) or 'no device name recorded'}). Pick the device that ran them to see them on "
               "its roofline and beside the model.", icon=":material/help:")
    ids = sorted(devs)
    guess = measured.guess_device(names, devs)
    state.init("ms_assign", guess, options=[""] + ids)
    assign_to = st.selectbox("device that ran these rows", [""] + ids, key="ms_assign",
                             format_func=lambda i: "— choose a device —" if not i else f"{devs[i].name} ({i})",
                             help="preselected when the recorded device name matches a hwdb name; check it")
    if assign_to:
        if src == "upload a file":
            cmp, err = state.compared_upload(up.name, data, dev_for_upload, assign_to)
            if err:
                st.error(f"Could not use this file: {err}")
                st.stop()
        else:
            cmp = state.assigned_runs(tuple(picked), state.traces_dir(), assign_to)
        origin += f"; unmatched rows attributed to {assign_to} (your pick)"
dev_ids = sorted(set(cmp["device_id"].astype(str)))
kernels = sorted(set(cmp["kernel"].astype(str)))
state.init("ms_kernels", [], options=kernels)
c1, c2 = st.columns([3, 2])
c1.multiselect("kernels", kernels, key="ms_kernels", placeholder="all kernels")
state.init("ms_device", dev_ids[0], options=dev_ids)
if st.session_state.ms_device not in dev_ids:  # e.g. the unmatched rows were just attributed to a device
    st.session_state.ms_device = next((i for i in dev_ids if i in devs), dev_ids[0])
c2.selectbox("device", dev_ids, key="ms_device",
             format_func=lambda i: f"{devs[i].name} ({i})" if i in devs else f"{i or 'unmatched host'} (not in hwdb)")
state.sync("ms_kernels", "ms_device")
sel = cmp[(cmp["device_id"] == st.session_state.ms_device)
          & (cmp["kernel"].isin(st.session_state.ms_kernels or kernels))].reset_index(drop=True)

pts = measured.measured_points(sel)
band = measured.error_band(sel)
table = measured.measurement_table(sel)
m1, m2, m3, m4 = st.columns(4)
m1.metric("calls (measured)", f"{len(sel)}", help=origin)
med_roof = common.finite_or_none(sel["pct_of_roof"].median())
m2.metric("median % of roof (measured)", common.MISSING if med_roof is None else f"{med_roof:.0%}")
med_err = common.finite_or_none(sel["time_err"].abs().median())
m3.metric("median |time error| (model)", common.MISSING if med_err is None else f"{med_err:.0%}")
m4.metric("80% band (measured / model)", common.MISSING if band is None else f"{band[0]:.2f} – {band[1]:.2f}")
st.caption(f"Source: {origin}. Measured = trace rows; modeled = roofline.engine.model with "
           f"{'calibrated' if (sel['efficiency_kind'] == 'measured').any() else 'default'} efficiencies.")

dev = devs.get(st.session_state.ms_device)
if dev is None:
    st.info("These rows come from a device hwdb does not know: choose the device that ran them above to draw "
            "its roofline and the model beside each measurement.")
else:
    dts = sorted(set(sel["compute_dtype"].astype(str)) - {""}) or None
    lines = hardware.roofline_lines([dev], dts)
    st.plotly_chart(charts.roofline_figure(lines, hardware.ridge_points([dev], dts), measured=pts,
                                           title=f"Measured (x) vs modeled (o) on {dev.name}"),
                    key="ms_roofline", width="stretch")
if len(pts):
    st.plotly_chart(charts.pred_vs_measured(pts, band), key="ms_scatter", width="stretch")
st.subheader("Per call: measured beside modeled")
st.dataframe(charts.styled(table, {"median_s": "s", "predicted_s": "s", "time_err": "%", "pct_of_roof": "%",
                                    "energy_j": "J", "predicted_energy_j": "J", "energy_err": "%", "power_w": "W"}),
             hide_index=True, width="stretch", column_config={
                 "median_s": st.column_config.Column("median (measured)"),
                 "predicted_s": st.column_config.Column("time (modeled)"),
                 "time_err": st.column_config.Column("time error"),
                 "pct_of_roof": st.column_config.Column("% of roof"),
                 "energy_j": st.column_config.Column("J/call", help="see energy_kind"),
                 "predicted_energy_j": st.column_config.Column("J/call (modeled)"),
                 "energy_err": st.column_config.Column("energy error"),
                 "run_id": st.column_config.TextColumn("source (run)")})
en = measured.energy_per_call(sel)
if len(en):
    st.plotly_chart(charts.energy_bars(en), key="ms_energy", width="stretch")
else:
    st.caption("No energy measured in these rows.")

st.subheader("Static (SASS) prediction of our kernels")
static = state.static_summary(state.traces_dir())
if static.empty:
    st.caption("No static inspection saved: `roofline kernels inspect --save` writes one (compiled code read on a CPU).")
else:
    both = measured.static_beside_measured(sel, state.static_rows(state.traces_dir()))
    if len(both):
        st.caption("Our measured calls beside what their compiled code predicts (kind: static). measured / static > 1: "
                   "slower than the issue, memory and compute floors of the SASS.")
        st.dataframe(charts.styled(both, {"median_s": "s", "static_predicted_s": "s", "issue_floor_s": "s",
                                          "memory_floor_s": "s"}), hide_index=True, width="stretch")
    shown = static[static["kernel"].isin(set(sel["kernel"]))] if len(sel) else static
    st.caption(f"{len(shown)} inspected calls (static: registers, spills, MMA kind, instructions a weight or a KV "
               "byte, and the issue floor beside the memory and compute floors). Source: "
               f"{', '.join(sorted(set(shown['source'])))}.")
    st.dataframe(charts.styled(shown, {"issue_floor_s": "s", "memory_floor_s": "s", "compute_floor_s": "s",
                                       "predicted_s": "s"}), hide_index=True, width="stretch")
