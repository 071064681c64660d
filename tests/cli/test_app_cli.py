"""`roofline dashboard`: the command line it execs, and its refusals (no server is started here)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from roofline.cli import app
from roofline.cli import dashboard as cli_app
from roofline.errors import InputError


def test_dashboard_command_line(tmp_path):
    argv, env = cli_app.dashboard_command(port=8600, traces=str(tmp_path))
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert argv[4].endswith("app/dashboard.py")
    assert argv[argv.index("--server.port") + 1] == "8600"
    assert argv[argv.index("--server.headless") + 1] == "true"
    assert env["ROOFLINE_TRACES"] == str(tmp_path.resolve())


@pytest.mark.parametrize("port,traces,msg", [(0, None, "port"), (70000, None, "port"),
                                             (8501, "/no/such/folder", "does not exist")])
def test_dashboard_command_refuses_bad_input(port, traces, msg):
    with pytest.raises(InputError, match=msg):
        cli_app.dashboard_command(port=port, traces=traces)


def test_dashboard_is_registered_on_the_cli(monkeypatch):
    r = CliRunner().invoke(app, ["dashboard", "--help"])
    assert r.exit_code == 0 and "--port" in r.output and "--traces" in r.output
    seen = {}
    monkeypatch.setattr(cli_app.os, "execvpe", lambda f, argv, env: seen.update(argv=argv, env=env))
    r = CliRunner().invoke(app, ["dashboard", "--port", "8777"])
    assert r.exit_code == 0, r.output
    assert "8777" in seen["argv"]
