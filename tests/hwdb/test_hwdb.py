"""The hardware database: every shipped file loads, every number is cited, bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

import hwdb
from hwdb.loader import DEVICES_DIR, load_dir
from hwdb.schema import DTYPES

GOOD = (DEVICES_DIR / "h100-sxm.toml").read_text()


def test_shipped_devices_load_and_cite_every_number():
    devs = hwdb.load()
    assert "h100-sxm" in devs
    for d in devs.values():
        assert d.mem_bw_bytes_per_s > 0 and d.memory_bytes > 0 and d.tdp_w > 0
        assert d.peak_ops_per_s, d.id
        for dt, v in d.peak_ops_per_s.items():
            assert dt in DTYPES and v > 0, (d.id, dt)
            assert d.source_of(f"peak.{dt}").url.startswith("http"), (d.id, dt)
        for f in ("memory.capacity_bytes", "memory.bw_bytes_per_s", "power.tdp_w", "release_year"):
            assert d.source_of(f).title, (d.id, f)
        if d.msrp_usd or d.cloud_usd_per_h:
            assert d.price_date, d.id


def test_catalog_size_and_coverage():
    devs = hwdb.load()
    assert len(devs) >= 35, f"only {len(devs)} devices"
    kinds = {d.kind for d in devs.values()}
    assert {"gpu", "cpu", "soc", "accelerator"} <= kinds


def test_h100_values_and_measured_overlay():
    d = hwdb.get("h100-sxm")
    assert d.peak("bf16") == pytest.approx(989.5e12)
    assert d.peak("int4") is None  # unsupported: absent, never 0
    # ridge = 989.5e12 / 3.35e12 = 295.37 FLOP/byte
    assert d.ridge_flop_per_byte("bf16") == pytest.approx(295.37, rel=1e-3)
    assert d.measured is not None and d.measured.idle_power_w == pytest.approx(72.8)
    assert d.measured.copy_bw_bytes_per_s == pytest.approx(3.0e12)


def test_unknown_id_suggests_closest():
    with pytest.raises(hwdb.UnknownDeviceError, match="h100-sxm"):
        hwdb.get("h100-sx")


def _load_one(tmp_path: Path, text: str, name: str = "dev.toml"):
    (tmp_path / name).write_text(text)
    return load_dir(tmp_path, measured_dir=None)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s: s.replace("bw_bytes_per_s = 3.35e12\n", ""), r"dev\.toml: memory\.bw_bytes_per_s: missing"),
        (lambda s: s.replace("bw_bytes_per_s = 3.35e12", "bw_bytes_per_s = -3.35e12"),
         r"dev\.toml: memory\.bw_bytes_per_s: must be > 0"),
        (lambda s: s.replace("fp64 = {", "fp2 = {"), r"dev\.toml: peak_ops_per_s\.fp2: unknown dtype"),
        (lambda s: s.replace('fp32 = { value = 67e12, source = "datasheet" }', "fp32 = { value = 67e12 }"),
         r"dev\.toml: peak_ops_per_s\.fp32: has no source"),
        (lambda s: s.replace('fp32 = { value = 67e12, source = "datasheet" }', "fp32 = 67e12"),
         r"dev\.toml: peak_ops_per_s\.fp32: must be .* needs a source"),
        (lambda s: s.replace('source = "lambda"', 'source = "nowhere"'),
         r"dev\.toml: price\.cloud_usd_per_h: source 'nowhere' is not in \[sources\]"),
        (lambda s: s.replace('kind = "gpu"', 'kind = "fpga"'), r"dev\.toml: kind:"),
        (lambda s: s.replace("tdp_w = 700", 'tdp_w = "700"'), r"dev\.toml: power\.tdp_w: expected a number"),
        (lambda s: s.replace('date = "2025-06"\nsource = "lambda"', 'source = "lambda"'),
         r"dev\.toml: price\.date: a price needs the date"),
        (lambda s: "bogus = 1\n" + s, r"dev\.toml: bogus: unknown"),
        (lambda s: s.replace("[memory]", "[memory\n"), r"dev\.toml: not valid TOML"),
    ],
)
def test_malformed_device_file_names_file_and_field(tmp_path, mutate, match):
    with pytest.raises(hwdb.HwdbError, match=match):
        _load_one(tmp_path, mutate(GOOD))


def test_duplicate_id_rejected(tmp_path):
    (tmp_path / "a.toml").write_text(GOOD)
    with pytest.raises(hwdb.HwdbError, match=r"b\.toml: id: duplicate id 'h100-sxm' \(also in a\.toml\)"):
        _load_one(tmp_path, GOOD, name="b.toml")


def test_write_measured_is_validated_and_atomic(tmp_path):
    path = hwdb.write_measured("x", {"run_id": "r1", "date": "2026-01-01", "source": "test", "idle_power_w": 50.0,
                                     "matmul_ops_per_s": {"bf16": 1e15}}, measured_dir=tmp_path)
    assert path.read_text().startswith('device = "x"')
    with pytest.raises(hwdb.HwdbError):
        hwdb.write_measured("y", {"run_id": "r1", "date": "d", "source": "s", "idle_power_w": -1.0},
                            measured_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.toml"]  # nothing half-written


def test_capacity_is_what_the_device_exposes_and_the_vendor_figure_is_kept():
    # H100 SXM: nvidia-smi shows 81,559 MiB (the vendor's "80 GB"); H200 143,771 MiB ("141 GB"); MI300X
    # rocm-smi 206,141,652,992 B ("192 GB")
    for dev, exposed, vendor in (("h100-sxm", 81559 * 2**20, 80e9), ("h200", 143771 * 2**20, 141e9),
                                 ("mi300x", 206141652992, 192e9), ("b200", 182642 * 2**20, 180e9)):
        d = hwdb.get(dev)
        assert d.memory_bytes == exposed and d.vendor_memory_bytes == vendor, dev
        assert d.source_of("memory.capacity_bytes").url.startswith("https://github.com/"), dev


def test_vector_rates_and_fp4_peaks():
    g3 = hwdb.get("gaudi3")
    assert g3.peak("fp32") is None and g3.vector_peak("fp32") == pytest.approx(14.3e12)  # TPC, not the 1.8 PF MME
    assert g3.source_of("vector.fp32").url.startswith("https://")
    assert hwdb.get("gaudi2").vector_peak("fp32") is None  # not published: unknown, never guessed
    assert hwdb.get("h100-sxm").vector_peak("fp32") == pytest.approx(67e12)  # the CUDA-core fp32 figure
    assert hwdb.get("mi250").vector_peak("fp32") == pytest.approx(45.3e12)  # not the 90.5 TF packed rate
    assert hwdb.get("b200").peak("fp4") == pytest.approx(9e15) and hwdb.get("h100-sxm").peak("fp4") is None
    for dev in ("mi250", "gaudi2", "gb200"):
        assert hwdb.get(dev).source_of("peak.bf16").url.startswith("https://"), dev


def test_measured_overlay_round_trips_implementation_curves(tmp_path):
    fields = {"run_id": "r1", "date": "2026-01-01", "source": "test",
              "impl": {"linear/torch-tinygemm-int4": {"kernel": "linear", "impl": "torch-tinygemm-int4",
                                                      "compute_eff": 0.027, "memory_eff": 0.5, "floor_s": 5e-6,
                                                      "half_flops": 1e8, "n_fit": 4, "held_out_median_err": 0.1}}}
    path = hwdb.write_measured("x", fields, measured_dir=tmp_path)
    from hwdb.loader import _read_toml, parse_measured

    m = parse_measured(path, _read_toml(path))
    c = m.curve_for("linear", "torch-tinygemm-int4")
    assert c.compute_eff == 0.027 and c.floor_s == 5e-6 and c.n_fit == 4 and c.key == "linear/torch-tinygemm-int4"
    bad = dict(fields, impl={"a/b": {"kernel": "a", "impl": "c", "compute_eff": 1, "memory_eff": 1, "floor_s": 0}})
    with pytest.raises(hwdb.HwdbError, match=r"impl\.a/b: key must be 'a/c'"):
        hwdb.write_measured("y", bad, measured_dir=tmp_path)
