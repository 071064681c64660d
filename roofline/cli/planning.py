"""`roofline simulate`, `roofline plan`, `roofline sweep`: thin typer wrappers over the serving simulator, the
capacity planner and the vectorized sweep (each on Ray with ``--ray [ADDRESS]``)."""

from __future__ import annotations

import math

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

import hwdb
from hwdb.schema import COST_BASES
from roofline import validate
from roofline.cli.models import build_scenario, serving_features
from roofline.engine.distribute import LOCAL, run_tasks
from roofline.engine.plan import OBJECTIVES, PLAN_DEVICES, PlanRequest, plan
from roofline.engine.runtime import runtime_names
from roofline.engine.scenario import Scenario
from roofline.engine.simulate import SCHEDULERS, SimConfig, simulate
from roofline.engine.sweep import sweep
from roofline.engine.workload import make_workload
from roofline.errors import InputError
from roofline.fmt import dumps, si
from roofline.provenance import MODELED

_O = typer.Option
RAY_HELP = "run on a Ray cluster: ADDRESS (ray://host:port, host:port, auto) or 'local' (a local 2-CPU Ray)"


def _ray(value: str | None) -> str | None:
    return None if value is None else (value or LOCAL)


def simulate_cli(
    model: str = _O(..., "--model", "-m", help="catalog id"),
    device: str = _O(..., "--device", "-d", help="hwdb id"),
    count: int = _O(None, "--count", help="devices in all (replicas = count / (tp x pp x ep))"),
    tp: int = _O(1, "--tp"), pp: int = _O(1, "--pp"), ep: int = _O(1, "--ep"),
    nodes: int = _O(None, "--nodes"),
    system: str = _O(None, "--system", help="hwdb system id"),
    wbits: int = _O(None, "--wbits"), abits: int = _O(None, "--abits"), kvbits: int = _O(None, "--kvbits"),
    arrivals: str = _O("poisson:1", "--arrivals", help="poisson:QPS | gamma:QPS,CV | static | trace:FILE"),
    prompt_dist: str = _O("chat", "--prompt-dist", help="fixed:N | uniform:LO,HI | lognormal:MEDIAN,SIGMA[,MAX] | chat"),
    output_dist: str = _O("chat", "--output-dist", help="as --prompt-dist"),
    scheduler: str = _O("vllm", "--scheduler", help="static | vllm | sarathi"),
    max_batched_tokens: int = _O(None, "--max-batched-tokens", help="token budget an iteration (default: runtime's)"),
    max_batch: int = _O(256, "--max-batch", help="max concurrent sequences (static: the batch)"),
    duration: float = _O(600.0, "--duration", help="seconds of arrivals"),
    requests: int = _O(None, "--requests", help="--arrivals static: how many requests at t = 0"),
    spec: str = _O(None, "--spec", help="DRAFT:K:ACCEPT (speculative decoding)"),
    prefix_hit: float = _O(0.0, "--prefix-hit"),
    offload: str = _O(None, "--offload", help="kv:F or weights:F"),
    kv_block: int = _O(16, "--kv-block", help="paged KV block (tokens)"),
    slo_ttft: float = _O(None, "--slo-ttft", help="goodput: TTFT objective (s)"),
    slo_tpot: float = _O(None, "--slo-tpot", help="goodput: TPOT objective (s)"),
    runtime: str = _O("vllm", "--runtime", help="runtime profile: " + ", ".join(runtime_names())),
    seed: int = _O(0, "--seed"),
    ray: str = _O(None, "--ray", help=RAY_HELP),
    requests_csv: str = _O(None, "--requests-csv", help="write one row a request to this CSV"),
    as_json: bool = _O(False, "--json", help="print one JSON document"),
) -> None:
    """Simulate serving traffic with continuous batching: TTFT / TPOT / E2E percentiles, goodput, energy."""
    validate.choice("--scheduler", scheduler, list(SCHEDULERS))
    validate.positive("--duration", duration)
    validate.positive("--max-batch", max_batch, integer=True)
    validate.positive("--kv-block", kv_block, integer=True)
    for flag, v in (("--slo-ttft", slo_ttft), ("--slo-tpot", slo_tpot)):
        validate.optional_positive(flag, v)
    if max_batched_tokens is not None:
        validate.positive("--max-batched-tokens", max_batched_tokens, integer=True)
    m, sc = build_scenario(model, "decode", 1, 16, 1, wbits, abits, kvbits, 128, "none", "flash", tp, 1.0, 1.0)
    sc = serving_features(m, sc, pp, ep, nodes, spec, prefix_hit, offload, 0)
    per = sc.devices
    replicas = 1
    if count is not None:
        validate.positive("--count", count, integer=True)
        if count % per:
            raise InputError(f"--count {count} is not a multiple of tp x pp x ep = {per}")
        replicas = count // per
    wl = make_workload(arrivals, duration, prompt_dist, output_dist, seed,
                       static_requests=requests or (max_batch if arrivals.strip() == "static" else None))
    cfg = SimConfig(model=m.id, device=device, scenario=sc, scheduler=scheduler, max_batched_tokens=max_batched_tokens,
                    max_batch=max_batch, kv_block=kv_block, replicas=replicas, runtime=runtime, system=system,
                    slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot, seed=seed)
    (res,) = run_tasks(simulate, [(cfg, wl, duration)], _ray(ray))
    if requests_csv:
        res.requests.to_csv(requests_csv, index=False)
    s = res.summary
    if as_json:
        typer.echo(dumps({"kind": MODELED, "config": res.config, "summary": s,
                          "timeline": res.timeline.to_dict(orient="list")}))
        return
    c = Console(width=200)
    c.print(f"[bold]{m.name}[/bold] on {s['devices']} x {device} ({replicas} replica(s) of {sc.label()}), "
            f"{scheduler}, {wl.arrivals}, {s['requests']:,} requests in {duration:g} s (seed {seed}; modeled)")
    for k, lab in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "E2E")):
        q = s[k]
        c.print(f"{lab:5s} p50 {si(q['p50'], 's')}  p90 {si(q['p90'], 's')}  p99 {si(q['p99'], 's')}  "
                f"mean {si(q['mean'], 's')}")
    c.print(f"throughput {s['throughput_tokens_per_s']:,.0f} output tokens/s, {s['achieved_qps']:.3g} requests/s served "
            f"of {s['offered_qps']:.3g} offered; goodput {s['goodput_qps']:.3g} requests/s "
            f"({s['slo_attainment']:.1%} within the SLO)")
    c.print(f"energy {si(s['energy_j'], 'J')}: {si(s['j_per_request'], 'J')}/request, {si(s['j_per_token'], 'J')}/token, "
            f"mean {s['avg_power_w']:,.0f} W; busy {s['utilization']:.0%}; {s['preemptions']} preemptions; "
            f"KV cache {s['kv_capacity_tokens']:,.0f} tokens a replica")
    ll = s["littles_law"]
    c.print(f"Little's law: L = {ll['mean_in_system']:.3g} in the system vs lambda W = "
            f"{ll['arrival_rate'] * ll['mean_sojourn_s']:.3g}")
    sr = s["single_request"]
    c.print(f"one request alone: TTFT {si(sr['ttft_s'], 's')}, TPOT {si(sr['tpot_s'], 's')}")
    if s["saturated"]:
        c.print(f"[red]{s['saturation_note']}[/red]")


