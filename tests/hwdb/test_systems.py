"""hwdb systems: every shipped file loads, every number is cited, bad files fail naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

import hwdb
from hwdb.schema import HwdbError
from hwdb.systems import SYSTEMS_DIR, load_systems, load_systems_dir, systems_for

REQUIRED = {"dgx-h100", "hgx-h200", "dgx-b200", "gb200-nvl72", "mi300x-8gpu", "pcie-h100-8", "pcie-l40s-8"}


def test_shipped_systems_load_cite_every_number_and_name_real_devices():
    systems = load_systems()
    assert REQUIRED <= set(systems)
    devices = hwdb.load()
    for s in systems.values():
        assert s.device in devices, s.id
        assert s.link_bw_bytes_per_s > 0 and s.devices_per_node >= 1
        for f in s.field_sources:
            assert s.source_of(f).url.startswith("http"), (s.id, f)
        for c in s.collectives:
            assert c.source in s.sources and (c.busbw_bytes_per_s or c.latency_s)


def test_one_way_link_figures_are_half_the_bidirectional_device_figures():
    # NVLink 4: the h100-sxm file's 900 GB/s is bidirectional; the DGX H100 system stores 450 GB/s one way
    s = load_systems()["dgx-h100"]
    assert s.link_bw_bytes_per_s == pytest.approx(hwdb.get("h100-sxm").interconnect_bw_bytes_per_s / 2)
    assert load_systems()["gb200-nvl72"].scaleup_domain == 72 and load_systems()["gb200-nvl72"].max_nodes == 18
    assert load_systems()["pcie-l40s-8"].scaleup_domain == 1 and load_systems()["pcie-l40s-8"].is_pcie_only
    assert [x.id for x in systems_for("h100-sxm")] == ["dgx-h100"]


GOOD = (SYSTEMS_DIR / "dgx-h100.toml").read_text()


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda t: t.replace('link = "nvswitch"', 'link = "carrier-pigeon"'), "scale_up.link"),
    (lambda t: t.replace("bw_bytes_per_s = 4.5e+11", "bw_bytes_per_s = -1"), "scale_up.bw_bytes_per_s"),
    (lambda t: t.replace('[scale_up]\nlink', '[scale_up]\nspeed = 1\nlink'), "scale_up.speed"),
    (lambda t: t.replace('source = "meas-212"', 'source = "nowhere"'), "collective"),
    (lambda t: t.replace("[node]\n", "[nodes]\n"), "nodes"),
])
def test_bad_system_files_name_the_field(tmp_path: Path, mutate, match):
    (tmp_path / "x.toml").write_text(mutate(GOOD))
    with pytest.raises(HwdbError, match=match):
        load_systems_dir(tmp_path)
