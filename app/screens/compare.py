"""Compare: two configurations side by side (model, device — a hwdb part or the what-if device —, batch,
context, bits, tensor parallelism): the headline numbers with B / A, and where the time and energy go in each."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, state, whatif
from roofline.engine.scenario import PHASES, Scenario
from roofline.views import common, workload

st.title("Compare two configurations")
st.caption("All numbers modeled (roofline.engine.predict). B / A < 1 means B has less of it; 'better' follows "
           "each metric's direction (lower latency, J and $; higher tokens/s and IPW).")

models, devs = state.models(), state.devices()
model_ids, dev_ids = sorted(models), sorted(devs) + [whatif.OPTION]
POW2 = [2**i for i in range(0, 10)]
DEFAULTS = {"a": {"device": "h100-sxm", "batch": 8}, "b": {"device": "h200", "batch": 8}}
cols = st.columns(2)
sides = {}
for side, col in zip(("a", "b"), cols, strict=True):
    k = f"cmp_{side}_"
    d = DEFAULTS[side]
    state.init(k + "model", "llama-3.1-8b", options=model_ids)
    state.init(k + "device", d["device"], options=dev_ids)
    state.init(k + "phase", "generate", options=PHASES)
    state.init(k + "batch", d["batch"], options=POW2)
    state.init(k + "prompt", 1024, options=[2**i for i in range(7, 18)])
    state.init(k + "gen", 256, options=[2**i for i in range(0, 13)])
    state.init(k + "wbits", 16, options=[16, 8, 4])
    state.init(k + "kvbits", 16, options=[16, 8, 4])
    state.init(k + "tp", 1, options=[1, 2, 4, 8])
    with col:
        st.subheader(f"Configuration {side.upper()}")
        st.selectbox("model", model_ids, key=k + "model", format_func=lambda i: f"{models[i].name} ({i})")
        st.selectbox("device", dev_ids, key=k + "device", format_func=whatif.label)
        c1, c2 = st.columns(2)
        c1.selectbox("phase", PHASES, key=k + "phase")
        c2.selectbox("tensor parallel", [1, 2, 4, 8], key=k + "tp")
        st.select_slider("batch", POW2, key=k + "batch")
        st.select_slider("prompt tokens", [2**i for i in range(7, 18)], key=k + "prompt")
        st.select_slider("generated tokens", [2**i for i in range(0, 13)], key=k + "gen")
        c1, c2 = st.columns(2)
        c1.selectbox("weight bits", [16, 8, 4], key=k + "wbits")
        c2.selectbox("KV bits", [16, 8, 4], key=k + "kvbits")
    state.sync(*(k + f for f in ("model", "device", "phase", "batch", "prompt", "gen", "wbits", "kvbits", "tp")))
    ss = st.session_state
    model = models[ss[k + "model"]]
    sides[side] = {"model": model, "device_id": ss[k + "device"],
                   "scenario": Scenario(phase=ss[k + "phase"], batch=ss[k + "batch"],
                                        prompt_tokens=min(ss[k + "prompt"], model.max_context),
                                        gen_tokens=ss[k + "gen"], wbits=ss[k + "wbits"], kvbits=ss[k + "kvbits"],
                                        tp=ss[k + "tp"])}

what_if = whatif.editor() if whatif.OPTION in (sides["a"]["device_id"], sides["b"]["device_id"]) else ()
preds = {}
for side, cfg in sides.items():
    wi = what_if if cfg["device_id"] == whatif.OPTION else ()
    dev = state.device_for(cfg["device_id"], wi)
    pred, err = state.prediction(cfg["model"].id, cfg["device_id"] if not wi else "", cfg["scenario"], True, wi)
    if pred is None:
        st.error(f"Configuration {side.upper()} cannot be priced: {err}")
        st.stop()
    preds[side] = (pred, dev)
    if wi:
        st.warning(f"Configuration {side.upper()} runs on the **what-if device** (a copy of {devs[wi[0]].name} with "
                   f"user-entered {whatif.describe(wi)}; not in hwdb, not saved).", icon=":material/edit:")

(pa, da), (pb, db) = preds["a"], preds["b"]
for side, (p, _d) in preds.items():
    if not p.fits:
        st.error(f"Configuration {side.upper()} does not fit: {p.fit_reason}. Its latency, throughput and energy "
                 "are not shown.", icon=":material/block:")
st.caption(f"**A**: {sides['a']['model'].name} on {sides['a']['scenario'].tp} x {da.name} · "
           f"{sides['a']['scenario'].label()}  \n**B**: {sides['b']['model'].name} on {sides['b']['scenario'].tp} "
           f"x {db.name} · {sides['b']['scenario'].label()}")
cmp = workload.compare_configs(pa, da, pb, db)
table = cmp.assign(ratio=[common.MISSING if r is None or r != r else f"{r:.2f}x" for r in cmp["ratio"]],
                   better=[b or common.MISSING for b in cmp["better"]])
st.dataframe(table[["label", "a_text", "b_text", "ratio", "better", "kind", "source_a", "source_b"]],
             hide_index=True, width="stretch",
             column_config={"label": "metric", "a_text": "A", "b_text": "B", "ratio": "B / A",
                            "better": "better", "source_a": "source (A)", "source_b": "source (B)"})

fitting = {side: p for side, (p, _d) in preds.items() if p.fits}
if fitting:  # one chart, one scale: the same op kind is the same colour on both sides
    long = pd.concat([workload.breakdown_long(p.ops, "op_kind", p.op_phases).pipe(
        lambda f, s=side: f.assign(group=s.upper() + " · " + f["group"])) for side, p in fitting.items()],
        ignore_index=True)
    st.plotly_chart(charts.stacked_bars(long, title="Latency and energy by op kind: A beside B (modeled)",
                                        height=460), key="cmp_bd", width="stretch")