def plan_cli(
    model: str = _O(..., "--model", "-m"),
    qps: float = _O(..., "--qps", help="requests a second to serve"),
    slo_ttft_p99: float = _O(..., "--slo-ttft-p99", help="p99 TTFT objective (s)"),
    slo_tpot_p99: float = _O(..., "--slo-tpot-p99", help="p99 TPOT objective (s)"),
    devices: str = _O(",".join(PLAN_DEVICES), "--devices", help="comma list of hwdb ids"),
    objective: str = _O("usd", "--objective", help="usd | joules | devices"),
    prompt_dist: str = _O("chat", "--prompt-dist"), output_dist: str = _O("chat", "--output-dist"),
    duration: float = _O(120.0, "--duration", help="seconds of traffic each candidate is simulated for"),
    wbits: int = _O(None, "--wbits"),
    runtime: str = _O("vllm", "--runtime"),
    cost_basis: str = _O("cloud", "--cost-basis", help="cloud (on-demand $/h) or owned (TCO at the simulated power)"),
    seed: int = _O(0, "--seed"),
    ray: str = _O(None, "--ray", help=RAY_HELP),
    as_json: bool = _O(False, "--json"),
) -> None:
    """The cheapest / lowest-energy / fewest-device fleet meeting p99 TTFT and TPOT at a request rate."""
    validate.choice("--objective", objective, list(OBJECTIVES))
    validate.choice("--cost-basis", cost_basis, list(COST_BASES))
    validate.positive("--duration", duration)
    devs = validate.name_list("--devices", devices)
    req = PlanRequest(model=model, qps=qps, slo_ttft_p99_s=slo_ttft_p99, slo_tpot_p99_s=slo_tpot_p99,
                      devices=tuple(devs), objective=objective, prompt_dist=prompt_dist, output_dist=output_dist,
                      duration_s=duration, seed=seed, runtime=runtime, wbits=wbits, cost_basis=cost_basis)
    for d in devs:
        hwdb.get(d)  # UnknownDeviceError before any simulation
    out = plan(req, _ray(ray))
    df: pd.DataFrame = out["table"]
    if as_json:
        typer.echo(dumps({"kind": MODELED, "request": req.__dict__, "best": out["best"], "runner_up": out["runner_up"],
                          "why": out["why"], "candidates": df.to_dict(orient="records")}))
        return
    c = Console(width=220)
    b = out["best"]
    c.print(f"[bold]{model} at {qps:g} requests/s[/bold], p99 TTFT <= {slo_ttft_p99:g} s, p99 TPOT <= "
            f"{slo_tpot_p99 * 1e3:g} ms, objective {objective} (modeled: simulated {duration:g} s a candidate, "
            f"runtime {runtime}, seed {seed})")
    c.print(f"[green]best[/green]: {int(b['replicas'])} x {b['layout']} {b['device_id']} = {int(b['devices'])} devices, "
            f"{b['scheduler']}; p99 TTFT {si(b['ttft_p99_s'], 's')}, p99 TPOT {si(b['tpot_p99_s'], 's')}; "
            + (f"${b['usd_per_h']:,.2f}/h ({b['price_basis']}); " if b['usd_per_h'] == b['usd_per_h'] else "no price; ")
            + f"{si(b['j_per_request'], 'J')}/request")
    if out["why"]:
        c.print(f"runner-up: {out['why']}")
    t = Table(title="candidates (meeting the objectives first, by the objective)")
    for col in ("device", "layout", "sched", "replicas", "devices", "meets", "TTFT p99", "TPOT p99", "$/h", "J/req",
                "note"):
        t.add_column(col, justify="left" if col in ("device", "layout", "sched", "note") else "right")
    for r in df.head(24).itertuples():
        def f(x, unit=""):
            return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else si(x, unit)
        t.add_row(r.device_id, r.layout, r.scheduler, str(int(r.replicas or 0)), str(int(r.devices or 0)),
                  "yes" if r.meets_slo else "no", f(r.ttft_p99_s, "s"), f(r.tpot_p99_s, "s"),
                  "-" if r.usd_per_h != r.usd_per_h else f"{r.usd_per_h:,.2f}", f(r.j_per_request, "J"),
                  str(r.note or "")[:60])
    c.print(t)


