"""`roofline profile | traces list|show | import-ncu | import-trace | calibrate | attribute`: thin typer
wrappers over roofline.measure.profile, traces, ncu, kineto, calibrate and attribution."""

from __future__ import annotations

import json
import sys

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import hwdb
from roofline import validate
from roofline.analysis.attribution import compare, fidelity
from roofline.analysis.calibrate import calibrate, write_calibration
from roofline.cli.serving import calibrate_runtime
from roofline.errors import InputError
from roofline.fmt import dumps, si
from roofline.measure import traces
from roofline.measure.fleet import profile_fleet
from roofline.measure.kineto import (
    by_kind,
    check_device_for,
    kineto_trace_rows,
    read_kineto,
    summarize_kineto,
    trace_where,
)
from roofline.measure.ncu import check_ncu_dtype, ncu_trace_rows, read_ncu, summarize_ncu
from roofline.measure.profile import ProfileConfig, run_profile
from roofline.measure.traces import load_any, load_run, read_manifest, resolve_run, scan_runs
from roofline.views.measured import profile_summary

traces_app = typer.Typer(help="Measured runs under traces/ (or $ROOFLINE_TRACES).", no_args_is_help=True)
_err = Console(stderr=True, width=160)


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.0f}%"


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def _shape(cell: str) -> dict:
    """A row's shape cell as a dict (the schema check on read guarantees a JSON object or '')."""
    try:
        v = json.loads(cell or "{}")
    except ValueError:
        return {"shape": cell}
    return v if isinstance(v, dict) else {"shape": cell}


def _summary_table(df: pd.DataFrame, title: str) -> Table:
    t = Table(title=title)
    for col in ("kernel", "impl", "shape", "dtype", "time (p20-p80)", "% of roof", "bound", "energy/call", "method"):
        t.add_column(col, justify="right" if col in ("time (p20-p80)", "% of roof", "energy/call") else "left")
    for r in df.itertuples(index=False):
        shape = ",".join(f"{k}={v}" for k, v in _shape(r.shape).items())
        t.add_row(r.kernel, r.impl, shape, r.dtype, f"{si(r.median_s, 's')} ({si(r.p20_s, 's', 2)}-{si(r.p80_s, 's', 2)})",
                  _pct(r.pct_of_roof), r.bound or "-", si(r.energy_j, "J"), r.energy_method or "-")
    return t


