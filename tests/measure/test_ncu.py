"""Nsight Compute CSV import (hand-made fixtures in both layouts) and the ncu wrapper without ncu."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roofline.measure import ncu

FIX = Path(__file__).parents[1] / "fixtures"
# bf16 F.linear M=64 K=N=8192 (shared/anchors/README.md) and a made-up elementwise kernel
GEMM_FLOPS = 8_589_934_592


@pytest.mark.parametrize("name", ["ncu_details_handmade.csv", "ncu_raw_handmade.csv"])
def test_read_ncu_csv_both_layouts(name):
    assert "HAND-MADE" in (FIX / name).read_text().splitlines()[0]
    df = ncu.read_ncu_csv(FIX / name)
    assert list(df.columns) == ncu.NCU_COLUMNS and len(df) == 2
    g, e = df.iloc[0], df.iloc[1]
    assert g["kernel_name"].startswith("nvjet_sm90")
    assert g["ncu_dram_bytes"] == pytest.approx(135.3e6 + 2.4e6)
    assert g["ncu_l2_bytes"] == pytest.approx(273e6)
    assert g["duration_s"] == pytest.approx(50.2e-6)
    assert g["ncu_tensor_flops"] == GEMM_FLOPS and g["ncu_flops"] == GEMM_FLOPS
    assert e["ncu_cuda_core_flops"] == 2 * 262_144 + 262_144  # an FMA counts 2
    assert e["ncu_dram_bytes"] == pytest.approx(2 * 1_048_580)
    assert e["duration_s"] == pytest.approx(2.5e-6)


def test_layouts_agree_and_bytes_input():
    a = ncu.read_ncu_csv(FIX / "ncu_details_handmade.csv")
    b = ncu.read_ncu_csv((FIX / "ncu_raw_handmade.csv").read_bytes())
    for c in ("ncu_dram_bytes", "ncu_l2_bytes", "ncu_flops", "duration_s"):
        assert a[c].tolist() == pytest.approx(b[c].tolist())


def test_bad_ncu_csv():
    with pytest.raises(ncu.NcuError, match="no header"):
        ncu.read_ncu_csv(b"hello,world\n1,2\n")
    with pytest.raises(ncu.NcuError, match="cannot read"):
        ncu.read_ncu_csv("/nonexistent/x.csv")


def test_find_ncu_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NCU", raising=False)
    with pytest.raises(ncu.NcuError, match="not installed"):
        ncu.find_ncu()


def test_ncu_command_profiles_one_call_per_process():
    cmd = ncu.ncu_command("/usr/local/bin/ncu", {"kernel": "matmul", "impl": "ours"}, "/tmp/log.csv")
    assert cmd[:3] == ["/usr/local/bin/ncu", "--profile-from-start", "off"]
    assert "--csv" in cmd and "raw" in cmd and "base" in cmd and "none" in cmd
    metrics = cmd[cmd.index("--metrics") + 1].split(",")
    assert "dram__bytes_read.sum" in metrics and "lts__t_bytes.sum" in metrics
    assert cmd[-3:-1] == ["roofline.measure.ncu", "worker"] and json.loads(cmd[-1])["kernel"] == "matmul"


def test_profile_rows_on_cpu_warns_and_leaves_nan():
    rows, warns = [{"kernel": "copy", "ncu_flops": float("nan")}], []
    ncu.profile_rows(rows, None, "cpu", warns.append)
    assert warns and "CUDA" in warns[0]


def test_import_ncu_cli(tmp_path, monkeypatch, capsys, cli):
    code, out, err = cli(["import-ncu", str(FIX / "ncu_raw_handmade.csv"), "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["path"] is None and doc["kernels"][0]["ncu_flops"] == GEMM_FLOPS
    code, out, err = cli(["import-ncu", str(FIX / "ncu_details_handmade.csv"), "--save",
                                                   "--device", "h100-sxm", "--out", str(tmp_path)])
    assert code == 0, err
    assert "nvjet" in out
    from roofline.measure.traces import load_runs

    df = load_runs(tmp_path)
    assert len(df) == 2 and set(df["impl"]) == {"ncu-import"} and (df["device_id"] == "h100-sxm").all()
    code, _, err = cli(["import-ncu", str(tmp_path / "missing.csv")])
    assert code == 2 and err.count("\n") == 1
