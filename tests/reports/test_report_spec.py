"""Report specs: the shipped examples parse; every bad input is one clear error naming the field."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from reports.build import write_reports
from reports.spec import ReportSpec, load_spec, parse_spec, shipped_specs
from roofline.errors import InputError, UnknownNameError

GOOD = """
title = "t"
[[workload]]
name = "w"
model = "llama-3.1-8b"
phase = "generate"
batch = 2
prompt_tokens = 512
gen_tokens = 64
wbits = 4
slo_tpot_s = 0.1
[devices]
ids = ["h100-sxm", "l4"]
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_specs_load():
    specs = shipped_specs()
    assert {p.name for p in specs} >= {"serve-llama-70b-4bit.toml", "edge-8b.toml"}
    for p in specs:
        s = load_spec(p)
        assert isinstance(s, ReportSpec) and s.workloads and s.devices
        assert s.path == f"reports/specs/{p.name}"  # repo-relative: the report does not depend on the cwd
        assert s.text == p.read_text() and len(s.sha256) == 64


def test_good_spec_fields(tmp_path):
    s = load_spec(write(tmp_path, GOOD))
    w = s.workloads[0]
    assert (w.model, w.scenario["batch"], w.scenario["wbits"], w.slo_tpot_s, w.slo_ttft_s) == ("llama-3.1-8b", 2, 4,
                                                                                             0.1, None)
    assert s.devices == ("h100-sxm", "l4") and s.rank_by == "tokens_per_s" and s.trace_runs == ()
    assert s.path == "s.toml" and s.date == ""  # outside the repo: the file name only


@pytest.mark.parametrize("edit, exc, words", [
    (('"l4"', '"h100-sxn"'), UnknownNameError, ["unknown device 'h100-sxn'", "h100-sxm"]),
    (('"llama-3.1-8b"', '"llama-3.1-9b"'), UnknownNameError, ["unknown model 'llama-3.1-9b'"]),
    (('prompt_tokens = 512\n', ''), InputError, ["s.toml", "workload[0].prompt_tokens", "missing field"]),
    (('title = "t"\n', ''), InputError, ["s.toml", "title", "missing field"]),
    (('ids = ["h100-sxm", "l4"]', 'idz = ["h100-sxm"]'), InputError, ["devices.idz", "unknown field"]),
    (('batch = 2', 'batch = "2"'), InputError, ["workload[0].batch", "expected int"]),
    (('batch = 2', 'batch = 0'), InputError, ["workload[0].batch", "> 0"]),
    (('phase = "generate"', 'phase = "serve"'), InputError, ["workload[0].phase", "prefill, decode, generate"]),
    (('[devices]', '[ranking]\nby = "speed"\n[devices]'), UnknownNameError, ["ranking metric", "'speed'"]),
    (('[devices]', '[traces]\nruns = ["no-such-run"]\n[devices]'), UnknownNameError, ["unknown trace run"]),
    (('title = "t"', 'title = "t"\ncolour = "red"'), InputError, ["colour", "unknown field"]),
    (('title = "t"', 'title = "t'), InputError, ["not valid TOML"]),
])
def test_bad_spec(tmp_path, monkeypatch, edit, exc, words):
    monkeypatch.setenv("ROOFLINE_TRACES", str(tmp_path / "no-traces"))
    old, new = edit
    assert old in GOOD
    with pytest.raises(exc) as e:
        load_spec(write(tmp_path, GOOD.replace(old, new)))
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_missing_workload_and_file(tmp_path):
    raw = tomllib.loads(GOOD)
    del raw["workload"]
    with pytest.raises(InputError, match="workload: missing field"):
        parse_spec(raw, "x.toml")
    with pytest.raises(InputError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")


def test_bad_spec_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UnknownNameError):
        write_reports(write(tmp_path, GOOD.replace('"l4"', '"nope-gpu"')), "both", out)
    assert not out.exists()


def test_unusable_out_dir(tmp_path):
    spec = write(tmp_path, GOOD)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        write_reports(spec, "html", blocker)
    with pytest.raises(InputError, match="cannot create output folder"):
        write_reports(spec, "html", blocker / "sub")
    with pytest.raises(InputError, match="unknown report format"):
        write_reports(spec, "docx", tmp_path / "out")
    assert blocker.read_text() == "x" and not (tmp_path / "out").exists()


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roofline", "report", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_cli_bad_input_one_line_exit_2(tmp_path):
    bad = write(tmp_path, GOOD.replace('"l4"', '"h100-sxn"'))
    out = tmp_path / "out"
    r = _cli(str(bad), "--format", "both", "--out", str(out))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown device 'h100-sxn'" in r.stderr, r.stderr
    assert not out.exists()
    blocker = tmp_path / "f"
    blocker.write_text("")
    r = _cli(str(write(tmp_path, GOOD, "ok.toml")), "--format", "html", "--out", str(blocker / "x"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot create output folder" in r.stderr, r.stderr
    r = _cli(str(write(tmp_path, GOOD.replace("gen_tokens = 64\n", ""), "m.toml")), "--out", str(out))
    assert r.returncode == 2 and "workload[0].gen_tokens: missing field" in r.stderr, r.stderr
    assert not out.exists()


@pytest.mark.skipif(sys.platform == "win32" or (hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0),
                    reason="root ignores folder permissions, so a read-only folder is still writable")
def test_read_only_out_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="not writable"):
            write_reports(write(tmp_path, GOOD), "html", ro)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_planning_table_is_validated():
    import pytest as _pt

    from reports.spec import parse_spec
    from roofline.errors import InputError as _IE

    base = {"title": "t", "workload": [{"name": "w", "model": "llama-3.1-8b", "phase": "generate", "batch": 1, "prompt_tokens": 128, "gen_tokens": 8}], "devices": {"ids": ["h100-sxm"]}}
    s = parse_spec({**base, "planning": {"qps": 4, "slo_ttft_p99_s": 2, "slo_tpot_p99_s": 0.05}})
    assert s.planning["devices"] == ("h100-sxm",) and s.planning["objective"] == "usd"
    for bad, match in (({"qps": 0, "slo_ttft_p99_s": 2, "slo_tpot_p99_s": 0.05}, "planning.qps"),
                       ({"qps": 4, "slo_ttft_p99_s": 2, "slo_tpot_p99_s": 0.05, "objective": "speed"}, "objective"),
                       ({"qps": 4, "slo_ttft_p99_s": 2, "slo_tpot_p99_s": 0.05, "rate": 1}, "planning.rate")):
        with _pt.raises(_IE, match=match):
            parse_spec({**base, "planning": bad})
