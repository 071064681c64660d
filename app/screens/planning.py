"""Capacity planning: how many of which device serve a request rate within p99 TTFT / TPOT objectives, at what
cost and energy (the serving simulator over the roofline engine); the best fleet's latency percentiles and
utilization / power over time."""

from __future__ import annotations

import streamlit as st

from app import state
from roofline.engine.plan import OBJECTIVES, PLAN_DEVICES, PlanRequest, plan
from roofline.engine.scenario import Scenario
from roofline.engine.simulate import SimConfig, simulate
from roofline.engine.workload import make_workload
from roofline.errors import RooflineError
from roofline.views import planning

st.title("Capacity planning")
models, devs = state.models(), state.devices()
model_ids = sorted(models)
state.init("cp_model", "llama-3.1-8b", options=model_ids)
state.init("cp_qps", 4.0, lo=0.1)
state.init("cp_ttft", 2.0, lo=0.01)
state.init("cp_tpot", 50.0, lo=1.0)
state.init("cp_objective", "usd", options=list(OBJECTIVES))
state.init("cp_duration", 60.0, lo=10.0)
with st.sidebar:
    st.subheader("Traffic and objectives")
    st.selectbox("model", model_ids, key="cp_model", format_func=lambda i: f"{models[i].name} ({i})")
    st.number_input("requests per second", min_value=0.1, step=1.0, key="cp_qps")
    st.number_input("p99 TTFT objective (s)", min_value=0.01, step=0.5, key="cp_ttft")
    st.number_input("p99 TPOT objective (ms)", min_value=1.0, step=5.0, key="cp_tpot")
    st.segmented_control("objective", list(OBJECTIVES), key="cp_objective")
    chosen = st.multiselect("devices", sorted(devs), default=[d for d in PLAN_DEVICES if d in devs][:2])
    st.number_input("simulated seconds a candidate", min_value=10.0, step=30.0, key="cp_duration")
    st.caption("chat lengths (lognormal prompts ~900, outputs ~320 tokens), Poisson arrivals, vLLM runtime profile")


@st.cache_data(show_spinner="simulating the candidates ...")
def _plan(model: str, qps: float, ttft: float, tpot: float, devices: tuple[str, ...], objective: str,
          duration: float) -> dict:
    return plan(PlanRequest(model=model, qps=qps, slo_ttft_p99_s=ttft, slo_tpot_p99_s=tpot, devices=devices,
                            objective=objective, duration_s=duration))


@st.cache_data(show_spinner="simulating the best fleet ...")
def _sim(model: str, device: str, tp: int, pp: int, ep: int, scheduler: str, qps_share: float, duration: float):
    wl = make_workload(f"poisson:{qps_share:.9g}", duration, seed=0)
    cfg = SimConfig(model=model, device=device, scenario=Scenario(tp=tp, pp=pp, ep=ep), scheduler=scheduler,
                    runtime="vllm")
    return simulate(cfg, wl, duration)


if not chosen:
    st.info("Choose at least one device.")
    st.stop()
try:
    out = _plan(st.session_state.cp_model, float(st.session_state.cp_qps), float(st.session_state.cp_ttft),
                float(st.session_state.cp_tpot) / 1e3, tuple(chosen), st.session_state.cp_objective,
                float(st.session_state.cp_duration))
except RooflineError as e:
    st.warning(str(e))
    st.stop()
v = planning.plan_verdict(out, float(st.session_state.cp_qps), float(st.session_state.cp_ttft),
                          float(st.session_state.cp_tpot) / 1e3)
st.subheader(v["headline"])
st.write(v["reason"])
st.caption(f"Runner-up: {v['runner_up']}  ·  modeled ({v['source']})")
st.dataframe(planning.plan_table(out, top=30), hide_index=True, use_container_width=True)
b = out["best"]
res = _sim(st.session_state.cp_model, b["device_id"], int(b["tp"]), int(b["pp"]), int(b["ep"]), b["scheduler"],
           float(st.session_state.cp_qps) / int(b["replicas"]), float(st.session_state.cp_duration))
st.subheader("One replica of the best fleet, simulated")
c1, c2 = st.columns(2)
with c1:
    st.dataframe(planning.latency_percentiles(res.requests), hide_index=True)
    st.dataframe(planning.summary_rows(res.summary), hide_index=True)
with c2:
    tl = planning.timeline_view(res.timeline)
    st.line_chart(tl, x="t_s", y=["busy_frac"], height=180)
    st.line_chart(tl, x="t_s", y=["power_w"], height=180)
    st.line_chart(tl, x="t_s", y=["running", "waiting"], height=180)
