"""Energy and IPW: the energy roofline (J/FLOP vs intensity) per device with measured calls, the energy
coefficients (J/FLOP vs J/byte), and intelligence per watt / per joule per model x device."""

from __future__ import annotations

import streamlit as st

from app import charts, state
from roofline.engine.scenario import Scenario
from roofline.views import energy, hardware

st.title("Energy and IPW")
devs = state.devices()
dev_ids = sorted(devs)
measured_ids = [i for i in dev_ids if devs[i].measured is not None]
state.init("en_devices", measured_ids or dev_ids[:1], options=dev_ids)
st.multiselect("devices", dev_ids, key="en_devices", format_func=lambda i: f"{devs[i].name} ({i})",
               help="defaults to the devices with measured energy coefficients")
picked = [devs[i] for i in st.session_state.en_devices]
dts = hardware.supported_dtypes(picked)
state.init("en_dtypes", [d for d in ("bf16", "int8") if d in dts] or dts[:1], options=dts)
st.multiselect("dtypes", dts, key="en_dtypes")
state.sync("en_devices", "en_dtypes")
if not picked:
    st.info("Pick at least one device.")
    st.stop()

cmp = None
runs = state.run_list(state.traces_dir())
if runs:
    cmp = state.compared_runs(tuple(r["run_id"] for r in runs), state.traces_dir())
    cmp = cmp[cmp["device_id"].isin(st.session_state.en_devices)]
pts = energy.measured_energy_points(cmp) if cmp is not None else None
if not runs:
    st.info(f"No traces in `{state.traces_dir()}`: energy below is modeled from datasheet TDP (and calibrated "
            "coefficients where hwdb has a measured overlay); no measured points.")
elif pts is None or pts.empty:
    st.caption("No measured energy (NVML counter / RAPL) for these devices in the traces.")
st.plotly_chart(charts.energy_roofline_figure(energy.energy_roofline(picked, st.session_state.en_dtypes), pts),
                key="en_roofline", width="stretch")

coef = energy.energy_coefficients(picked)
st.subheader("Energy coefficients: J/FLOP vs J/byte")
st.caption("Dynamic energy (above idle) per FLOP and per DRAM byte: measured where the device was calibrated, "
           "else derived from the datasheet TDP. Hover for the source.")
c1, c2 = st.columns([3, 2])
dt_map = st.session_state.en_dtypes[0] if st.session_state.en_dtypes else "bf16"
c1.plotly_chart(charts.coefficient_map(coef, dt_map), key="en_coef", width="stretch")
c2.dataframe(charts.styled(coef[coef["dtype"].isin(st.session_state.en_dtypes)],
                           {"e_flop_j": "J", "e_byte_j": "J", "idle_w": "W"}), hide_index=True, width="stretch",
             column_config={"e_flop_j": st.column_config.Column("J/FLOP"),
                            "e_byte_j": st.column_config.Column("J/byte"),
                            "idle_w": st.column_config.Column("idle power"),
                            "kind": st.column_config.TextColumn("kind", help="J/FLOP: measured or modeled"),
                            "byte_kind": st.column_config.TextColumn("J/byte kind")})

st.subheader("Intelligence per watt")

models = state.models()
with_acc = sorted(m for m in models if models[m].accuracy)
default_models = [m for m in ("llama-3.1-8b", "qwen2.5-7b", "gemma-2-9b", "llama-3.2-3b") if m in with_acc]
state.init("en_models", default_models or with_acc[:3], options=with_acc)
state.init("en_ipw_devices", energy.default_ipw_devices(dev_ids), options=dev_ids)
c1, c2 = st.columns(2)
c1.multiselect("models (with a published accuracy)", with_acc, key="en_models")
c2.multiselect("devices", dev_ids, key="en_ipw_devices", format_func=lambda i: f"{devs[i].name} ({i})",
               help="defaults to one part of each class: data center, workstation, laptop, edge")
state.sync("en_models", "en_ipw_devices")
scenario = Scenario(phase="generate", batch=1, prompt_tokens=1024, gen_tokens=256)
st.caption(f"Scenario: {scenario.label()}. IPW = accuracy / mean power (W), IPJ = accuracy / energy per "
           "query (J); accuracy is the publisher's figure (benchmark and source on hover).")
ranked = {}
for mid in st.session_state.en_models:
    df, err = state.ranking(mid, scenario, tuple(st.session_state.en_ipw_devices), "ipw", None, None, True)
    if df is not None:
        ranked[mid] = df
    else:
        st.warning(f"{mid}: {err}")
if not st.session_state.en_ipw_devices:
    st.info("Pick at least one device for the IPW heatmap.")
elif ranked:
    long = energy.ipw_long(ranked, models)
    st.caption("Blank cell: the model does not fit on that device (even with tensor parallelism).")
    st.plotly_chart(charts.ipw_heatmap(long, "ipw"), key="en_ipw", width="stretch")
    st.plotly_chart(charts.ipw_heatmap(long, "ipj"), key="en_ipj", width="stretch")
    with st.expander("IPW / IPJ table"):
        st.dataframe(charts.styled(long, {"ipw": "/W", "ipj": "1/J", "j_per_token": "J", "accuracy_pct": ""}),
                     hide_index=True, width="stretch")
