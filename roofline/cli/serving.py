"""`roofline import-serving` and the runtime side of `roofline calibrate --runtime`: thin wrappers over
roofline.measure.serving (reading users' serving-benchmark results) and roofline.analysis.runtime_fit."""

from __future__ import annotations

import json
import math
import sys

import typer
from rich.console import Console
from rich.table import Table

import hwdb
from roofline.analysis import runtime_fit
from roofline.engine.runtime import RUNTIMES_DIR, get_profile, runtime_names
from roofline.errors import InputError
from roofline.fmt import dumps, si
from roofline.measure import traces
from roofline.measure.serving import FORMAT_RUNTIME, points_from_rows, read_serving, serving_rows
from roofline.measure.traces import load_any

_UNITS = {"ttft_s": "s", "tpot_s": "s", "time_s": "s", "tokens_per_s": "tok/s", "decode_tokens_per_s": "tok/s"}


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def import_serving_cli(
    file: str = typer.Argument(..., metavar="FILE", help="vLLM benchmark_serving JSON, SGLang bench_serving JSONL, "
                                                         "trtllm-bench report JSON, llama-bench JSON/CSV, "
                                                         "mlperf_log_summary.txt"),
    runtime: str = typer.Option(None, "--runtime", help="the runtime measured (default: the tool's own)"),
    device: str = typer.Option(None, "--device", help="hwdb id the run was measured on"),
    model: str = typer.Option(None, "--model", help="catalog id (default: matched from the file's model name)"),
    batch: int = typer.Option(None, "--batch", help="concurrency / batch, where the file does not state it"),
    prompt: int = typer.Option(None, "--prompt", help="input tokens a request, where the file does not state them"),
    gen: int = typer.Option(None, "--gen", help="output tokens a request, where the file does not state them"),
    tp: int = typer.Option(None, "--tp", help="tensor-parallel degree"),
    wbits: int = typer.Option(None, "--wbits"), abits: int = typer.Option(None, "--abits"),
    kvbits: int = typer.Option(None, "--kvbits"), group: int = typer.Option(None, "--group"),
    number_format: str = typer.Option(None, "--number-format", help="int | float (fp8 / fp4)"),
    save: bool = typer.Option(False, "--save", help="also write the rows as a trace run (kind serving)"),
    out: str = typer.Option(None, "--out", help="traces root for --save"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Your own serving-benchmark results as serving trace rows, each next to the runtime profile's prediction."""

    runs = read_serving(file)
    rt = runtime or FORMAT_RUNTIME[runs[0].format]
    get_profile(rt)  # unknown runtime: one line, exit 2
    dev = hwdb.get(device) if device else None
    overrides = {"batch": batch, "prompt_tokens": prompt, "gen_tokens": gen, "tp": tp, "wbits": wbits, "abits": abits,
                 "kvbits": kvbits, "group_size": group, "number_format": number_format}
    rows = serving_rows(runs, file, "import", dev.id if dev else "", dev.name if dev else "", rt, model, overrides)
    preds: list[float | None] = [None] * len(rows)
    if dev is not None:
        preds = [p.predicted(rt) for p in points_from_rows(rows)]
    path = None
    if save:
        if dev is None:
            raise InputError("--save needs --device: a serving row without a device calibrates nothing")
        root = traces.traces_root(out)
        traces.check_writable(root)
        rid = traces.new_run_id(f"{dev.id}-serving-{rt}", root=root)
        m = traces.base_manifest(rid, dev.id, dev.name, " ".join(["roofline", *sys.argv[1:]]), "import-serving")
        m.update(complete=True, notes=[f"imported from {file} ({runs[0].format}, runtime {rt}); measured by the user's "
                                       "benchmark, not by roofline profile"])
        path = str(traces.write_run(root, m, rows.assign(run_id=rid)))
    recs = []
    for (_, r), pred in zip(rows.iterrows(), preds, strict=True):
        shape = json.loads(r["shape"])
        v = shape["value_si"]
        recs.append({**shape, "runtime": rt, "device_id": r["device_id"], "predicted": pred,
                     "error": (v / pred - 1.0) if pred else None})
    if as_json:
        typer.echo(dumps({"format": runs[0].format, "runtime": rt, "rows": recs, "path": path}))
        return
    t = Table(title=f"{file}: {len(recs)} measured figures ({runs[0].format}, runtime {rt})")
    for col in ("figure", "measured", f"predicted ({rt})", "err", "model", "batch", "in/out", "precision", "tp", "where"):
        t.add_column(col, justify="right" if col in ("measured", f"predicted ({rt})", "err", "batch") else "left")
    for r in recs:
        u = _UNITS[r["quantity"]]
        fmt = (lambda x, u=u: si(x, "s") if u == "s" else f"{x:,.1f} tok/s")  # noqa: E731
        t.add_row(r["quantity"], fmt(r["value_si"]), fmt(r["predicted"]) if r["predicted"] else "- (no --device)",
                  _pct(r["error"]), r["model_id"], str(r["batch"]), f"{r['prompt_tokens']}/{r['gen_tokens']}",
                  f"W{r['wbits']}A{r['abits']}KV{r['kvbits']} {r['number_format']}", str(r["tp"]), r["locator"][:40])
    Console(width=200).print(t)
    if path:
        typer.echo(f"trace: {path}  (fit a profile from it: roofline calibrate {path} --runtime {rt})")


def calibrate_runtime(runtime: str, traces_arg: str | None, dry_run: bool, max_evals: int | None, as_json: bool,
                      out: str | None) -> None:
    """`calibrate --runtime R [TRACES]`: refit R (or every profile with ``all``) and write the profile file(s)."""
    if runtime != "all" and runtime not in runtime_names():
        get_profile(runtime)  # UnknownNameError with the closest names
    extra = points_from_rows(load_any(traces_arg)) if traces_arg else []
    c = Console(width=200)
    if runtime == "all":
        if extra:
            raise InputError("--runtime all refits the shipped validation set; pass one runtime with traces")
        v = runtime_fit.validate_all(max_nfev=max_evals)
        written = [] if dry_run else [str(runtime_fit.write_profile(p, header=runtime_fit.profile_header(v, n)))
                                      for n, p in v.profiles.items()]
        doc = {"table": v.table(), "coverage": {k: {"inside": a, "n": n} for k, (a, n) in v.coverage.items()},
               "k": v.k, "written": written}
        if as_json:
            typer.echo(dumps(doc))
            return
        _print_table(c, v.table())
        for k, (a, n) in v.coverage.items():
            c.print(f"{k}: {_pct(a)} of {n} held-out points inside the 80% band built without their source")
        typer.echo("written: " + ", ".join(written) if written else "dry run: nothing written")
        return
    r = runtime_fit.refit_runtime(runtime, extra, max_nfev=max_evals)
    summary = runtime_fit.error_summary(r.result.points, r.result.held_out)
    header = (f"Runtime profile {runtime!r}, written by `roofline calibrate --runtime {runtime}` on {r.profile.fitted} "
              f"from {len(r.result.points)} points\n({len(extra)} of them imported serving rows). Held out a source at "
              f"a time: median {summary['median']:.1%}, p90 {summary['p90']:.1%},\nworst {summary['worst']:.1%}; "
              f"{r.coverage[0]:.0%} of {r.coverage[1]} held-out points inside the 80% band built without their source.")
    target = out or str(RUNTIMES_DIR / f"{runtime}.toml")
    path = None if dry_run else str(runtime_fit.write_profile(r.profile, target, header))
    doc = {"runtime": runtime, "points": len(r.result.points), "imported_points": len(extra),
           "fitted": r.result.fitted, "held_out": summary, "by_document": list(r.profile.held_out),
           "coverage": {"inside": r.coverage[0], "n": r.coverage[1]}, "k": r.k,
           "bands": {k: {"lo_factor": math.exp(b.lo), "hi_factor": math.exp(b.hi), "n": b.n}
                     for k, b in r.profile.bands.items()}, "written": path}
    if as_json:
        typer.echo(dumps(doc))
        return
    c.print(f"[bold]{runtime}[/bold]: fit on {len(r.result.points)} points ({len(extra)} imported)")
    for k, v in r.result.fitted.items():
        c.print(f"  {k} = {v:.4g}")
    _print_table(c, [{"runtime": d["document"], "documents": 1, **d} for d in r.profile.held_out]
                 + [{"runtime": "all", "documents": len(r.profile.held_out), **summary}])
    c.print(f"band coverage: {_pct(r.coverage[0])} of {r.coverage[1]} held-out points inside the 80% band")
    typer.echo(f"written: {path}" if path else "dry run: nothing written")


def _print_table(c: Console, rows: list[dict]) -> None:
    t = Table(title="held out a source at a time: |measured / predicted - 1|")
    for col in ("runtime / document", "documents", "points", "median", "p90", "worst"):
        t.add_column(col, justify="left" if col.startswith("runtime") else "right")
    for r in rows:
        t.add_row(str(r["runtime"]), str(r["documents"]), str(r["n"]), _pct(r["median"]), _pct(r["p90"]),
                  _pct(r["worst"]))
    c.print(t)


def register(app: typer.Typer) -> None:
    app.command("import-serving")(import_serving_cli)
