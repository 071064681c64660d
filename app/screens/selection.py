"""Hardware selection: rank devices for one workload by speed, latency under an SLO, cost, energy or IPW;
Pareto chart of cost vs speed vs energy; the same report `roofline report` builds, for download."""

from __future__ import annotations

import streamlit as st

from app import charts, state
from roofline.engine.runtime import DEFAULT_RUNTIME, runtime_names
from roofline.engine.scenario import PHASES, Scenario
from roofline.engine.select import RANK_KEYS
from roofline.views import common, selection, verdict

st.title("Hardware selection")

models, devs = state.models(), state.devices()
model_ids = sorted(models)
opts = common.device_filter_options(devs.values())
POW2 = [2**i for i in range(0, 10)]
rank_keys = [k for k in selection.RANK_LABELS if k in RANK_KEYS]
state.init("se_model", "llama-3.1-8b", options=model_ids)
state.init("se_phase", "generate", options=PHASES)
state.init("se_batch", 1, options=POW2)
state.init("se_prompt", 1024, options=[2**i for i in range(7, 18)])
state.init("se_gen", 256, options=[2**i for i in range(0, 13)])
state.init("se_wbits", 16, options=[16, 8, 4])
state.init("se_kvbits", 16, options=[16, 8, 4])
state.init("se_kinds", [], options=opts["kinds"])
state.init("se_by", "tokens_per_s", options=rank_keys)
state.init("se_slo_ttft", 0.0, lo=0.0)
state.init("se_slo_tpot", 0.0, lo=0.0)
state.init("se_tp", True)
with st.sidebar:
    st.subheader("Workload")
    st.selectbox("model", model_ids, key="se_model", format_func=lambda i: f"{models[i].name} ({i})")
    st.segmented_control("phase", PHASES, key="se_phase")
    st.select_slider("batch", POW2, key="se_batch")
    st.select_slider("prompt tokens", [2**i for i in range(7, 18)], key="se_prompt")
    st.select_slider("generated tokens", [2**i for i in range(0, 13)], key="se_gen")
    c1, c2 = st.columns(2)
    c1.selectbox("weight bits", [16, 8, 4], key="se_wbits")
    c2.selectbox("KV bits", [16, 8, 4], key="se_kvbits")
    st.subheader("Candidates")
    st.multiselect("device kinds", opts["kinds"], key="se_kinds", placeholder="all kinds")
    st.toggle("allow tensor parallelism (smallest TP that fits)", key="se_tp")
if st.session_state.se_phase is None:
    st.session_state.se_phase = "generate"
c1, c2, c3 = st.columns([2, 1, 1])
c1.selectbox("rank by", rank_keys, key="se_by", format_func=lambda k: selection.RANK_LABELS[k])
c2.number_input("SLO: TTFT ≤ (s, 0 = none)", min_value=0.0, step=0.05, format="%.3f", key="se_slo_ttft")
c3.number_input("SLO: TPOT ≤ (s, 0 = none)", min_value=0.0, step=0.01, format="%.3f", key="se_slo_tpot")
state.sync("se_model", "se_phase", "se_batch", "se_prompt", "se_gen", "se_wbits", "se_kvbits", "se_kinds", "se_by",
           "se_slo_ttft", "se_slo_tpot", "se_tp")

ss = st.session_state
model = models[ss.se_model]
prompt = min(ss.se_prompt, model.max_context)
scenario = Scenario(phase=ss.se_phase, batch=ss.se_batch, prompt_tokens=prompt, gen_tokens=ss.se_gen,
                    wbits=ss.se_wbits, kvbits=ss.se_kvbits)
cands = tuple(d.id for d in common.filter_devices(devs.values(), kinds=ss.se_kinds))
slo_ttft, slo_tpot = (ss.se_slo_ttft or None), (ss.se_slo_tpot or None)
st.caption(f"**{model.name}** · {scenario.label()} · {len(cands)} candidate devices. All figures modeled "
           "(roofline.engine.predict) from datasheet peaks; calibrated where a device was measured.")
state.init("se_runtime", DEFAULT_RUNTIME, options=runtime_names())
st.selectbox("runtime profile", runtime_names(), key="se_runtime",
             help=f"serving-runtime efficiencies and costs fitted on published measurements ({DEFAULT_RUNTIME} = "
                  "the device ceilings, the default); each figure carries its 80% band (columns *_lo / *_hi)")
state.init("se_basis", "cloud", options=["cloud", "owned"])
state.init("se_unreliable", False)
b1, b2 = st.columns(2)
b1.segmented_control("cost basis", ["cloud", "owned"], key="se_basis",
                     help="cloud: on-demand $/h of one device (the current-market median of cited quotes); owned: "
                          "purchase price over 3 years of 24/7 use + 30% host share + power at $0.10/kWh x PUE 1.3. "
                          "Never mixed: a device without a quote on this basis gets no $ figure.")
b2.toggle("rank placeholder figures too", key="se_unreliable",
          help="hwdb marks some figures unreliable (e.g. TPU chip power, unpublished): left out of rankings on them")
state.sync("se_basis", "se_unreliable")
ranked, err = state.ranking(model.id, scenario, cands, ss.se_by, slo_ttft, slo_tpot, ss.se_tp, ss.se_runtime,
                            ss.se_basis or "cloud", bool(ss.se_unreliable))
if ranked is None:
    st.error(f"Cannot rank: {err}")
    st.stop()

