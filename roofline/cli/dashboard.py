"""`roofline dashboard`: serve the Streamlit app (app/dashboard.py) on localhost."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

import roofline
from roofline.errors import InputError

# The Streamlit entry script ships in the `app` package, installed beside `roofline` (repo root or site-packages).
DASHBOARD = Path(roofline.__file__).resolve().parent.parent / "app" / "dashboard.py"


def dashboard_command(port: int = 8501, traces: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The streamlit command line and environment that serve the dashboard. Raises InputError."""
    if not 1 <= port <= 65535:
        raise InputError(f"port must be in 1..65535, got {port}")
    if not DASHBOARD.is_file():
        raise InputError(f"dashboard not found at {DASHBOARD}")
    env = dict(os.environ)
    if traces is not None:
        p = Path(traces).expanduser().resolve()
        if not p.is_dir():
            raise InputError(f"traces folder {traces} does not exist")
        env["ROOFLINE_TRACES"] = str(p)
    argv = [sys.executable, "-m", "streamlit", "run", str(DASHBOARD), "--server.headless", "true",
            "--server.port", str(port), "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]
    return argv, env


def dashboard_cli(
    port: int = typer.Option(8501, "--port", help="port to serve on (localhost)"),
    traces: str = typer.Option(None, "--traces", help="folder of trace runs (default: the repo's traces/)"),
) -> None:
    """Serve the dashboard: hardware, workload, measurements, hardware selection, energy and IPW."""
    argv, env = dashboard_command(port, traces)
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        raise InputError("python executable not found to run streamlit")
    typer.echo(f"serving {DASHBOARD} on http://localhost:{port}", err=True)
    os.execvpe(argv[0], argv, env)


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_cli)
