"""Workload: one model x scenario on one device: per-op points on the roofline, latency / energy breakdowns,
TTFT / TPOT / tokens/s / memory, with a plain "does not fit" state."""

from __future__ import annotations

import streamlit as st

from app import charts, state, whatif
from roofline.engine.runtime import DEFAULT_RUNTIME, runtime_names
from roofline.engine.scenario import ATTENTION_KINDS, PHASES, WEIGHT_SPARSITY, Scenario
from roofline.views import common, hardware, workload

st.title("Workload")

models, devs = state.models(), state.devices()
model_ids, dev_ids = sorted(models), sorted(devs)
POW2 = [2**i for i in range(0, 10)]
state.init("wl_model", "llama-3.1-8b", options=model_ids)
state.init("wl_device", "h100-sxm", options=dev_ids + [whatif.OPTION])
state.init("wl_phase", "generate", options=PHASES)
state.init("wl_batch", 1, options=POW2)
with st.sidebar:
    st.subheader("Workload")
    st.selectbox("model", model_ids, key="wl_model", format_func=lambda i: f"{models[i].name} ({i})")
    st.selectbox("device", dev_ids + [whatif.OPTION], key="wl_device", format_func=whatif.label)
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
what_if = whatif.editor() if ss.wl_device == whatif.OPTION else ()
scenario = Scenario(phase=ss.wl_phase, batch=ss.wl_batch, prompt_tokens=ss.wl_prompt, gen_tokens=ss.wl_gen,
                    wbits=ss.wl_wbits, abits=ss.wl_abits, kvbits=ss.wl_kvbits, group_size=ss.wl_group,
                    weight_sparsity=ss.wl_sparsity, mlp_active=float(ss.wl_mlp), head_active=float(ss.wl_heads),
                    attention=ss.wl_attn, attention_kept=float(ss.wl_kept) if ss.wl_attn == "block-sparse" else 1.0,
                    tp=ss.wl_tp)
device = state.device_for(ss.wl_device, what_if)
st.caption(f"**{model.name}** on **{ss.wl_tp} x {device.name}** · {scenario.label()}")
if what_if:
    st.warning(f"**What-if device**: a copy of {devs[what_if[0]].name} with user-entered numbers "
               f"({whatif.describe(what_if)}); "
               "not in hwdb, not saved, modeled with default efficiencies.", icon=":material/edit:")
state.init("wl_runtime", DEFAULT_RUNTIME, options=runtime_names())
st.selectbox("runtime profile", runtime_names(), key="wl_runtime",
             help="efficiencies and costs of a serving runtime, fitted on published measurements "
                  f"({DEFAULT_RUNTIME} = the device ceilings, the default); the range under each figure is its "
                  "80% band")
pred, err = state.prediction(model.id, device.id if not what_if else "", scenario, ss.wl_calibrated, what_if,
                             ss.wl_runtime)
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
    rng = (f" · range {common.fmt_metric(m['lo'], m['unit'])} – {common.fmt_metric(m['hi'], m['unit'])}"
           if m.get("lo") is not None else "")
    col.metric(f"{m['label']} ({suffix})", common.fmt_metric(m["value"], m["unit"]) + rng,
               help=f"source: {m['source']}")
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
st.caption("Op colour: one per op kind (shades of it per op), the same in every chart and in the reports; "
           "square = prefill, circle = decode; marker size = share of the time. Hover for the bound.")
st.plotly_chart(charts.stacked_bars(workload.breakdown_long(pred.ops, "op", pred.op_phases),
                                    title="Latency and energy by op (modeled)"), key="wl_by_op", width="stretch")
st.plotly_chart(charts.stacked_bars(workload.breakdown_long(pred.ops, "layer", pred.op_phases),
                                    title="Latency and energy by layer (decoder = all decoder layers) and op kind "
                                          "(modeled)"), key="wl_by_layer", width="stretch")

st.subheader("Per layer (modeled)")
st.caption("One instance = one layer of one pass (prefill) or of one decode step; 'model' = the ops outside the "
           "decoder layers (embedding, final norm, LM head). Intensity = FLOPs / bytes; bound = where most of the "
           "layer's time goes.")
units = {"time_s": "s", "total_time_s": "s", "flops": "FLOP", "bytes": "B", "intensity": "FLOP/B",
         "time_share": "%"}
st.dataframe(charts.styled(workload.layer_table(pred.ops, pred.op_phases), units), hide_index=True,
             width="stretch", column_config={"time_s": "time per instance", "flops": "FLOPs per instance",
                                             "bytes": "bytes per instance", "time_share": "share of all time"})
with st.expander("Every op of a layer (modeled)"):
    st.dataframe(charts.styled(workload.layer_ops(pred.ops, pred.op_phases), units), hide_index=True,
                 width="stretch", column_config={"time_s": "time per instance", "total_time_s": "time, all instances",
                                                 "flops": "FLOPs per instance", "bytes": "bytes per instance"})

st.subheader("Scaling (modeled, from the sweep)")
batches = tuple(2**i for i in range(0, 10))
contexts = tuple(workload.context_options(model.max_context))
bc, cc, cerr = state.curves(model.id, ss.wl_device if not what_if else "", scenario, batches, contexts,
                            ss.wl_calibrated, what_if)
if cerr:
    st.caption(f"No curves: {cerr}")
else:
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.curve_figure(bc, [("tokens_per_s", "tokens/s")], "tok/s", "batch", "tokens/s",
                                        "Tokens/s vs batch"), key="wl_vs_batch", width="stretch")
    series = [("ttft_s", "TTFT"), ("tpot_s", "TPOT")] if ss.wl_phase != "prefill" else [("ttft_s", "TTFT")]
    c2.plotly_chart(charts.curve_figure(cc, series, "s", "prompt tokens", "latency",
                                        "Latency vs context"), key="wl_vs_context", width="stretch")

with st.expander("Every op (modeled)"):
    st.dataframe(charts.styled(workload.estimates_frame(pred.ops, pred.op_phases),
                               {"time_s": "s", "energy_j": "J", "flops": "FLOP", "bytes": "B", "intensity": "FLOP/B",
                                "attainable_flops_per_s": "FLOP/s", "achieved_flops_per_s": "FLOP/s",
                                "time_share": "%", "energy_share": "%"}), hide_index=True, width="stretch")
st.caption(f"Efficiencies: {pred.efficiency_kind} ({pred.efficiency_source}); energy coefficients: "
           f"{pred.energy_kind} ({pred.energy_source}); price: {pred.price_basis}.")
