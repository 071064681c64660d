"""Collectives as alpha-beta: per-call latency + bytes / one-way link bandwidth, by link type and algorithm.

time = alpha0 + steps x hop + bytes_per_device / (bandwidth x efficiency), the cheaper of the algorithms a
collective library picks by size (ring: 2(n-1) steps and 2(n-1)/n x S a device; double binary tree:
2 log2(n) steps and 2 S; NVLS in-network reduction on NVSwitch systems above 4 GPUs: 2 steps and S at the
measured NVLS rate). Across scale-up domains (nodes) the ring's bottleneck is the node's NICs: every ring
channel crosses a node boundary once, so the bus bandwidth is min(scale-up bus, devices a node x NIC x eff).

Numbers and where they come from (``hwdb/systems/*.toml`` for each system's links and measurements):
- ``ALPHA0_S`` / ``HOP_S`` (NVLink / NVSwitch): fitted to DGX-A100 small-message ring latencies (nccl-tests#123:
  ~10 us on 2 GPUs, 33.7 us on 8: alpha0 + 2 hop = 10, alpha0 + 14 hop = 33.7 -> hop 1.98 us, alpha0 6.05 us;
  the 6 us NVLSTree floor on 2 H100s with CUDA graphs, nccl#1259, agrees with alpha0). xGMI and on-chip RoCE:
  assumed the same (no small-message figure was found). PCIe: hop assumed 2x (a hop crosses a PCIe switch or the
  root complex). Between nodes: hop assumed 5 us (InfiniBand / RoCE NIC + switch), the usual order for NDR.
- ``BUS_EFF``: large-message ring bus bandwidth / one-way spec. Measured: A100 0.783, H100 0.822 (nccl-tests#212),
  H200 0.817, B200 0.758, MI300X 0.698 (ml-engineering); a system with its own ring measurement uses it, others
  the median 0.783. ``NVLS_EFF``: NVLS algorithm bandwidth / spec: H100 0.61, H200 0.612, B200 0.532; default 0.6.
- ``NIC_EFF``: multi-node ring bus bandwidth / (devices a node x NIC): 4 x 8 H200 over EFA 364.87 / 400 = 0.91;
  assumed 0.88 (also 3 x 8 A100 on 4x HDR: 84.8 / 100 = 0.85, nccl-tests#119).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwdb.schema import Device
from hwdb.systems import PCIE_LINKS, System, get_system, systems_for

ALPHA0_S = 6.05e-6
HOP_S = {"nvswitch": 1.98e-6, "nvlink": 1.98e-6, "xgmi": 1.98e-6, "roce": 1.98e-6, "c2c": 1.98e-6, "ici": 1.98e-6,
         "upi": 1.98e-6, "pcie3": 3.96e-6, "pcie4": 3.96e-6, "pcie5": 3.96e-6}
NET_HOP_S = 5e-6
BUS_EFF_DEFAULT = 0.783
NVLS_EFF_DEFAULT = 0.6
NVLS_MIN_DEVICES = 5  # NCCL selects NVLS only above 4 GPUs on an 8-GPU HGX (ml-engineering's sweep)
NIC_EFF = 0.88
LARGE_MESSAGE_BYTES = 1 << 30  # a measurement at or above this size reads as the bandwidth asymptote


@dataclass(frozen=True)
class Links:
    """The links one device of a system uses, one-way figures with efficiencies applied."""

    system_id: str
    link: str
    domain: int  # devices one scale-up fabric joins
    per_node: int
    bus_bw: float  # ring bus bandwidth inside the domain (B/s)
    peer_bw: float  # to a single peer (xGMI: one link); = bus_bw where the fabric is switched
    nvls_bw: float  # NVLS algorithm bandwidth, NaN where the fabric has none
    net_bw: float  # per device, NIC x NIC_EFF; NaN where the system publishes no NIC figure
    host_bw: float  # to host memory (offload), NaN where unknown
    hop_s: float
    implied: bool = False  # no system entry: inferred from the device's interconnect field

    @property
    def multi_node(self) -> bool:
        return math.isfinite(self.net_bw)


def _measured_eff(s: System, algo: str) -> float | None:
    """Bus efficiency from a one-node measurement of a large all-reduce with ``algo`` in its name."""
    vals = []
    for c in s.collectives:
        if (c.collective == "all_reduce" and c.nodes == 1 and c.busbw_bytes_per_s
                and (c.message_bytes is None or c.message_bytes >= LARGE_MESSAGE_BYTES)
                and c.algo.lower().startswith(algo)):
            if algo == "nvls":  # busbw -> algorithm bandwidth: busbw x n / (2 (n - 1))
                vals.append(c.busbw_bytes_per_s * c.n_devices / (2 * (c.n_devices - 1)) / s.link_bw_bytes_per_s)
            elif c.n_devices >= 4:
                vals.append(c.busbw_bytes_per_s / s.link_bw_bytes_per_s)
    return max(vals) if vals else None


def links_for(s: System, use_measured: bool = True) -> Links:
    ring = (_measured_eff(s, "ring") if use_measured else None) or BUS_EFF_DEFAULT
    nvls = math.nan
    if s.in_network_reduction:
        nvls = ((_measured_eff(s, "nvls") if use_measured else None) or NVLS_EFF_DEFAULT) * s.link_bw_bytes_per_s
    bus = s.link_bw_bytes_per_s * ring
    peer = (s.peer_bw_bytes_per_s or s.link_bw_bytes_per_s) * ring
    return Links(system_id=s.id, link=s.link, domain=s.scaleup_domain, per_node=s.devices_per_node, bus_bw=bus,
                 peer_bw=peer, nvls_bw=nvls, net_bw=(s.nic_bw_bytes_per_s or math.nan) * NIC_EFF,
                 host_bw=s.host_bw_bytes_per_s or math.nan, hop_s=HOP_S[s.link])


def implied_links(d: Device) -> Links:
    """Links for a device hwdb has no system entry for: one node inferred from its interconnect field (a
    bidirectional aggregate, halved); PCIe-only cards get a peer group of 1; no scale-out (one node)."""
    name = d.interconnect.lower()
    bw = (d.interconnect_bw_bytes_per_s or math.nan) / 2.0
    if name.startswith("pcie"):
        link = "pcie5" if "gen5" in name else ("pcie3" if "gen3" in name else "pcie4")
        domain = 1
    elif "bridge" in name or "2-socket" in name:
        link, domain = ("upi" if "upi" in name else "nvlink"), 2
    else:
        link = "xgmi" if ("infinity" in name or "xgmi" in name) else ("ici" if "ici" in name else
                                                                     ("roce" if "roce" in name else "nvlink"))
        domain = 72 if "72-gpu" in name else 8
    per_node = max(domain, 8) if d.kind in ("gpu", "accelerator") else domain
    return Links(system_id=f"{d.id} (implied)", link=link, domain=domain, per_node=per_node,
                 bus_bw=bw * BUS_EFF_DEFAULT, peer_bw=bw * BUS_EFF_DEFAULT, nvls_bw=math.nan, net_bw=math.nan,
                 host_bw=math.nan, hop_s=HOP_S.get(link, HOP_S["nvlink"]), implied=True)


def default_links(d: Device, system: System | str | None = None) -> Links:
    """The links of ``system`` (an id or a System), else of the device's largest system, else implied ones."""
    if isinstance(system, System):
        return links_for(system)
    cands = systems_for(d.id)
    if system is not None:
        for s in cands:
            if s.id == system:
                return links_for(s)
        s = get_system(system)  # UnknownNameError for an unknown id
        raise ValueError(f"system {s.id} holds {s.device}, not {d.id}")
    return links_for(cands[0]) if cands else implied_links(d)


