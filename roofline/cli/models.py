"""`roofline models list|show`, `roofline predict`, `roofline select`: thin typer wrappers over the engine."""

from __future__ import annotations

import math
import sys
from dataclasses import asdict

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

import hwdb
from hwdb.schema import COST_BASES
from roofline import validate
from roofline.engine.catalog import get_model, load_models
from roofline.engine.collectives import default_links
from roofline.engine.cost import Tco
from roofline.engine.parallel import legal_layouts
from roofline.engine.predict import predict
from roofline.engine.runtime import DEFAULT_RUNTIME, get_profile, runtime_names
from roofline.engine.scenario import PHASES, Scenario, parse_attention, parse_sparsity
from roofline.engine.select import RANK_KEYS, pareto_front, rank
from roofline.errors import InputError
from roofline.fmt import dumps, si
from roofline.provenance import DATASHEET, MODELED
from roofline.views.common import band_overlap_note, layout_cell

models_app = typer.Typer(help="The model catalog (architectures from config.json, published accuracy).",
                         no_args_is_help=True)


def model_record(m) -> dict:
    """A catalog entry as a plain record (datasheet = the publisher's config and papers)."""

    rec = {k: v for k, v in asdict(m).items() if k != "path"}
    rec.update(params=m.params, active_params=m.active_params, kind=DATASHEET)
    rec["accuracy"] = [{**asdict(a), "kind": "published"} for a in m.accuracy]
    return rec


