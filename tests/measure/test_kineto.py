"""Kineto / torch.profiler Chrome trace import on a hand-made fixture."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from roofline.measure.kineto import KinetoError, by_kind, classify, read_kineto, summarize_kineto

FIX = Path(__file__).parents[1] / "fixtures" / "kineto_handmade.json"


def test_read_kineto_maps_kernels_to_ops():
    assert "HAND-MADE" in json.loads(FIX.read_text())["_note"]
    df = read_kineto(FIX)
    assert len(df) == 6  # 5 kernels + 1 memcpy; CPU ops, runtime calls and instants are not GPU work
    first = df.iloc[0]
    assert first["op_kind"] == "matmul" and first["cpu_op"] == "aten::addmm"  # innermost enclosing op
    assert first["dur_s"] == pytest.approx(66e-6)
    assert df.iloc[1]["op_kind"] == "attention" and df.iloc[1]["cpu_op"] == "aten::scaled_dot_product_attention"
    kinds = dict(zip(df["name"], df["op_kind"], strict=False))
    assert kinds["Memcpy DtoD (Device -> Device)"] == "copy"
    assert kinds["triton_red_fused_rms_norm_0"] == "reduction"  # no runtime call: classified by its name
    assert df[df["op_kind"] == "elementwise"]["cpu_op"].tolist() == ["aten::silu", "aten::silu"]


def test_summaries():
    df = read_kineto(FIX.read_bytes())
    s = summarize_kineto(df)
    assert s.iloc[0]["op_kind"] == "attention" and s["share"].sum() == pytest.approx(1.0)
    silu = s[s["op_kind"] == "elementwise"].iloc[0]
    assert silu["calls"] == 2 and silu["median_s"] == pytest.approx(5e-6)
    k = by_kind(df)
    assert k.set_index("op_kind")["total_s"]["matmul"] == pytest.approx(66e-6)


def test_gzip_and_bad_input(tmp_path):
    gz = tmp_path / "t.json.gz"
    gz.write_bytes(gzip.compress(FIX.read_bytes()))
    assert len(read_kineto(gz)) == 6
    with pytest.raises(KinetoError, match="not a JSON"):
        read_kineto(b"{nope")
    with pytest.raises(KinetoError, match="no GPU kernel or CPU op events"):
        read_kineto(b'{"traceEvents": [{"ph": "i", "cat": "cpu_op", "name": "aten::mm", "ts": 1}]}')
    cpu = read_kineto(b'{"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1, "dur": 2}]}')
    assert cpu["where"].tolist() == ["cpu"] and cpu["op_kind"].tolist() == ["matmul"]  # a CPU-only trace


def test_classify():
    assert classify("ampere_bf16_s16816gemm_bf16_128x64") == "matmul"
    assert classify("fmha_cutlassF_bf16_aligned_64x128") == "attention"
    assert classify("some_kernel", "aten::mm") == "matmul"
    assert classify("mystery") == "other"


def test_import_trace_cli(tmp_path, monkeypatch, capsys, cli):
    code, out, err = cli(["import-trace", str(FIX), "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert {k["op_kind"] for k in doc["by_kind"]} == {"matmul", "attention", "elementwise", "copy", "reduction"}
    code, out, err = cli(["import-trace", str(FIX), "--save", "--out", str(tmp_path)])
    assert code == 0, err
    assert "attention" in out
    from roofline.measure.traces import load_runs

    assert len(load_runs(tmp_path)) == 5
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    code, _, err = cli(["import-trace", str(bad)])
    assert code == 2 and err.count("\n") == 1
