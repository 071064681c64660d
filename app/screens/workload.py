"""Workload: one model x scenario on one device: per-op points on the roofline, latency / energy breakdowns,
TTFT / TPOT / tokens/s / memory, with a plain "does not fit" state."""

from __future__ import annotations

import streamlit as st

from app import charts, state
from roofline.engine.runtime import DEFAULT_RUNTIME, runtime_names
from roofline.engine.scenario import ATTENTION_KINDS, PHASES, WEIGHT_SPARSITY, Scenario
from roofline.views import common, hardware, workload

st.title("Workload")

models, devs = state.models(), state.devices()
model_ids, dev_ids = sorted(models), sorted(devs)
POW2 = [2**i for i in range(0, 10)]
state.init("wl_model", "llama-3.1-8b", options=model_ids)
state.init("wl_device", "h100-sxm", options=dev_ids)
state.init("wl_phase", "generate", options=PHASES)
state.init("wl_batch", 1, options=POW2)
with st.sidebar:
    st.subheader("Workload")
    st.selectbox("model", model_ids, key="wl_model", format_func=lambda i: f"{models[i].name} ({i})")
    st.selectbox("device", dev_ids, key="wl_device", format_func=lambda i: f"{devs[i].name} ({i})")
    model = models[st.session_state.wl_model]
    ctx_opts = workload.context_options(model.max_context)
    state.init("wl_prompt", 1024 if 1024 in ctx_opts else ctx_opts[0], options=ctx_opts)
    state.init("wl_gen", 256, options=[2**i for i in range(0, 13)])
    st.segmented_control("phase", PHASES, key="wl_phase")
    st.select_slider("batch", POW2, key="wl_batch")
    st.select_slider("context: prompt tokens", ctx_opts, key="wl_prompt")
    st.select_slider("generated tokens", [2**i for i in range(0, 13)], key="wl_gen")
    st.subheader("Numerics")
    state.init("wl_wbits", 16, options=[16, 8, 4, 3, 2])
    state.init("wl_abits", 16, options=[16, 8])
    state.init("wl_kvbits", 16, options=[16, 8, 4])
    state.init("wl_group", 128, options=[32, 64, 128, 256])
    c1, c2, c3 = st.columns(3)
    c1.selectbox("weight bits", [16, 8, 4, 3, 2], key="wl_wbits")
    c2.selectbox("act bits", [16, 8], key="wl_abits")
    c3.selectbox("KV bits", [16, 8, 4], key="wl_kvbits")
    st.selectbox("quantization group size", [32, 64, 128, 256], key="wl_group",
                 help="weights sharing one 16-bit scale (only when bits < 16)")
    st.subheader("Sparsity and attention")
    state.init("wl_sparsity", "none", options=WEIGHT_SPARSITY)
    state.init("wl_mlp", 1.0, lo=0.05, hi=1.0)
    state.init("wl_heads", 1.0, lo=0.05, hi=1.0)
    state.init("wl_attn", "flash", options=ATTENTION_KINDS)
    state.init("wl_kept", 0.1, lo=0.01, hi=1.0)
    state.init("wl_tp", 1, options=[1, 2, 4, 8])
    st.segmented_control("weight sparsity", WEIGHT_SPARSITY, key="wl_sparsity")
    st.slider("active MLP fraction (contextual sparsity)", 0.05, 1.0, step=0.05, key="wl_mlp")
    st.slider("active head fraction", 0.05, 1.0, step=0.05, key="wl_heads")
    st.segmented_control("attention", ATTENTION_KINDS, key="wl_attn")
    if st.session_state.wl_attn == "block-sparse":
        st.slider("kept block fraction", 0.01, 1.0, step=0.01, key="wl_kept")
    st.segmented_control("tensor parallel (devices)", [1, 2, 4, 8], key="wl_tp")
    state.init("wl_calibrated", True)
    st.toggle("calibrated efficiencies where measured", key="wl_calibrated")
keys = ("wl_model", "wl_device", "wl_phase", "wl_batch", "wl_prompt", "wl_gen", "wl_wbits", "wl_abits",
        "wl_kvbits", "wl_group", "wl_sparsity", "wl_mlp", "wl_heads", "wl_attn", "wl_kept", "wl_tp", "wl_calibrated")
