"""`roofline report SPEC --format html|pdf|both --out DIR`: a thin typer wrapper over reports.build."""

from __future__ import annotations

from pathlib import Path

import typer

from reports.build import write_reports
from roofline.fmt import si


def report_cli(
    spec: Path = typer.Argument(..., metavar="SPEC", help="report spec (TOML); examples in reports/specs/"),
    fmt: str = typer.Option("both", "--format", "-f", help="html, pdf or both"),
    out: Path = typer.Option(Path("reports_out"), "--out", "-o", help="output folder (created if missing)"),
    runtime: str = typer.Option(None, "--runtime", help="runtime profile for every prediction (default: the spec's "
                                                        "[ranking] runtime, else the default runtime)"),
) -> None:
    """Build a reproducible hardware-selection report (self-contained HTML and/or multi-page PDF)."""

    for p in write_reports(spec, fmt, out, runtime):
        typer.echo(f"wrote {p} ({si(p.stat().st_size, 'B')})")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cli)
