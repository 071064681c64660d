"""`roofline hw` and the CLI's error contract: one line on stderr, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import hwdb


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roofline", *args], capture_output=True, text=True, timeout=120)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("roofline ")


def test_hw_list_json_filter_and_sort():
    r = run("hw", "list", "--json", "--kind", "gpu", "--sort", "bf16")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and all(row["kind"] == "gpu" for row in rows)
    bf16 = [next((p["value"] for p in row["peaks"] if p["dtype"] == "bf16"), -1) for row in rows]
    assert bf16 == sorted(bf16, reverse=True)
    assert len(rows) == sum(d.kind == "gpu" for d in hwdb.load().values())


def test_hw_list_table_and_show():
    r = run("hw", "list")
    assert r.returncode == 0 and "h100-sxm" in r.stdout
    r = run("hw", "show", "h100-sxm")
    assert r.returncode == 0
    assert "ridge" in r.stdout and "NVIDIA H100 Tensor Core GPU Datasheet" in r.stdout and "measured" in r.stdout


def test_hw_show_json_cites_every_peak():
    rec = json.loads(run("hw", "show", "h100-sxm", "--json").stdout)
    assert {p["dtype"] for p in rec["peaks"]} == {"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"}
    assert all(p["kind"] == "datasheet" and p["url"].startswith("http") for p in rec["peaks"])
    assert rec["measured"]["kind"] == "measured" and rec["measured"]["idle_power_w"] == 72.8


def test_unknown_device_one_line_exit_2():
    r = run("hw", "show", "h100-sx")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "did you mean h100-sxm" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_options_exit_2():
    for args in (("hw", "list", "--kind", "fpga"), ("hw", "list", "--sort", "nope"), ("hw", "list", "--bogus")):
        r = run(*args)
        assert r.returncode == 2, args
        assert "Traceback" not in r.stderr and r.stderr.startswith("error:")


def test_malformed_hwdb_is_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text('id = "x"\n')
    r = subprocess.run([sys.executable, "-m", "roofline", "hw", "list"], capture_output=True, text=True,
                       env={**__import__("os").environ, "ROOFLINE_HWDB": str(tmp_path)}, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: bad.toml: ")
