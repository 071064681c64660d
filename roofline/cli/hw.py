"""`roofline hw list|show|systems`: thin typer wrappers over roofline.engine.hw and hwdb.systems."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

import hwdb
from hwdb.systems import get_system, load_systems
from roofline.engine.hw import device_record, list_devices
from roofline.fmt import dumps, si

hw_app = typer.Typer(help="The cited hardware database.", no_args_is_help=True)


@hw_app.command("list")
def hw_list_cli(
    kind: str = typer.Option(None, "--kind", help="gpu, cpu, soc or accelerator"),
    vendor: str = typer.Option(None, "--vendor", help="e.g. NVIDIA, AMD, Apple"),
    sort: str = typer.Option(None, "--sort", help="a dtype (bf16, int8, ...), memory, bandwidth, tdp, year"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """List devices with datasheet memory, bandwidth and dense peaks."""
    devs = list_devices(kind=kind, sort=sort, vendor=vendor)
    if as_json:
        typer.echo(dumps([device_record(d) for d in devs]))
        return
    t = Table(title=f"{len(devs)} devices (datasheet, dense peaks)")
    for col in ("id", "name", "kind", "mem", "BW", "fp32", "bf16", "fp8", "int8", "TDP", "price"):
        t.add_column(col, justify="left" if col in ("id", "name", "kind") else "right")
    for d in devs:
        price = " · ".join(x for x in (f"${d.cloud_usd_per_h:.2f}/h" if d.cloud_usd_per_h else "",
                                        f"${d.msrp_usd:,.0f}" if d.msrp_usd else "") if x) or "-"
        t.add_row(d.id, d.name, d.kind, si(d.memory_bytes, "B"), si(d.mem_bw_bytes_per_s, "B/s"),
                  si(d.peak("fp32"), "F/s"), si(d.peak("bf16"), "F/s"), si(d.peak("fp8"), "F/s"),
                  si(d.peak("int8"), "op/s"), f"{d.tdp_w:.0f} W", price)
    Console(width=200).print(t)


@hw_app.command("show")
def hw_show_cli(
    device_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """One device: peaks per dtype, ridge points, memory, power, price, measured ceilings, sources."""

    rec = device_record(hwdb.get(device_id))
    if as_json:
        typer.echo(dumps(rec))
        return
    c = Console(width=200)
    c.print(f"[bold]{rec['name']}[/bold] ({rec['id']}) — {rec['vendor']} {rec['kind']}, {rec['release_year']}")
    if rec["notes"]:
        c.print(rec["notes"])
    m = rec["memory"]
    c.print(f"memory: {si(m['capacity_bytes']['value'], 'B')} {m['type']} at {si(m['bw_bytes_per_s']['value'], 'B/s')}"
            f"  [datasheet: {m['bw_bytes_per_s']['source']}]")
    for cache in rec["caches"]:
        c.print(f"{cache['name']}: {si(cache['value'], 'B')}  [datasheet: {cache['source']}]")
    t = Table(title="dense peaks (datasheet) and ridge points")
    for col in ("dtype", "peak", "ridge FLOP/B", "source", "note"):
        t.add_column(col)
    for p in rec["peaks"]:
        t.add_row(p["dtype"], si(p["value"], "op/s"), f"{p['ridge_flop_per_byte']:.1f}", p["source"], p["note"])
    c.print(t)
    pw = rec["power"]
    idle = f", idle {pw['idle_w']['value']:.0f} W" if pw["idle_w"] else ""
    c.print(f"power: TDP {pw['tdp_w']['value']:.0f} W{idle}  [datasheet: {pw['tdp_w']['source']}]")
    c.print(f"2:4 sparsity: {'yes' if rec['sparse_2_4'] else 'no'}")
    ic = rec["interconnect"]
    if ic["name"]:
        bw = f" {si(ic['bw_bytes_per_s']['value'], 'B/s')}" if ic["bw_bytes_per_s"] else ""
        c.print(f"interconnect: {ic['name']}{bw}")
    pr = rec["price"]
    for basis, q in pr["reference"].items():
        if q is None:
            c.print(f"{basis} price: none public")
            continue
        val = f"${q['usd']:.2f}/h a device" if basis == "cloud" else f"${q['usd']:,.0f} a device"
        c.print(f"{basis} price (reference): {val}, {q['provider']} ({q['date']})  [{q['url']}]")
    others = [q for q in pr["quotes"] if q not in pr["reference"].values()]
    if others:
        c.print("  other quotes: " + "; ".join(
            f"{q['basis']} ${q['usd']:,.2f}{'/h' if q['basis'] == 'cloud' else ''} {q['provider']} ({q['date']})"
            for q in others))
    for f, why in rec["unreliable"].items():
        c.print(f"[yellow]unreliable[/yellow] {f}: {why}")
    ms = rec["measured"]
    if ms:
        c.print(f"[bold]measured[/bold] ({ms['run_id']}, {ms['date']}): copy {si(ms['copy_bw_bytes_per_s'], 'B/s')}, "
                + ", ".join(f"{k} matmul {si(v, 'op/s')}" for k, v in ms["matmul_ops_per_s"].items())
                + (f", idle {ms['idle_power_w']:.1f} W ({ms['idle_state']})" if ms["idle_power_w"] else ""))
        c.print(f"  source: {ms['source']}")


@hw_app.command("systems")
def hw_systems_cli(
    system_id: str = typer.Argument(None, metavar="[ID]", help="one system in full (its links and measurements)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Multi-device systems: devices a node, scale-up link, NICs, host link (one-way per device), measured collectives."""
    systems = [get_system(system_id)] if system_id else sorted(load_systems().values(), key=lambda s: s.id)
    recs = [system_record(s) for s in systems]
    if as_json:
        typer.echo(dumps(recs if not system_id else recs[0]))
        return
    t = Table(title=f"{len(systems)} systems (datasheet; bandwidths one-way per device)")
    for col in ("id", "device", "a node", "domain", "link", "link BW", "NIC BW", "host link", "host BW",
                "measured"):
        t.add_column(col, justify="left" if col in ("id", "device", "link", "host link") else "right")
    for s in systems:
        t.add_row(s.id, s.device, str(s.devices_per_node), str(s.scaleup_domain), s.link,
                  si(s.link_bw_bytes_per_s, "B/s"), si(s.nic_bw_bytes_per_s, "B/s") if s.nic_bw_bytes_per_s else "-",
                  s.host_link or "-", si(s.host_bw_bytes_per_s, "B/s") if s.host_bw_bytes_per_s else "-",
                  str(len(s.collectives)))
    c = Console(width=200)
    c.print(t)
    if system_id:
        for m in systems[0].collectives:
            bw = si(m.busbw_bytes_per_s, "B/s") + " busbw" if m.busbw_bytes_per_s else ""
            lat = si(m.latency_s, "s") if m.latency_s else ""
            c.print(f"  {m.collective} on {m.n_devices} ({m.nodes} node(s)), {m.algo}: {bw} {lat} "
                    f"[{systems[0].sources[m.source].url}]")


def system_record(s) -> dict:
    """A system as a plain record; every figure with its source."""
    def cited(f: str, v):
        if v is None:
            return None
        src = s.source_of(f)
        return {"value": v, "kind": "datasheet", "source": src.title, "url": src.url}

    return {"id": s.id, "name": s.name, "device": s.device, "devices_per_node": s.devices_per_node,
            "max_nodes": s.max_nodes, "scaleup_domain": s.scaleup_domain, "link": s.link,
            "link_bw_bytes_per_s": cited("scale_up.bw_bytes_per_s", s.link_bw_bytes_per_s),
            "nic": s.nic, "nic_bw_bytes_per_s": cited("scale_out.bw_bytes_per_s", s.nic_bw_bytes_per_s),
            "host_link": s.host_link, "host_bw_bytes_per_s": cited("host.bw_bytes_per_s", s.host_bw_bytes_per_s),
            "host_memory_bytes": cited("host.memory_bytes", s.host_memory_bytes), "notes": s.notes,
            "collectives": [{**m.__dict__, "kind": "measured", "url": s.sources[m.source].url} for m in s.collectives]}


def register(app: typer.Typer) -> None:
    app.add_typer(hw_app, name="hw")