@models_app.command("list")
def models_list_cli(as_json: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
    """List catalog models with size, attention shape and published accuracy."""

    ms = sorted(load_models().values(), key=lambda m: (m.family, m.params))
    if as_json:
        typer.echo(dumps([model_record(m) for m in ms]))
        return
    t = Table(title=f"{len(ms)} models (from config.json; accuracy as published)")
    for col in ("id", "params", "active", "layers", "hidden", "heads/kv", "head_dim", "ffn", "vocab", "experts",
                "tied", "accuracy"):
        t.add_column(col, justify="left" if col in ("id", "accuracy") else "right")
    for m in ms:
        a = m.accuracy_for()
        t.add_row(m.id, si(m.params, ""), si(m.active_params, ""), str(m.layers), str(m.hidden),
                  f"{m.heads}/{m.kv_heads}", str(m.head_dim), str(m.mlp_width), str(m.vocab),
                  f"{m.experts_per_token}/{m.experts}" if m.is_moe else "-", "yes" if m.tied_embeddings else "no",
                  f"{a.benchmark} {a.value_pct:g}" if a else "-")
    Console(width=200).print(t)


@models_app.command("show")
def models_show_cli(model_id: str = typer.Argument(..., metavar="ID"),
                    as_json: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
    """One model: every architecture field, its config source and accuracy figures with sources."""

    m = get_model(model_id)
    rec = model_record(m)
    if as_json:
        typer.echo(dumps(rec))
        return
    c = Console(width=200)
    c.print(f"[bold]{m.name}[/bold] ({m.id}) — {si(m.params, '')} params, {si(m.active_params, '')} active")
    for k in ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab", "experts",
              "experts_per_token", "moe_intermediate", "tied_embeddings", "max_context", "native_wbits", "native_abits"):
        c.print(f"  {k}: {rec[k]}")
    c.print(f"  config: {m.source}")
    if m.notes:
        c.print(f"  notes: {m.notes}")
    for a in m.accuracy:
        c.print(f"  {a.benchmark}: {a.value_pct:g}%  [{a.source}] {a.note}")


def build_scenario(model_id: str, phase: str, batch: int, prompt: int, gen: int, wbits: int | None,
                   abits: int | None, kvbits: int | None, group: int, sparsity: str, attention: str, tp: int,
                   mlp_active: float, head_active: float, number_format: str = "int"):
    """Scenario from CLI values; bits default to the model's native precision. Raises on bad input."""

    m = get_model(model_id)
    validate.choice("--phase", phase, PHASES)
    context = prompt + (gen if phase == "generate" else 1) if isinstance(prompt, int) and isinstance(gen, int) else 0
    if context > m.max_context:
        raise InputError(f"--prompt {prompt}{f' + --gen {gen}' if phase == 'generate' else ''} = {context:,} tokens "
                         f"exceeds the {m.max_context:,}-token context of {m.id} (max_context in its config)")
    kind, kept = parse_attention(attention)
    sc = Scenario(phase=phase, batch=batch, prompt_tokens=prompt, gen_tokens=gen,
                  wbits=m.native_wbits if wbits is None else wbits, abits=m.native_abits if abits is None else abits,
                  kvbits=16 if kvbits is None else kvbits, group_size=group, weight_sparsity=parse_sparsity(sparsity),
                  mlp_active=mlp_active, head_active=head_active, attention=kind, attention_kept=kept, tp=tp,
                  number_format=number_format)
    return m, sc.validate(m)


def serving_features(m, sc, pp: int, ep: int, nodes: int | None, spec: str | None, prefix_hit: float,
                     offload: str | None, kv_block: int):
    """The scenario with the parallel and serving-feature options applied (validated)."""
    kw: dict = {"pp": pp, "ep": ep, "prefix_hit": prefix_hit, "kv_block": kv_block}
    if nodes is not None:
        kw["nodes"] = validate.positive("--nodes", nodes, integer=True)
    if spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise InputError(f"cannot parse --spec {spec!r} (use DRAFT:K:ACCEPT, e.g. llama-3.2-1b:4:0.7 or heads:3:0.6)")
        draft, k, acc = parts
        if draft != "heads":
            get_model(draft)
        try:
            kw.update(spec_draft=draft, spec_tokens=int(k), spec_acceptance=float(acc))
        except ValueError:
            raise InputError(f"cannot parse --spec {spec!r}: K an integer, ACCEPT a number in [0, 1)") from None
        validate.positive("--spec lookahead K", kw["spec_tokens"], integer=True)
    if offload:
        what, _, frac = offload.partition(":")
        validate.choice("--offload", what, ["kv", "weights"])
        try:
            kw.update(offload=what, offload_fraction=float(frac))
        except ValueError:
            raise InputError(f"cannot parse --offload {offload!r} (use kv:0.5 or weights:0.25)") from None
    return sc.with_(**kw).validate(m)


def auto_layout(m, device: str, sc, objective: str, devices_n: int | None, runtime: str, system: str | None,
                allow_pcie_tp: bool, calibrated: bool = True, cost_basis: str = "cloud", tco: Tco | None = None):
    """--parallel auto: the best legal layout (by ``objective``) of ``devices_n`` devices, or of the fewest that
    fit. Returns (prediction, every tried prediction)."""
    dev = hwdb.get(device)
    links = default_links(dev, system)
    if devices_n is not None:
        validate.positive("--devices", devices_n, integer=True)
    lays = legal_layouts(m, sc, links, devices_n or 64, allow_pcie_tp, devices=devices_n)
    if not lays:
        raise InputError(f"no legal TP x PP x EP layout of {devices_n or 'up to 64'} {device} for {m.id} on "
                         f"{links.system_id} (heads {m.heads}, KV heads {m.kv_heads}, layers {m.layers}"
                         + (f", experts {m.experts}" if m.is_moe else "") + f"; {links.per_node} devices a node)")
    tried = [predict(m, dev, x.apply(sc), calibrated=calibrated, runtime=runtime, system=system,
                     allow_pcie_tp=allow_pcie_tp, cost_basis=cost_basis, tco=tco) for x in lays]
    fits = [q for q in tried if q.fits]
    if not fits:
        return tried[-1], tried
    if devices_n is None:
        fewest = min(q.devices for q in fits)
        fits = [q for q in fits if q.devices == fewest]
    up = RANK_KEYS[objective]
    best = sorted(fits, key=lambda q: (getattr(q, objective) is None,
                                       -(getattr(q, objective) or 0) if up else (getattr(q, objective) or 0)))[0]
    return best, tried


def banded(p, key: str, unit: str) -> str:
    """``x (lo-hi)`` for a headline figure; just ``x`` when it carries no band."""
    v = getattr(p, key)
    fmt = (lambda x: si(x, unit)) if unit else (lambda x: f"{x:,.1f}")  # noqa: E731
    if v is None:
        return "-"
    if key not in p.bands:
        return fmt(v)
    lo, hi = p.bands[key]
    return f"{fmt(v)} ({fmt(lo)}-{fmt(hi)})"


def runtime_line(p) -> str:
    b = p.band
    band = (f"80% band from held-out residuals ({b.device_class}): measured / predicted time "
            f"{math.exp(b.lo):.2f}-{math.exp(b.hi):.2f}" if b else "no band")
    default = " (the default)" if p.runtime == DEFAULT_RUNTIME else ""
    return f"runtime: {p.runtime}{default} -- {p.runtime_title}; {band}"


_O = typer.Option
# the cost basis and the owned-TCO parameters: one definition for predict and select
COST_BASIS_OPT = _O("cloud", "--cost-basis", help="cloud (on-demand $/h) or owned (TCO: price over --years at "
                                                  "--utilization + power); never mixed")
YEARS_OPT = _O(3.0, "--years", help="owned: depreciation years")
UTILIZATION_OPT = _O(1.0, "--utilization", help="owned: share of hours serving (0..1]")
USD_PER_KWH_OPT = _O(0.10, "--usd-per-kwh", help="owned: electricity price")
PUE_OPT = _O(1.3, "--pue", help="owned: data-centre power usage effectiveness")
HOST_SHARE_OPT = _O(0.30, "--host-share", help="owned: host/network/rack as a share of the device price")


def predict_cli(
    model: str = _O(..., "--model", "-m", help="catalog id, e.g. llama-3.1-8b (see `roofline models list`)"),
    device: str = _O(..., "--device", "-d", help="hwdb id, e.g. h100-sxm (see `roofline hw list`)"),
    phase: str = _O("decode", "--phase", help="prefill | decode | generate"),
    batch: int = _O(1, "--batch", "-b", help="concurrent sequences"),
    prompt: int = _O(1024, "--prompt", "-p", help="prompt tokens (decode: the context L)"),
    gen: int = _O(256, "--gen", "-g", help="generated tokens a sequence (generate)"),
    wbits: int = _O(None, "--wbits", help="weight bits 1..16 (default: the model's native)"),
    abits: int = _O(None, "--abits", help="activation bits 1..16 (default: the model's native)"),
    kvbits: int = _O(None, "--kvbits", help="KV-cache bits 1..16 (default 16)"),
    group: int = _O(128, "--group", help="weights (and KV elements) per 16-bit scale when bits < 16"),
    sparsity: str = _O("none", "--sparsity", help="weight sparsity: none | 2:4"),
    attention: str = _O("flash", "--attention", help="naive | flash | block-sparse:<kept fraction>"),
    tp: int = _O(1, "--tp", help="tensor-parallel devices"),
    pp: int = _O(1, "--pp", help="pipeline-parallel stages"),
    ep: int = _O(1, "--ep", help="expert-parallel degree (MoE; attention data-parallel over ep groups)"),
    nodes: int = _O(None, "--nodes", help="nodes the replica spans (default: as few as hold tp x pp x ep)"),
    system: str = _O(None, "--system", help="hwdb system id (default: the device's largest; `roofline hw systems`)"),
    parallel: str = _O(None, "--parallel", help="auto: search the legal TP x PP x EP layouts of --devices N "
                                                "(or the fewest that fit) for the best --objective"),
    devices_n: int = _O(None, "--devices", help="with --parallel auto: the device count to lay out"),
    objective: str = _O("tokens_per_s", "--objective", help="--parallel auto ranks by this (a select --rank key)"),
    allow_pcie_tp: bool = _O(False, "--allow-pcie-tp", help="allow tensor parallelism over PCIe beyond the peer group"),
    spec: str = _O(None, "--spec", help="speculative decoding DRAFT:K:ACCEPT, DRAFT a model id or 'heads'"),
    prefix_hit: float = _O(0.0, "--prefix-hit", help="prefix-cache hit rate of the prompt, [0, 1)"),
    offload: str = _O(None, "--offload", help="kv:FRACTION or weights:FRACTION held in host memory"),
    kv_block: int = _O(0, "--kv-block", help="paged KV block in tokens (0 = contiguous)"),
    mlp_active: float = _O(1.0, "--mlp-active", help="contextual sparsity: fraction of MLP neurons active"),
    head_active: float = _O(1.0, "--head-active", help="contextual sparsity: fraction of heads active"),
    number_format: str = _O("int", "--number-format", help="8/4-bit weights and activations: int (int8/int4) or "
                                                         "float (fp8/fp4)"),
    runtime: str = _O(DEFAULT_RUNTIME, "--runtime", help="runtime profile: " + ", ".join(runtime_names())
                      + " (or a profile .toml)"),
    cost_basis: str = COST_BASIS_OPT,
    years: float = YEARS_OPT,
    utilization: float = UTILIZATION_OPT,
    usd_per_kwh: float = USD_PER_KWH_OPT,
    pue: float = PUE_OPT,
    host_share: float = HOST_SHARE_OPT,
    per_op: bool = _O(False, "--per-op", help="include the per-op rows"),
    as_json: bool = _O(False, "--json", help="print one JSON document"),
    as_csv: bool = _O(False, "--csv", help="print CSV (per-op rows with --per-op, else one totals row)"),
    uncalibrated: bool = _O(False, "--uncalibrated", help="documented defaults even where the device was measured"),
) -> None:
    """Modeled TTFT, TPOT, tokens/s, memory fit and energy of a model on a device (per op with --per-op)."""

    validate.exclusive(**{"--json": as_json, "--csv": as_csv})
    m, sc = build_scenario(model, phase, batch, prompt, gen, wbits, abits, kvbits, group, sparsity, attention, tp,
                           mlp_active, head_active, number_format)
    sc = serving_features(m, sc, pp, ep, nodes, spec, prefix_hit, offload, kv_block)
    tco = cost_options(cost_basis, years, utilization, usd_per_kwh, pue, host_share)
    if parallel is not None:
        validate.choice("--parallel", parallel, ["auto"])
        validate.choice("--objective", objective, list(RANK_KEYS))
        p, _ = auto_layout(m, device, sc, objective, devices_n, runtime, system, allow_pcie_tp, not uncalibrated,
                           cost_basis, tco)
    else:
        if devices_n is not None:
            raise InputError("--devices needs --parallel auto (or give --tp / --pp / --ep)")
        p = predict(m, device, sc, calibrated=not uncalibrated, runtime=runtime, system=system,
                    allow_pcie_tp=allow_pcie_tp, cost_basis=cost_basis, tco=tco)
    if as_json:
        typer.echo(dumps(p.to_dict(include_ops=per_op)))
        return
    if as_csv:

        df = p.ops_frame() if per_op else pd.DataFrame([{**p.to_dict()["scenario"], **p.to_dict()["totals"]}])
        sys.stdout.write(df.to_csv(index=False))
        return
    c = Console(width=200)
    c.print(f"[bold]{m.name}[/bold] on {p.device_id}" + (f" x{p.devices}" if p.devices > 1 else "")
            + f" — {p.scenario.label()}")
    if p.devices > 1:
        c.print(f"layout: TP{p.tp} x PP{p.pp} x EP{p.ep} = {p.devices} devices on {p.nodes} node(s) of {p.system_id}")
    c.print(f"modeled (efficiency: {p.efficiency_kind}, {p.efficiency_source}; energy: {p.energy_kind})")
    c.print(runtime_line(p))
    if not p.fits:
        c.print(f"[red]DOES NOT FIT[/red]: {p.fit_reason}")
    c.print(f"TTFT {banded(p, 'ttft_s', 's')}   TPOT {banded(p, 'tpot_s', 's')}   "
            f"{banded(p, 'tokens_per_s', '')} tokens/s ({p.tokens_per_s_per_request:,.2f} a request, "
            f"{p.tokens_per_s_per_device:,.1f} a device)   phase time {banded(p, 'time_s', 's')}, mostly {p.bound}-bound")
    c.print(f"memory a device: {si(p.memory_bytes, 'B')} = weights {si(p.weight_bytes, 'B')} + KV {si(p.kv_bytes, 'B')}"
            f" + activations {si(p.activation_bytes, 'B')} (usable {si(p.usable_memory_bytes, 'B')})")
    usd = ""
    if p.usd_per_mtok is not None:
        lo_hi = p.bands.get("usd_per_mtok")
        usd = (f"   ${p.usd_per_mtok:,.3f}/M tokens" + (f" (${lo_hi[0]:,.3f}-{lo_hi[1]:,.3f})" if lo_hi else "")
               + f", {p.price_basis}")
    c.print(f"energy {banded(p, 'energy_j', 'J')}, {banded(p, 'j_per_token', 'J')}/token, mean "
            f"{p.avg_power_w:,.0f} W{usd}")
    if p.usd_per_mtok is None:
        c.print(f"cost: {p.price_basis} (choose another --cost-basis to price it)")
    for fig, why in sorted(p.unreliable.items()):
        c.print(f"[yellow]unreliable[/yellow] {fig}: {why}")
    for n in p.notes:
        c.print(f"note: {n}")
    if p.accuracy:
        c.print(f"IPW {p.ipw:.3g} /W, IPJ {p.ipj:.3g} /J  ({p.accuracy.benchmark} {p.accuracy.value_pct:g}%)")
    if per_op:
        t = Table(title="per op (per device, all instances)")
        for col in ("phase", "op", "kind", "count", "FLOPs", "bytes", "dtype", "AI", "time", "bound", "energy"):
            t.add_column(col, justify="left" if col in ("phase", "op", "kind", "dtype", "bound") else "right")
        for r in p.ops_frame().itertuples():
            t.add_row(r.phase, r.name, r.kind, str(r.count), si(r.flops, "F"), si(r.bytes, "B"), r.dtype,
                      f"{r.intensity:.3g}", si(r.time_s, "s"), r.bound, si(r.energy_j, "J"))
        c.print(t)


def cost_options(basis: str, years: float, utilization: float, usd_per_kwh: float, pue: float,
                 host_share: float) -> Tco:
    """The cost basis and TCO flags, checked (one line, exit 2, on a bad value)."""
    validate.choice("--cost-basis", basis, COST_BASES)
    return Tco(years, utilization, usd_per_kwh, pue, host_share).validated()


def select_cli(
    model: str = _O(..., "--model", "-m", help="catalog id"),
    phase: str = _O("generate", "--phase", help="prefill | decode | generate"),
    batch: int = _O(1, "--batch", "-b"),
    prompt: int = _O(1024, "--prompt", "-p"),
    gen: int = _O(256, "--gen", "-g"),
    wbits: int = _O(None, "--wbits"),
    abits: int = _O(None, "--abits"),
    kvbits: int = _O(None, "--kvbits"),
    group: int = _O(128, "--group"),
    sparsity: str = _O("none", "--sparsity"),
    attention: str = _O("flash", "--attention"),
    slo_ttft_ms: float = _O(None, "--slo-ttft-ms", help="drop devices whose TTFT exceeds this"),
    slo_tpot_ms: float = _O(None, "--slo-tpot-ms", help="drop devices whose TPOT exceeds this"),
    by: str = _O("tokens_per_s", "--rank", help="tokens_per_s | usd_per_mtok | j_per_token | ipw | ipj | ttft_s | tpot_s"),
    kind: str = _O(None, "--kind", help="only gpu, cpu, soc or accelerator"),
    no_tp: bool = _O(False, "--no-tp", help="never split a model over several devices"),
    number_format: str = _O("int", "--number-format", help="int (int8/int4) or float (fp8/fp4)"),
    runtime: str = _O(DEFAULT_RUNTIME, "--runtime", help="runtime profile: " + ", ".join(runtime_names())),
    cost_basis: str = COST_BASIS_OPT,
    years: float = YEARS_OPT,
    utilization: float = UTILIZATION_OPT,
    usd_per_kwh: float = USD_PER_KWH_OPT,
    pue: float = PUE_OPT,
    host_share: float = HOST_SHARE_OPT,
    include_unreliable: bool = _O(False, "--include-unreliable", help="rank devices whose ranked figure rests on a "
                                                                     "placeholder (hwdb [unreliable]) too"),
    as_json: bool = _O(False, "--json", help="print one JSON document"),
) -> None:
    """Rank devices for a workload (tensor parallelism where one device does not fit), with the Pareto front."""

    if kind is not None:
        validate.choice("--kind", kind, hwdb.KINDS)
    for flag, v in (("--slo-ttft-ms", slo_ttft_ms), ("--slo-tpot-ms", slo_tpot_ms)):
        validate.optional_positive(flag, v)
    validate.choice("--rank", by, list(RANK_KEYS))
    m, sc = build_scenario(model, phase, batch, prompt, gen, wbits, abits, kvbits, group, sparsity, attention, 1,
                           1.0, 1.0, number_format)
    devs = [d for d in hwdb.load().values() if kind is None or d.kind == kind]
    df = rank(m, sc, devices=devs, by=by, slo_ttft_s=None if slo_ttft_ms is None else slo_ttft_ms / 1e3,
              slo_tpot_s=None if slo_tpot_ms is None else slo_tpot_ms / 1e3, allow_tp=not no_tp, runtime=runtime,
              cost_basis=cost_basis, tco=cost_options(cost_basis, years, utilization, usd_per_kwh, pue, host_share),
              include_unreliable=include_unreliable)
    rt = get_profile(runtime)
    df = pareto_front(df, minimize=["j_per_token"], maximize=["tokens_per_s"], include_unreliable=include_unreliable)
    if as_json:
        typer.echo(dumps({"model": m.id, "scenario": sc, "rank_by": by, "kind": MODELED,
                          "runtime": {"name": rt.name, "title": rt.title, "default": DEFAULT_RUNTIME,
                                      "is_default": rt.name == DEFAULT_RUNTIME},
                          "slo": {"ttft_s": None if slo_ttft_ms is None else slo_ttft_ms / 1e3,
                                  "tpot_s": None if slo_tpot_ms is None else slo_tpot_ms / 1e3},
                          "pareto_objectives": {"minimize": ["j_per_token"], "maximize": ["tokens_per_s"]},
                          "devices": df.to_dict(orient="records")}))
        return
    default = " (the default)" if rt.name == DEFAULT_RUNTIME else ""
    tco = cost_options(cost_basis, years, utilization, usd_per_kwh, pue, host_share)
    basis = "cloud on-demand" if cost_basis == "cloud" else f"owned, {tco.label()}"
    t = Table(title=f"{m.name}: {sc.label()} — ranked by {by} (modeled, runtime {rt.name}{default}; "
                    f"{by} shown with its 80% band; $ on the {basis} basis)")
    for col in ("rank", "device", "group", "TTFT", "TPOT", "tok/s group", "tok/s dev", "$/h group", "$/Mtok",
                "J/tok", "IPW", "pareto", "note"):
        t.add_column(col, justify="left" if col in ("device", "note") else "right",
                     overflow="fold", max_width=70 if col == "note" else None)
    fmt = {"ttft_s": lambda x: si(x, "s"), "tpot_s": lambda x: si(x, "s"), "tokens_per_s": lambda x: f"{x:,.1f}",
           "tokens_per_s_per_device": lambda x: f"{x:,.1f}", "usd_per_h": lambda x: f"{x:,.2f}",
           "usd_per_mtok": lambda x: f"{x:,.3f}", "j_per_token": lambda x: si(x, "J"), "ipw": lambda x: f"{x:.3g}"}
    apart = []
    for r in df.to_dict(orient="records"):
        def cell(k, r=r):
            v = r.get(k)
            if v is None or v != v:
                return "-"
            out = fmt[k](v)
            lo, hi = r.get(f"{k}_lo"), r.get(f"{k}_hi")
            if k == by and lo is not None and lo == lo:
                out += f" ({fmt[k](lo)}-{fmt[k](hi)})"
            return out

        group = layout_cell(r)
        if not r["fits"]:  # only why it does not fit: no figures beside "needs 104 GB"
            t.add_row("-", r["device_id"], group, "", "", "", "", "", "", "", "", "", f"does not fit: {r['fit_reason']}")
            continue
        if r.get("unreliable") and r["rank"] != r["rank"]:
            apart.append(r)
            continue
        note = "misses SLO" if not r["meets_slo"] else ""
        if r["usd_per_mtok"] != r["usd_per_mtok"]:
            note = (note + "; " if note else "") + f"no public {cost_basis} price"
        if r.get("unreliable"):
            note = (note + "; " if note else "") + f"unreliable: {r['unreliable']}"
        if r.get("within_band_of"):
            note = (note + "; " if note else "") + band_overlap_note(r["within_band_of"])
        t.add_row("-" if r["rank"] != r["rank"] else f"{r['rank']:.0f}", r["device_id"], group, cell("ttft_s"),
                  cell("tpot_s"), cell("tokens_per_s"), cell("tokens_per_s_per_device"), cell("usd_per_h"),
                  cell("usd_per_mtok"), cell("j_per_token"), cell("ipw"), "*" if r["pareto"] else "", note)
    c = Console(width=240)
    c.print(t)
    c.print("pareto *: no other fitting device is both faster (tokens/s of the group) and lower in energy per token. "
            "group: devices of one replica (layout beyond TP); 'tok/s dev' and '$/h group' are per device and per group.")
    if apart:
        c.print(f"Not ranked by {by} (its figure rests on a placeholder; --include-unreliable ranks them):")
        for r in apart:
            c.print(f"  {r['device_id']}: {r['unreliable']}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("predict")(predict_cli)
    app.command("select")(select_cli)