def profile_cli(
    suite: str = typer.Option("quick", "--suite", help="built-in suite (quick, full) or a suite TOML file"),
    kernels: str = typer.Option(None, "--kernels", help="comma list of kernels to run (others skipped)"),
    device: str = typer.Option(None, "--device", help="hwdb id of the local device (overrides the match)"),
    out: str = typer.Option(None, "--out", help="traces root (default traces/ or $ROOFLINE_TRACES)"),
    energy: str = typer.Option("auto", "--energy", help="auto, nvml, rapl, modeled or none"),
    window_s: float = typer.Option(None, "--window", help="energy window per trial, s (>= 1 s for NVML)"),
    trials: int = typer.Option(None, "--trials", help="energy windows per point"),
    target_s: float = typer.Option(None, "--target", help="timed repetitions fill about this long, s"),
    ncu: bool = typer.Option(False, "--ncu", help="also collect DRAM/L2 bytes and FLOPs under Nsight Compute"),
    ncu_kernels: str = typer.Option(None, "--ncu-kernels", help="comma list: only these kernels under ncu"),
    cpu: bool = typer.Option(False, "--cpu", help="measure the CPU even when a GPU is present"),
    force_device: bool = typer.Option(False, "--force-device",
                                      help="label the rows --device even when this host is not that device "
                                           "(marked forced in manifest and rows; never calibrated)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (progress goes to stderr)"),
    ray: str = typer.Option(None, "--ray", help="profile every GPU node of a Ray cluster (ADDRESS, or 'local') "
                                                "and gather the rows into one run"),
) -> None:
    """Time the suite's kernels vs their peers, meter energy, write traces/<run-id>/."""

    if force_device and not device:
        raise InputError("--force-device needs --device ID")
    if ray is not None:
        if device or force_device:
            raise InputError("--ray matches each node's own device: --device / --force-device do not apply")
        cfg = ProfileConfig(suite=suite, kernels=validate.name_list("--kernels", kernels), out=out, energy=energy,
                            window_s=window_s, trials=trials, target_s=target_s, ncu=ncu,
                            ncu_kernels=validate.name_list("--ncu-kernels", ncu_kernels), use_gpu=not cpu)
        res = profile_fleet(cfg, ray or "local")
        if as_json:
            typer.echo(dumps({"path": res["path"], "run_id": res["run_id"], "nodes": res["nodes"],
                              "rows": len(res["rows"]), "warnings": res["warnings"]}))
        else:
            _err.print(f"fleet: {len(res['nodes'])} node(s), {len(res['rows'])} rows -> {res['path']}")
            for n in res["nodes"]:
                _err.print(f"  {n['host']}: {n['device_id'] or n['device_name']} ({n['run_id']})")
        return
    cfg = ProfileConfig(suite=suite, kernels=validate.name_list("--kernels", kernels), device=device, out=out,
                        energy=energy, window_s=window_s, trials=trials, target_s=target_s, ncu=ncu,
                        ncu_kernels=validate.name_list("--ncu-kernels", ncu_kernels), use_gpu=not cpu,
                        force_device=force_device)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=_err, transient=True)
    task = None

    def on_progress(done: int, total: int, label: str) -> None:
        nonlocal task
        if task is None:  # started only once the input checked out: bad input prints one line, no bar
            progress.start()
            task = progress.add_task(label, total=total)
        progress.update(task, completed=done, description=label[:60])

    try:
        res = run_profile(cfg, on_progress, on_warning=lambda m: progress.console.print(f"[yellow]warning:[/] {m}"))
    finally:
        if task is not None:
            progress.stop()
    table = profile_summary(res.rows)
    if res.interrupted:
        where = f"kept {len(res.rows)} completed rows in {res.path}" if res.path else "no row was completed; nothing written"
        _err.print(f"interrupted: {where}")
    if as_json:
        typer.echo(dumps({"run_id": res.run_id, "path": str(res.path) if res.path else None, "device_id": res.device_id,
                          "device_name": res.device_name, "energy_method": res.energy_method,
                          "interrupted": res.interrupted, "warnings": res.warnings, "rows": _records(table)}))
    else:
        dev = f"{res.device_id} ({res.device_name})" if res.device_id else f"{res.device_name} (no hwdb match)"
        Console(width=200).print(_summary_table(table, f"{res.run_id} on {dev}; energy: {res.energy_method}"))
        typer.echo(f"trace: {res.path}" if res.path else "no rows completed; nothing written")
    if res.interrupted:
        # SystemExit, not typer.Exit: click with standalone_mode=False returns Exit codes instead of exiting
        raise SystemExit(128 + (res.signal or 2))