x_opts = list(selection.PARETO_AXES)
state.init("se_x", "usd_per_mtok", options=x_opts)
state.init("se_y", "tokens_per_s", options=x_opts)
state.init("se_z", "j_per_token", options=x_opts)
table = selection.ranking_view(ranked, ss.se_x, ss.se_y, ss.se_z)
ok = table[table["rank"].notna()]
m1, m2, m3 = st.columns(3)
m1.metric("devices that fit and meet the SLO (modeled)", f"{len(ok)} of {len(table)}")
if len(ok):
    best = ok.sort_values("rank").iloc[0]
    m2.metric(f"best by {selection.RANK_LABELS[ss.se_by].split(' (')[0]} (modeled)", str(best["device_id"]),
              help=f"source: {best['source']}")
    m3.metric(f"{selection.RANK_LABELS[ss.se_by].split(' (')[0]} of the best (modeled)",
              common.fmt_metric(common.finite_or_none(best[ss.se_by]), charts.AXIS_UNITS.get(ss.se_by, "")))
else:
    st.warning("No candidate fits and meets the SLO. Loosen the SLO, allow tensor parallelism, use fewer bits.")
v = verdict.verdict(ranked, ss.se_by, slo_ttft, slo_tpot, scenario.phase)
with st.container(border=True):
    st.markdown(f"**Verdict (modeled): {v.recommendation}.**")
    lines = [f"- {r}" for r in v.reasons]
    if v.runner_up:
        lines.append(f"- {'runner-up' if v.pick else 'closest'}: {v.runner_up_name} ({v.runner_up}); it would win "
                     + "; ".join(v.runner_up_when))
    lines += [f"- uncertainty: {r}" for r in v.ranges] + [f"- caveat: {c}" for c in v.caveats]
    st.markdown("\n".join(lines))

shown = table[["rank", "device_id", "name", "device_kind", "tp", "fits", "meets_slo", "tokens_per_s", "ttft_s",
               "tpot_s", "usd_per_mtok", "j_per_token", "ipw", "pareto", "kind", "source", "fit_reason"]]
st.dataframe(charts.styled(shown, {"rank": "", "tp": "", "tokens_per_s": "tok/s", "ttft_s": "s", "tpot_s": "s",
                                   "usd_per_mtok": "USD", "j_per_token": "J", "ipw": "/W"}),
             hide_index=True, width="stretch", column_config={
                 "tokens_per_s": st.column_config.Column("tokens/s"),
                 "ttft_s": st.column_config.Column("TTFT"),
                 "tpot_s": st.column_config.Column("TPOT"),
                 "usd_per_mtok": st.column_config.Column(f"$/M tok ({ss.se_basis or 'cloud'})",
                                                         help="on the cost basis chosen above (datasheet quotes)"),
                 "j_per_token": st.column_config.Column("J/token"),
                 "ipw": st.column_config.Column("IPW", help="accuracy / mean power (per W)"),
                 "meets_slo": st.column_config.CheckboxColumn("meets SLO"),
                 "pareto": st.column_config.CheckboxColumn("Pareto", help="not beaten on all three chart axes"),
                 "kind": st.column_config.TextColumn("kind", help="datasheet / modeled / measured")})
st.caption(f"Pareto = no other device that fits is at least as good on all of {selection.PARETO_AXES[ss.se_x][0]}, "
           f"{selection.PARETO_AXES[ss.se_y][0]} and {selection.PARETO_AXES[ss.se_z][0]} and better on one (the "
           "chart's three axes). Rank '—': does not fit or misses the SLO (see the columns and the reason).")
apart = ranked[ranked["fits"] & ranked["rank"].isna() & (ranked["unreliable"].astype(str) != "")]
if len(apart):
    st.warning(f"Not ranked by {selection.RANK_LABELS[ss.se_by].split(' (')[0]} (the figure rests on a placeholder; "
               "the toggle above ranks them): " + "; ".join(f"**{r.device_id}**: {r.unreliable}"
                                                          for r in apart.itertuples()))

st.subheader("Pareto: cost vs speed vs energy")
c1, c2, c3 = st.columns(3)
lab = selection.PARETO_AXES
c1.selectbox("x", x_opts, key="se_x", format_func=lambda k: lab[k][0])
c2.selectbox("y", x_opts, key="se_y", format_func=lambda k: lab[k][0])
c3.selectbox("colour", x_opts, key="se_z", format_func=lambda k: lab[k][0])
state.sync("se_x", "se_y", "se_z")
st.plotly_chart(charts.pareto_figure(table, ss.se_x, ss.se_y, ss.se_z, lab), key="se_pareto", width="stretch")
missing = selection.unplotted(table, ss.se_x, ss.se_y)
if missing:
    st.caption(f"Not plotted ({len(missing)} that fit but have no {lab[ss.se_x][0]} or {lab[ss.se_y][0]}, e.g. no "
               f"public price): {', '.join(missing)}.")

st.subheader("Report")
spec = selection.report_spec(model.id, scenario, cands, ss.se_by, slo_ttft, slo_tpot, ss.se_tp,
                         ss.se_x if ss.se_x in RANK_KEYS else "usd_per_mtok",
                         ss.se_y if ss.se_y in RANK_KEYS else "tokens_per_s")
spec_text = selection.spec_toml(spec)
if st.button("Build the report", help="the same HTML `roofline report` builds from the spec below"):
    st.session_state.se_report = spec_text
if st.session_state.get("se_report") == spec_text:
    with st.spinner("building the report"):
        data, rerr = state.report_html(spec_text)
    if rerr:
        st.error(f"Could not build the report: {rerr}")
    else:
        st.download_button("Download report (HTML)", data, file_name="roofline-report.html", mime="text/html")
st.download_button("Download the spec (TOML)", spec_text, file_name="dashboard-spec.toml", mime="text/plain",
                   help="`roofline report dashboard-spec.toml` builds the same report")
