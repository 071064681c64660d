"""The distribution as a user gets it: ``pip wheel .`` installed into a fresh virtual environment (no source
tree on the path) runs ``roofline hw list``, ``roofline predict`` and ``roofline report`` from its package data.

The fresh venv reuses this environment's third-party packages through a ``.pth`` line (reinstalling torch
would take minutes); the project's own packages come only from the wheel, run from an empty working folder.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # setuptools builds in the source tree (build/, *.egg-info): never in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "traces", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", ".hypothesis", "out"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("roofline_workbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("roofline/engine/catalog/llama-3.1-8b.toml", "roofline/measure/suites/quick.toml",
                 "hwdb/devices/h100-sxm.toml", "hwdb/measured/h100-sxm.toml", "reports/specs/edge-8b.toml",
                 "reports/templates/report.html.j2", "app/dashboard.py"):
        assert data in names, f"{data} missing from the wheel"
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    purelib = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # third-party dependencies from this environment, after the venv's own site-packages
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ROOFLINE_HWDB", "ROOFLINE_TRACES")}
    return venv, env


def _run(wheel_env, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    venv, env = wheel_env
    return subprocess.run([str(venv / "bin" / "roofline"), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)


def test_wheel_runs_hw_predict_report(wheel_env, tmp_path):
    venv, env = wheel_env
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import roofline, hwdb; print(roofline.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert where.returncode == 0 and str(venv) in where.stdout, where.stdout + where.stderr  # not the source tree
    hw = _run(wheel_env, "hw", "list", "--json", cwd=tmp_path)
    assert hw.returncode == 0, hw.stderr
    assert "h100-sxm" in {d["id"] for d in json.loads(hw.stdout)}
    pr = _run(wheel_env, "predict", "--model", "llama-3.1-8b", "--device", "h100-sxm", "--phase", "decode",
              "--batch", "8", "--json", cwd=tmp_path)
    assert pr.returncode == 0, pr.stderr
    doc = json.loads(pr.stdout)
    assert doc["totals"]["tokens_per_s"] > 0 and doc["efficiency"]["kind"] == "measured"  # the overlay shipped
    out = tmp_path / "report"
    rep = _run(wheel_env, "report", str(ROOT / "reports" / "specs" / "edge-8b.toml"), "--format", "html",
               "--out", str(out), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert list(out.glob("*.html")) and list(out.glob("*.html"))[0].stat().st_size > 100_000