@traces_app.command("list")
def traces_list_cli(
    root: str = typer.Option(None, "--root", help="traces root (default traces/ or $ROOFLINE_TRACES)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """List runs: id, start, device, suite, rows, complete."""

    runs, problems = scan_runs(root)
    for why in problems:  # a run that cannot be read is said, not hidden
        _err.print(f"[yellow]warning:[/] skipped {why}")
    if as_json:
        typer.echo(dumps([{"run_id": r.run_id, "path": str(r.path), **r.manifest} for r in runs]))
        return
    t = Table(title=f"{len(runs)} runs")
    for col in ("run id", "start", "device", "suite", "rows", "complete"):
        t.add_column(col)
    for r in runs:
        m = r.manifest
        t.add_row(r.run_id, str(m.get("start", "")), m.get("device_id") or m.get("device_name", ""),
                  str(m.get("suite", "")), str(m.get("rows", "")), "yes" if m.get("complete") else "no")
    Console(width=200).print(t)


@traces_app.command("show")
def traces_show_cli(
    run: str = typer.Argument(..., metavar="RUN", help="run id or run folder"),
    root: str = typer.Option(None, "--root", help="traces root"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """One run: its manifest and rows with % of roof."""

    path = resolve_run(run, root)
    manifest, rows = read_manifest(path), load_run(path)
    table = profile_summary(rows)
    if as_json:
        typer.echo(dumps({"manifest": manifest, "rows": _records(table)}))
        return
    c = Console(width=200)
    c.print(f"[bold]{manifest.get('run_id')}[/bold]  {manifest.get('device_name')} [{manifest.get('device_id') or 'no hwdb match'}]"
            f"  {manifest.get('start')} -> {manifest.get('end')}  complete: {manifest.get('complete')}")
    c.print(f"command: {manifest.get('command')}")
    for n in manifest.get("notes", []):
        c.print(f"note: {n}")
    c.print(_summary_table(table, f"{len(rows)} rows"))


def import_ncu_cli(
    file: str = typer.Argument(..., metavar="FILE.csv", help="ncu --csv export (details or --page raw)"),
    device: str = typer.Option(None, "--device", help="hwdb id the export was taken on"),
    dtype: str = typer.Option("bf16", "--dtype", help="compute dtype for the roofline of saved rows"),
    save: bool = typer.Option(False, "--save", help="also write the kernels as a trace run"),
    out: str = typer.Option(None, "--out", help="traces root for --save"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Measured DRAM bytes, L2 bytes and FLOPs per kernel launch configuration from your own Nsight Compute
    export (CSV, or a .ncu-rep report through NVIDIA's ncu-report package)."""

    check_ncu_dtype(dtype)
    if device:
        hwdb.get(device)
    launches = read_ncu(file)
    s = summarize_ncu(launches)
    path = _save_import(save, out, device, "ncu", file, lambda rid, did, name: ncu_trace_rows(
        launches, rid, did, name, dtype))
    if as_json:
        typer.echo(dumps({"kernels": _records(s), "path": path}))
        return
    t = Table(title=f"{file}: {len(launches)} launches of {len(s)} kernel configurations (ncu, measured)")
    for col in ("kernel", "grid", "block", "launches", "time", "DRAM bytes", "L2 bytes", "FLOPs", "FLOP/byte"):
        t.add_column(col, justify="left" if col in ("kernel", "grid", "block") else "right")
    for r in s.itertuples(index=False):
        ai = r.ncu_flops / r.ncu_dram_bytes if r.ncu_dram_bytes and r.ncu_dram_bytes > 0 else float("nan")
        t.add_row(r.kernel_name[:60], r.grid or "-", r.block or "-", str(r.launches), si(r.duration_s, "s"),
                  si(r.ncu_dram_bytes, "B"), si(r.ncu_l2_bytes, "B"), si(r.ncu_flops, "F"),
                  "-" if pd.isna(ai) else f"{ai:.1f}")
    Console(width=200).print(t)
    if path:
        typer.echo(f"trace: {path}")


def import_trace_cli(
    file: str = typer.Argument(..., metavar="FILE.json", help="torch.profiler / Kineto Chrome trace (.json or .json.gz)"),
    device: str = typer.Option(None, "--device", help="hwdb id the trace was recorded on"),
    save: bool = typer.Option(False, "--save", help="also write the kernels as a trace run"),
    out: str = typer.Option(None, "--out", help="traces root for --save"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """GPU kernels of a Kineto trace mapped onto ops (matmul, attention, elementwise, ...) with time; a
    CPU-only trace's CPU ops, for a CPU device."""

    df = read_kineto(file)
    if device:
        check_device_for(df, device)
    where = trace_where(df).upper()
    s, kinds = summarize_kineto(df), by_kind(df)
    path = _save_import(save, out, device, "kineto", file, lambda rid, did, name: kineto_trace_rows(df, rid, did, name),
                        df.attrs.get("notes", []))
    if as_json:
        typer.echo(dumps({"where": where.lower(), "by_kind": _records(kinds), "kernels": _records(s), "path": path,
                          "notes": df.attrs.get("notes", [])}))
        return
    c = Console(width=200)
    t = Table(title=f"{file}: {where} time by op kind")
    for col in ("op kind", "calls", "time", "share"):
        t.add_column(col)
    for r in kinds.itertuples(index=False):
        t.add_row(r.op_kind, str(r.calls), si(r.total_s, "s"), _pct(r.share))
    c.print(t)
    t = Table(title="top kernels" if where == "GPU" else "top CPU ops (outermost of each thread)")
    for col in ("op kind", "kernel" if where == "GPU" else "op", "launched by", "calls", "median", "total", "share"):
        t.add_column(col)
    for r in s.head(15).itertuples(index=False):
        t.add_row(r.op_kind, r.name[:60], r.cpu_op[:30] if where == "GPU" else "-", str(r.calls), si(r.median_s, "s"),
                  si(r.total_s, "s"), _pct(r.share))
    c.print(t)
    for n in df.attrs.get("notes", []):
        c.print(f"note: {n}")
    if path:
        typer.echo(f"trace: {path}")


def _save_import(save: bool, out: str | None, device: str | None, kind: str, file: str, make_rows,
                 notes: list[str] = ()) -> str | None:
    if not save:
        return None
    name = hwdb.get(device).name if device else ""
    root = traces.traces_root(out)
    traces.check_writable(root)
    rows = make_rows("", device or "", name)  # the writer sets each row's run id to the folder it creates
    m = traces.base_manifest(traces.new_run_id(f"{device or 'import'}-{kind}"), device or "", name,
                             " ".join(["roofline", *sys.argv[1:]]), f"import-{kind}")
    m.update(complete=True, notes=[f"imported from {file} ({kind}); not measured by roofline profile", *notes])
    return str(traces.write_run(root, m, rows))


def calibrate_cli(
    traces_arg: str = typer.Argument(None, metavar="[TRACES]", help="run id, run folder, or a folder of runs "
                                     "(with --runtime: serving rows from import-serving; optional)"),
    device: str = typer.Option(None, "--device", help="hwdb id to calibrate (default: the traces' device)"),
    holdout: float = typer.Option(0.25, "--holdout", help="fraction of configurations held out of the fit"),
    seed: int = typer.Option(0, "--seed"),
    dry_run: bool = typer.Option(False, "--dry-run", help="fit and print; write nothing"),
    force: bool = typer.Option(False, "--force", help="write an overlay even if it predicts the held-out rows worse "
                                                      "than the one in place (the file says so)"),
    runtime: str = typer.Option(None, "--runtime", help="fit a runtime profile instead (trtllm, vllm, llamacpp, ...; "
                                                        "'all' refits every shipped profile from the validation set)"),
    max_evals: int = typer.Option(None, "--max-evals", help="--runtime: cap on model evaluations per fit"),
    out: str = typer.Option(None, "--out", help="--runtime: profile file to write (default: the shipped one)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Fit a device's ceilings and each implementation's curve from traces (hwdb/measured/<id>.toml), or with
    --runtime a runtime profile from published and imported serving points (roofline/engine/runtimes/<name>.toml)."""

    if runtime:
        calibrate_runtime(runtime, traces_arg, dry_run, max_evals, as_json, out)
        return
    if not traces_arg:
        raise InputError("calibrate needs TRACES (or --runtime R to fit a runtime profile)")
    validate.fraction("--holdout", holdout, zero=True, one=False)
    if device:
        hwdb.get(device)
    rows = load_any(traces_arg)
    if rows.empty:
        raise InputError(f"{traces_arg}: the trace has no rows: nothing to calibrate")
    cal = calibrate(rows, device, holdout, seed)
    path = None if dry_run else str(write_calibration(cal, force=force))
    if as_json:
        typer.echo(dumps({"device_id": cal.device_id, "fields": cal.fields(), "fidelity": list(cal.fidelity),
                          "by_impl": list(cal.by_impl), "in_place_held_out_median": cal.in_place_held_out,
                          "held_out_median": cal.held_out_median, "notes": list(cal.notes), "written": path}))
        return
    c = Console(width=200)
    c.print(f"[bold]{cal.device_id}[/bold]: fit on {cal.n_fit} rows, {cal.n_holdout} held out")
    for k, v in cal.fields().items():
        if k not in ("note", "source", "date", "impl"):
            c.print(f"  {k} = {v}")
    t = Table(title="fidelity (|measured / predicted - 1|)")
    for col in ("metric", "split", "n", "median", "p90"):
        t.add_column(col)
    for f in cal.fidelity:
        t.add_row(f["metric"], f["split"], str(f["n"]), _pct(f["median_abs_err"]), _pct(f["p90_abs_err"]))
    c.print(t)
    t = Table(title="implementation curves and their time error")
    for col in ("kernel", "impl", "eff_c", "eff_m", "floor", "fit rows", "fit median", "held-out rows", "held-out median"):
        t.add_column(col)
    by = {(r["kernel"], r["impl"], r["split"]): r for r in cal.by_impl}
    for _, cv in sorted(cal.curves.items()):
        f, h = by.get((cv.kernel, cv.impl, "fit"), {}), by.get((cv.kernel, cv.impl, "held-out"), {})
        t.add_row(cv.kernel, cv.impl, f"{cv.compute_eff:.3g}", f"{cv.memory_eff:.3g}", si(cv.floor_s, "s"),
                  str(f.get("n", 0)), _pct(f.get("median_abs_err", float("nan"))), str(h.get("n", 0)),
                  _pct(h.get("median_abs_err", float("nan"))))
    c.print(t)
    if cal.in_place_held_out is not None:
        c.print(f"held-out median time error {_pct(cal.held_out_median)}; the overlay in place: "
                f"{_pct(cal.in_place_held_out)}")
    for n in cal.notes:
        c.print(f"note: {n}")
    typer.echo(f"written: {path}" if path else "dry run: nothing written")


def attribute_cli(
    traces_arg: str = typer.Argument(..., metavar="TRACES", help="run id, run folder, or a folder of runs"),
    datasheet: bool = typer.Option(False, "--datasheet", help="model with default efficiencies, not calibrated"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Measured vs modeled per row: % of roof, bound, time and energy error; fidelity summary."""

    cmp = compare(load_any(traces_arg), calibrated=not datasheet)
    fid = fidelity(cmp)
    if as_json:
        typer.echo(dumps({"rows": _records(cmp), "fidelity": _records(fid)}))
        return
    t = Table(title=f"{len(cmp)} rows: measured vs modeled")
    for col in ("kernel", "impl", "dtype", "device", "measured", "predicted", "time err", "% of roof", "bound",
                "energy", "energy err"):
        t.add_column(col)
    for r in cmp.itertuples(index=False):
        t.add_row(r.kernel, r.impl[:30], r.dtype, r.device_id or "-", si(r.median_s, "s"), si(r.predicted_s, "s"),
                  _pct(r.time_err), _pct(r.pct_of_roof), r.bound or "-", si(r.energy_j, "J"), _pct(r.energy_err))
    c = Console(width=200)
    c.print(t)
    t = Table(title="fidelity (|err|)")
    for col in ("metric", "split", "n", "median", "p90"):
        t.add_column(col)
    for f in fid.itertuples(index=False):
        t.add_row(f.metric, f.split, str(f.n), _pct(f.median_abs_err), _pct(f.p90_abs_err))
    c.print(t)


def register(app: typer.Typer) -> None:
    app.command("profile")(profile_cli)
    app.add_typer(traces_app, name="traces")
    app.command("import-ncu")(import_ncu_cli)
    app.command("import-trace")(import_trace_cli)
    app.command("calibrate")(calibrate_cli)
    app.command("attribute")(attribute_cli)