for k, d in (("wl_phase", "generate"), ("wl_sparsity", "none"), ("wl_attn", "flash"), ("wl_tp", 1)):
    if st.session_state.get(k) is None:  # a segmented control clicked off: keep a value
        st.session_state[k] = d
state.sync(*keys)

ss = st.session_state
scenario = Scenario(phase=ss.wl_phase, batch=ss.wl_batch, prompt_tokens=ss.wl_prompt, gen_tokens=ss.wl_gen,
                    wbits=ss.wl_wbits, abits=ss.wl_abits, kvbits=ss.wl_kvbits, group_size=ss.wl_group,
                    weight_sparsity=ss.wl_sparsity, mlp_active=float(ss.wl_mlp), head_active=float(ss.wl_heads),
                    attention=ss.wl_attn, attention_kept=float(ss.wl_kept) if ss.wl_attn == "block-sparse" else 1.0,
                    tp=ss.wl_tp)
device = devs[ss.wl_device]
st.caption(f"**{model.name}** on **{ss.wl_tp} x {device.name}** · {scenario.label()}")
state.init("wl_runtime", DEFAULT_RUNTIME, options=runtime_names())
st.selectbox("runtime profile", runtime_names(), key="wl_runtime",
             help="efficiencies and costs of a serving runtime, fitted on published measurements "
                  f"({DEFAULT_RUNTIME} = the device ceilings, the default)")
pred, err = state.prediction(model.id, device.id, scenario, ss.wl_calibrated, ss.wl_runtime)
if pred is None:
    st.error(f"Cannot price this configuration: {err}")
    st.stop()

if not pred.fits:
    st.error(f"**Does not fit.** {pred.fit_reason}. Latency, throughput and energy are not shown for a "
             "configuration that cannot run.", icon=":material/block:")
metrics = workload.prediction_metrics(pred, device)
cols = st.columns(4) + st.columns(4)
for col, m in zip(cols, metrics, strict=True):
    suffix = "modeled" if pred.fits or m["key"] == "memory_bytes" else "does not fit"
    band = (f"80% band {common.fmt_metric(m['lo'], m['unit'])} - {common.fmt_metric(m['hi'], m['unit'])}"
            if m.get("lo") is not None else "")
    col.metric(f"{m['label']} ({suffix})", common.fmt_metric(m["value"], m["unit"]), delta=band or None,
               delta_color="off", help=f"source: {m['source']}" + (f"; {m['band_source']}" if band else ""))
st.plotly_chart(charts.memory_bar(workload.memory_breakdown(pred, device), pred.fits), key="wl_memory",
                width="stretch", config={"displayModeBar": False})
if not pred.fits:
    st.stop()

pts = workload.op_points(pred.ops, pred.op_phases)
dts = sorted(set(pts["dtype"])) if len(pts) else None
lines = hardware.roofline_lines([device], dts)
st.plotly_chart(charts.roofline_figure(lines, hardware.ridge_points([device], dts), pts,
                                       title=f"Ops on the {device.name} roofline (modeled; marker size = share "
                                             "of time, square = prefill)"), key="wl_roofline", width="stretch")
st.caption("Op colour: red = compute-bound, blue = memory-bound, purple = interconnect, grey = launch overhead.")
st.plotly_chart(charts.stacked_bars(workload.breakdown_long(pred.ops, "op", pred.op_phases),
                                    title="Latency and energy by op (modeled)"), key="wl_by_op", width="stretch")
st.plotly_chart(charts.stacked_bars(workload.breakdown_long(pred.ops, "layer", pred.op_phases),
                                    title="Latency and energy by layer (decoder = all decoder layers) and op kind "
                                          "(modeled)"), key="wl_by_layer", width="stretch")
with st.expander("Every op (modeled)"):
    st.dataframe(workload.estimates_frame(pred.ops, pred.op_phases), hide_index=True, width="stretch",
                 column_config={"time_share": st.column_config.NumberColumn(format="percent"),
                                "energy_share": st.column_config.NumberColumn(format="percent")})
st.caption(f"Efficiencies: {pred.efficiency_kind} ({pred.efficiency_source}); energy coefficients: "
           f"{pred.energy_kind} ({pred.energy_source}); price: {pred.price_basis}.")