def is_pcie(link: str) -> bool:
    return link in PCIE_LINKS


# ---- times (numpy: msg may be an array; link figures scalars or arrays of devices) -----------------------

def ring_bw(n: Any, bus_bw: Any, peer_bw: Any) -> Any:
    """The ring bandwidth of n devices of a fully connected fabric where one peer link is slower (xGMI):
    n - 1 links can be used at once, up to the fabric's total."""
    n = np.asarray(n, dtype=float)
    return np.minimum(bus_bw, peer_bw * np.maximum(n - 1.0, 1.0))


def all_reduce_s(msg_bytes: Any, n: Any, bw: Any, hop_s: Any, nvls_bw: Any = math.nan, cross: bool = False,
                 ring_only: bool = False) -> Any:
    """All-reduce of ``msg_bytes`` a device over n devices at bus bandwidth ``bw`` (already min'd with the
    NICs when the group spans nodes: ``cross``). Inside a node NCCL runs rings (and NVLS above 4 GPUs where
    the switch reduces); across nodes it also has double binary trees, which win at small sizes."""
    n = np.asarray(n, dtype=float)
    S = np.asarray(msg_bytes, dtype=float)
    hop = hop_s + (NET_HOP_S if cross else 0.0)
    t = ALPHA0_S + 2.0 * (n - 1.0) * hop + 2.0 * (n - 1.0) / n * S / bw
    if cross:
        tree = ALPHA0_S + 2.0 * np.ceil(np.log2(np.maximum(n, 2.0))) * hop + 2.0 * S / bw
        t = np.minimum(t, tree)
    nv = np.asarray(nvls_bw, dtype=float)
    if not cross and not ring_only and np.isfinite(nv).any():
        with np.errstate(invalid="ignore"):
            nvls = ALPHA0_S + 2.0 * hop + S / nv
            t = np.where(np.isfinite(nv) & (n >= NVLS_MIN_DEVICES), np.minimum(t, nvls), t)
    return np.where(n > 1, t, 0.0)


