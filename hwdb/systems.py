"""Multi-accelerator systems (nodes and racks): one cited TOML file per system under ``hwdb/systems/``.

A system says how many devices of one hwdb device share a node, how they talk inside the node (the scale-up
link: NVSwitch, NVLink, xGMI, PCIe, on-chip RoCE), how nodes talk (the scale-out NIC), how a device reaches
host memory (PCIe or NVLink-C2C) and, where someone measured them, collective bus bandwidths and latency
floors. Bandwidths are ONE-WAY, PER DEVICE (a bidirectional figure from a source is halved and the note says
so). Every number names a source in the file's ``[sources]`` table; an absent figure is unknown, never 0.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hwdb.loader import read_table
from hwdb.schema import HwdbError, Source, frozen_map
from roofline.errors import UnknownNameError

SYSTEMS_DIR = Path(__file__).parent / "systems"
LINKS = ("nvswitch", "nvlink", "xgmi", "pcie3", "pcie4", "pcie5", "roce", "c2c", "ici", "upi")
PCIE_LINKS = ("pcie3", "pcie4", "pcie5")
COLLECTIVES = ("all_reduce", "all_gather", "all_to_all", "p2p_copy")


@dataclass(frozen=True)
class CollectiveMeasurement:
    """One measured collective (nccl-tests / RCCL busbw definition: busbw = algbw x 2(n-1)/n for all-reduce)."""

    collective: str
    n_devices: int
    nodes: int
    message_bytes: float | None  # None: "large" messages, size not recorded
    busbw_bytes_per_s: float | None
    latency_s: float | None
    algo: str  # ring | tree | nvls | ...
    source: str
    note: str = ""


@dataclass(frozen=True)
class System:
    id: str
    name: str
    device: str  # hwdb device id
    devices_per_node: int
    max_nodes: int | None  # None: no stated limit (a cluster of such nodes)
    scaleup_domain: int  # devices one scale-up fabric joins (NVL72: 72; PCIe-only servers: 1 = no peer link)
    link: str  # one of LINKS
    link_bw_bytes_per_s: float  # one-way, per device, to the fabric
    peer_bw_bytes_per_s: float | None  # one-way to a single peer where lower than the fabric (MI300X xGMI)
    in_network_reduction: bool  # NVSwitch SHARP (NVLS): all-reduce reduced in the switch
    nic: str
    nic_bw_bytes_per_s: float | None  # one-way per device, scale-out; None: not published
    host_link: str
    host_bw_bytes_per_s: float | None  # one-way per device to host memory
    host_memory_bytes: float | None  # per node
    power_w: float | None  # whole node, max input
    price_usd: float | None  # whole node list price
    date: str
    sources: Any
    field_sources: Any
    collectives: tuple[CollectiveMeasurement, ...] = ()
    notes: str = ""
    path: str = field(default="", compare=False)

    def source_of(self, field_name: str) -> Source:
        return self.sources[self.field_sources[field_name]]

    @property
    def is_pcie_only(self) -> bool:
        return self.link in PCIE_LINKS


def _err(path: Path, f: str, msg: str) -> HwdbError:
    return HwdbError(f"{path.name}: {f}: {msg}")


def _num(path: Path, f: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise _err(path, f, f"expected a number > 0, got {v!r}")
    return float(v)


_TABLES: dict[str, tuple[set[str], set[str], set[str]]] = {
    # table -> (numbers required, numbers optional, other keys)
    "node": ({"devices_per_node"}, {"max_nodes", "scaleup_domain", "power_w", "price_usd"}, {"note"}),
    "scale_up": ({"bw_bytes_per_s"}, {"peer_bw_bytes_per_s"}, {"link", "in_network_reduction", "note"}),
    "scale_out": (set(), {"bw_bytes_per_s"}, {"nic", "note"}),
    "host": (set(), {"bw_bytes_per_s", "memory_bytes"}, {"link", "note"}),
}


def parse_system(path: Path, raw: dict) -> System:
    """Validate one system document; HwdbError names the file and the field."""
    allowed = {"id", "name", "device", "date", "notes", "sources", "collective", *_TABLES}
    for k in raw:
        if k not in allowed:
            raise _err(path, k, "unknown top-level field")
    for k in ("id", "name", "device"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            raise _err(path, k, "missing or not a string")
    rs = raw.get("sources")
    if not isinstance(rs, dict) or not rs:
        raise _err(path, "sources", "missing table of sources")
    sources: dict[str, Source] = {}
    for key, s in rs.items():
        if not isinstance(s, dict) or not s.get("title") or not str(s.get("url", "")).startswith("http"):
            raise _err(path, f"sources.{key}", "needs a title and an http(s) url")
        sources[key] = Source(key=key, title=s["title"], url=s["url"], note=s.get("note", ""),
                              date=str(s.get("date", "")))
    fs: dict[str, str] = {}
    vals: dict[str, dict[str, Any]] = {}
    for name in _TABLES:
        vals[name] = read_table(path, raw, name, sources, fs, required=name in ("node", "scale_up"), tables=_TABLES)
    node, up, out_, host = vals["node"], vals["scale_up"], vals["scale_out"], vals["host"]
    link = up.get("link")
    if link not in LINKS:
        raise _err(path, "scale_up.link", f"{link!r} is not one of {', '.join(LINKS)}")
    for f in ("devices_per_node", "max_nodes", "scaleup_domain"):
        if f in node and node[f] != int(node[f]):
            raise _err(path, f"node.{f}", f"must be a whole number, got {node[f]!r}")
    colls = []
    for i, c in enumerate(raw.get("collective", [])):
        where = f"collective[{i}]"
        if not isinstance(c, dict):
            raise _err(path, where, "must be a table")
        extra = set(c) - {"collective", "n_devices", "nodes", "message_bytes", "busbw_bytes_per_s", "latency_s",
                          "algo", "source", "note"}
        if extra:
            raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
        if c.get("collective") not in COLLECTIVES:
            raise _err(path, f"{where}.collective", f"must be one of {', '.join(COLLECTIVES)}")
        if c.get("source") not in sources:
            raise _err(path, f"{where}.source", f"source {c.get('source')!r} is not in [sources]")
        if "busbw_bytes_per_s" not in c and "latency_s" not in c:
            raise _err(path, where, "a measurement needs busbw_bytes_per_s or latency_s")
        colls.append(CollectiveMeasurement(
            collective=c["collective"], n_devices=int(_num(path, f"{where}.n_devices", c.get("n_devices"))),
            nodes=int(_num(path, f"{where}.nodes", c.get("nodes", 1))),
            message_bytes=_num(path, f"{where}.message_bytes", c["message_bytes"]) if "message_bytes" in c else None,
            busbw_bytes_per_s=_num(path, f"{where}.busbw_bytes_per_s", c["busbw_bytes_per_s"])
            if "busbw_bytes_per_s" in c else None,
            latency_s=_num(path, f"{where}.latency_s", c["latency_s"]) if "latency_s" in c else None,
            algo=str(c.get("algo", "")), source=c["source"], note=str(c.get("note", ""))))
    per_node = int(node["devices_per_node"])
    return System(
        id=raw["id"], name=raw["name"], device=raw["device"], devices_per_node=per_node,
        max_nodes=int(node["max_nodes"]) if "max_nodes" in node else None,
        scaleup_domain=int(node.get("scaleup_domain", per_node)), link=link,
        link_bw_bytes_per_s=up["bw_bytes_per_s"], peer_bw_bytes_per_s=up.get("peer_bw_bytes_per_s"),
        in_network_reduction=bool(up.get("in_network_reduction", False)), nic=str(out_.get("nic", "")),
        nic_bw_bytes_per_s=out_.get("bw_bytes_per_s"), host_link=str(host.get("link", "")),
        host_bw_bytes_per_s=host.get("bw_bytes_per_s"), host_memory_bytes=host.get("memory_bytes"),
        power_w=node.get("power_w"), price_usd=node.get("price_usd"), date=str(raw.get("date", "")),
        sources=frozen_map(sources), field_sources=frozen_map(fs), collectives=tuple(colls),
        notes=str(raw.get("notes", "")), path=str(path))


def load_systems_dir(systems_dir: Path = SYSTEMS_DIR) -> dict[str, System]:
    out: dict[str, System] = {}
    for path in sorted(Path(systems_dir).glob("*.toml")):
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise HwdbError(f"{path.name}: not valid TOML: {e}") from None
        s = parse_system(path, raw)
        if s.id in out:
            raise _err(path, "id", f"duplicate system id {s.id!r}")
        out[s.id] = s
    return out


@lru_cache(maxsize=1)
def load_systems() -> dict[str, System]:
    """Every shipped system keyed by id (``$ROOFLINE_HWDB_SYSTEMS`` points elsewhere)."""
    override = os.environ.get("ROOFLINE_HWDB_SYSTEMS")
    return load_systems_dir(Path(override)) if override else load_systems_dir()


def get_system(system_id: str) -> System:
    systems = load_systems()
    if system_id not in systems:
        raise UnknownNameError("system", system_id, list(systems), fallback="see `roofline hw systems`")
    return systems[system_id]


def systems_for(device_id: str) -> list[System]:
    """The systems built from a device, the largest scale-up domain first."""
    return sorted((s for s in load_systems().values() if s.device == device_id),
                  key=lambda s: (-s.scaleup_domain, s.id))