def _sweep_one(device: str, models: list[str], batches: list[int], prompts: list[int], gen: int, runtime: str):
    scs = [Scenario(phase="generate", batch=b, prompt_tokens=p, gen_tokens=gen) for b in batches for p in prompts]
    return sweep([device], models, scs, runtime=runtime)


def sweep_cli(
    models: str = _O(..., "--models", help="comma list of catalog ids"),
    devices: str = _O(..., "--devices", help="comma list of hwdb ids"),
    batches: str = _O("1,8,32,128", "--batches"), prompts: str = _O("512,2048", "--prompts"),
    gen: int = _O(256, "--gen"), runtime: str = _O("ideal", "--runtime"),
    ray: str = _O(None, "--ray", help=RAY_HELP),
    out: str = _O(None, "--out", help="write the rows to this CSV"),
    as_json: bool = _O(False, "--json"),
) -> None:
    """A vectorized sweep of devices x models x batch x prompt (generate), one task a device (on Ray with --ray)."""
    mods = validate.name_list("--models", models)
    devs = validate.name_list("--devices", devices)

    def ints(flag, s):
        try:
            return [validate.positive(flag, int(x), integer=True) for x in validate.name_list(flag, s)]
        except ValueError:
            raise InputError(f"{flag} must be a comma list of integers, got {s!r}") from None

    b, p = ints("--batches", batches), ints("--prompts", prompts)
    validate.positive("--gen", gen, integer=True)
    parts = run_tasks(_sweep_one, [(d, mods, b, p, gen, runtime) for d in devs], _ray(ray))
    df = pd.concat(parts, ignore_index=True)
    if out:
        df.to_csv(out, index=False)
    if as_json:
        typer.echo(dumps({"kind": MODELED, "rows": df.to_dict(orient="records")}))
        return
    cols = ["device_id", "model_id", "batch", "prompt_tokens", "tokens_per_s", "ttft_s", "tpot_s", "j_per_token", "fits"]
    Console(width=200).print(df[cols].to_string(index=False))


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cli)
    app.command("plan")(plan_cli)
    app.command("sweep")(sweep_cli)
