"""`roofline kernels list | inspect`: thin typer wrappers over kernels.registry and roofline.measure.inspect
(static SASS analysis of every kernel launch, compiled for a GPU target on this machine; kind "static")."""

from __future__ import annotations

import datetime
import json

import typer
from rich.console import Console
from rich.table import Table

from kernels.registry import load_all
from roofline.errors import InputError
from roofline.fmt import dumps, si
from roofline.measure import traces
from roofline.measure.inspect import inspect_kernels, rows_to_dicts

kernels_app = typer.Typer(help="The reference kernels: what is registered, and their static (SASS) profile.",
                          no_args_is_help=True)


def _names(values: list[str] | None) -> list[str] | None:
    out = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return out or None


@kernels_app.command("list")
def kernels_list_cli(as_json: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
    """Registered kernels: family, dtypes, benchmark and quick shapes."""
    reg = load_all()
    recs = [{"name": e.name, "family": e.family, "dtypes": list(e.dtypes), "bench_shapes": len(e.bench_shapes),
             "quick_shapes": len(e.quick_shapes), "description": e.description} for e in reg.values()]
    if as_json:
        typer.echo(dumps(recs))
        return
    t = Table(title=f"{len(recs)} registered kernels")
    for col in ("name", "family", "dtypes", "bench", "quick", "description"):
        t.add_column(col, overflow="fold")
    for r in recs:
        t.add_row(r["name"], r["family"], ",".join(r["dtypes"]), str(r["bench_shapes"]), str(r["quick_shapes"]),
                  r["description"])
    Console(width=200).print(t)


def _per(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.2f}"


@kernels_app.command("inspect")
def kernels_inspect_cli(
    kernel: list[str] = typer.Option(None, "--kernel", "-k", help="kernel name(s), comma or repeated (default: all)"),
    shape: list[str] = typer.Option(None, "--shape", help="shape key(s), e.g. M=1,K=8192,N=8192,group=128 (repeat)"),
    arch: str = typer.Option("sm90", "--arch", help="GPU target, e.g. sm90"),
    device: str = typer.Option("h200", "--device", help="hwdb id whose SMs, clock and bandwidth give the floors"),
    dtype: str = typer.Option(None, "--dtype", help="activation dtype (default: each kernel's first)"),
    all_configs: bool = typer.Option(False, "--all-configs", help="every candidate config, not only the first"),
    workers: int = typer.Option(None, "--workers", help="parallel compile processes (default: the CPU count)"),
    save: bool = typer.Option(False, "--save", help="write the rows to <traces>/static/ for the dashboard and reports"),
    root: str = typer.Option(None, "--root", help="traces root for --save (default: traces/ or $ROOFLINE_TRACES)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON list of rows"),
) -> None:
    """Static profile of each kernel launch at its benchmark shapes: registers, spills, shared memory, MMA kind,
    128-bit load share, local memory, hot-loop instructions per weight (or per KV byte), and the issue floor next
    to the memory and compute floors on --device (kind "static": compiled code read, nothing run)."""
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    rows = inspect_kernels(_names(kernel), shape or None, arch=arch, device_id=device, all_configs=all_configs,
                           dtype=dtype, workers=workers)
    recs = rows_to_dicts(rows)
    if save:
        path = traces.write_static({"kind": "static", "arch": arch, "device_id": device, "rows": recs,
                                    "date": datetime.date.today().isoformat(),
                                    "command": "roofline kernels inspect " + json.dumps(
                                        {"kernel": _names(kernel), "shape": shape, "dtype": dtype,
                                         "all_configs": all_configs})}, root)
        typer.echo(f"wrote {path}", err=True)
    if as_json:
        typer.echo(dumps(recs))
        return
    t = Table(title=f"{len(rows)} launches, {arch} floors on {device} (static: compiled code, not a measurement)")
    for col in ("kernel", "launch", "shape", "dtype", "1st", "regs", "spill B", "smem", "MMA", "LDG128",
                "LDL/STL", "instr/w", "instr/B", "issue", "memory", "compute", "bound"):
        t.add_column(col, overflow="fold", justify="left" if col in ("kernel", "launch", "shape", "MMA", "bound")
                     else "right")
    for r in rows:
        t.add_row(r.kernel, r.launch, r.shape, r.dtype, "*" if r.first_choice else "", str(r.regs),
                  str(r.spill_bytes), si(r.smem_bytes, "B"), r.mma, f"{100 * r.ldg128_share:.0f}%", str(r.local_ops),
                  _per(r.instr_per_weight), _per(r.instr_per_byte), si(r.issue_floor_s, "s"),
                  si(r.memory_floor_s, "s"), si(r.compute_floor_s, "s"), r.predicted_bound)
    Console(width=240).print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(kernels_app, name="kernels")