def all_gather_s(total_bytes: Any, n: Any, bw: Any, hop_s: Any, cross: bool = False) -> Any:
    """Ring all-gather of ``total_bytes`` (the gathered result) over n devices: (n-1)/n of it arrives a device."""
    n = np.asarray(n, dtype=float)
    hop = hop_s + (NET_HOP_S if cross else 0.0)
    t = ALPHA0_S + (n - 1.0) * hop + (n - 1.0) / n * np.asarray(total_bytes, dtype=float) / bw
    return np.where(n > 1, t, 0.0)


def all_to_all_s(send_bytes: Any, n: Any, bw: Any, hop_s: Any, net_bw: Any = math.nan, off_node: Any = 0.0) -> Any:
    """All-to-all where each device sends ``send_bytes`` to the n - 1 others (full duplex): the share
    ``off_node`` of it leaves the node over the NIC, the rest over the scale-up link, concurrently."""
    n = np.asarray(n, dtype=float)
    v = np.asarray(send_bytes, dtype=float)
    off = np.asarray(off_node, dtype=float)
    with np.errstate(invalid="ignore"):
        inter = np.where(off > 0, off * v / net_bw, 0.0)
    t = ALPHA0_S + hop_s + np.where(off > 0, NET_HOP_S, 0.0) + np.maximum((1.0 - off) * v / bw, inter)
    return np.where(n > 1, t, 0.0)


def p2p_s(msg_bytes: Any, bw: Any, hop_s: Any, cross: bool = False) -> Any:
    """One send / receive between neighbouring pipeline stages."""
    return ALPHA0_S + hop_s + (NET_HOP_S if cross else 0.0) + np.asarray(msg_bytes, dtype=float) / bw


def predicted_busbw(links: Links, collective: str, n: int, msg_bytes: float, nodes: int = 1,
                    ring_only: bool = False) -> float:
    """The bus bandwidth (nccl-tests definition) the model predicts for a measured collective: busbw =
    S / t x 2(n-1)/n for all-reduce, S / t for a copy."""
    S = float(msg_bytes)
    if collective != "all_reduce":
        raise ValueError(f"no model for a measured {collective}")
    cross = nodes > 1
    bw = ring_bw(n if not cross else links.per_node, links.bus_bw, links.peer_bw)
    if cross:
        bw = min(float(bw), links.per_node * links.net_bw)
    t = float(all_reduce_s(S, n, bw, links.hop_s, links.nvls_bw, cross, ring_only))
    return S / t * 2.0 * (n - 1) / n
