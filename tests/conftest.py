"""Shared fixtures: the CLI run in-process, a small measured H100 trace, the repository and fixture paths."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the `roofline` CLI in-process: ``cli(args) -> (exit code, stdout, stderr)`` (main(): user errors
    become one line on stderr and exit 2, as for the console script)."""
    from roofline.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["roofline", *args])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def h100_trace_rows(run_id: str = "20261122-000000-h100-sxm-test") -> pd.DataFrame:
    """Four measured calls on the H100: a big bf16 matmul, a bf16 GEMV, a W4A16 GEMV and a copy."""
    n = 8192
    base = {"run_id": run_id, "device_id": "h100-sxm", "device_name": "NVIDIA H100 80GB HBM3", "reps": 100,
            "energy_method": "nvml-counter", "versions": json.dumps({"torch": "2.11"})}
    rows = [
        # 2n^3 FLOP, 3 * 2n^2 bytes; ~1.44 ms at ~763 TF/s; 1.1 J/call at ~690 W
        dict(kernel="matmul", impl="torch", shape=json.dumps({"m": n, "n": n, "k": n}), dtype="bf16",
             median_s=1.44e-3, p20_s=1.43e-3, p80_s=1.46e-3, flops=2 * n**3, bytes=6 * n * n, energy_j=1.0,
             power_w=690.0),
        # 2n^2 FLOP, 2n^2 + 4n bytes: memory-bound, ~50 us
        dict(kernel="gemv", impl="ours", shape=json.dumps({"n": n}), dtype="bf16", median_s=5.0e-5, p20_s=4.9e-5,
             p80_s=5.2e-5, flops=2 * n * n, bytes=2 * n * n + 4 * n, energy_j=0.02, power_w=400.0),
        # 4-bit weights + fp16 scales per 128: n^2 * (4 + 16/128) / 8 bytes
        dict(kernel="w4a16_gemv", impl="ours", shape=json.dumps({"n": n, "g": 128}), dtype="w4a16",
             median_s=1.6e-5, p20_s=1.5e-5, p80_s=1.7e-5, flops=2 * n * n, bytes=n * n * (4 + 16 / 128) / 8,
             energy_j=float("nan"), power_w=float("nan"), energy_method=""),
        dict(kernel="copy", impl="torch", shape=json.dumps({"bytes": 2**30}), dtype="bf16", median_s=7.2e-4,
             p20_s=7.1e-4, p80_s=7.3e-4, flops=0.0, bytes=2 * 2**30, energy_j=0.28, power_w=390.0),
    ]
    return pd.DataFrame([{**base, **r} for r in rows])


def write_h100_traces(root) -> str:
    """The four-row H100 trace written as one run under ``root``; returns its run id."""
    from roofline.measure import traces

    rid = "20261122-000000-h100-sxm-test"
    man = traces.base_manifest(rid, "h100-sxm", "NVIDIA H100 80GB HBM3", "pytest", "test")
    traces.write_run(root, man, h100_trace_rows(rid))
    return rid


@pytest.fixture(scope="session")
def trace_rows():
    """``trace_rows(run_id=...) -> DataFrame``: the four-row H100 trace."""
    return h100_trace_rows


@pytest.fixture(scope="session")
def write_traces():
    """``write_traces(root) -> run id``: the four-row H100 trace as a run folder."""
    return write_h100_traces
