"""Parallel layouts: TP x PP x EP over one or more nodes of a system, their legality, and the search for the
best one (``--parallel auto``).

A replica (one copy of the model serving one batch) takes tp x pp x ep devices, placed TP innermost (the
all-reduce group on neighbouring devices), then EP (attention data-parallel groups exchanging tokens with
all-to-alls), then PP (stages handing activations on); DP replicas multiply it. Legal: tp divides the heads
(and the KV heads divide tp or tp them) and the MLP width, pp the layers, ep the experts (MoE only); the
devices fit the system's nodes (at most ``devices_per_node`` a node, at most ``max_nodes`` nodes, more than one
node only where the system publishes its NICs); no TP over PCIe beyond the vendor's peer group (the system's
scale-up domain: 1 on PCIe-only servers) unless asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from roofline.engine.catalog import ModelSpec
from roofline.engine.collectives import Links, is_pcie
from roofline.engine.scenario import Scenario
from roofline.errors import InputError

DEGREES = (1, 2, 4, 8, 16, 32, 64)
EP_DEGREES = (1, 2, 4, 8, 16, 32, 64, 72, 128, 256)
MAX_AUTO_DEVICES = 64


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    nodes: int = 1

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.ep

    def label(self) -> str:
        parts = [f"TP{self.tp}"] + ([f"PP{self.pp}"] if self.pp > 1 else []) + ([f"EP{self.ep}"] if self.ep > 1 else [])
        return "x".join(parts) + (f" on {self.nodes} nodes" if self.nodes > 1 else "")

    def apply(self, sc: Scenario) -> Scenario:
        return sc.with_(tp=self.tp, pp=self.pp, ep=self.ep, nodes=self.nodes)


def nodes_for(devices: int, links: Links) -> int:
    return max(1, math.ceil(devices / links.per_node))


def check_layout(m: ModelSpec, sc: Scenario, links: Links, allow_pcie_tp: bool = False,
                 max_nodes: int | None = None) -> None:
    """Raise InputError (one line) when the scenario's layout cannot run on the system of ``links``."""
    sc.validate(m)
    n = sc.devices
    if n > 1 and not math.isfinite(links.bus_bw):
        raise InputError(f"{links.system_id} has no interconnect bandwidth in hwdb: {n} devices cannot be priced")
    need = nodes_for(n, links)
    if sc.nodes > 1 and n // sc.nodes > links.per_node:
        raise InputError(f"{n} devices over {sc.nodes} nodes is {n // sc.nodes} a node; {links.system_id} holds "
                         f"{links.per_node} a node")
    if sc.nodes < need:
        raise InputError(f"{n} devices (tp {sc.tp} x pp {sc.pp} x ep {sc.ep}) need {need} nodes of "
                         f"{links.system_id} ({links.per_node} devices a node); give --nodes {need}")
    if max_nodes is not None and sc.nodes > max_nodes:
        raise InputError(f"{n} devices need {sc.nodes} nodes; {links.system_id} has {max_nodes} "
                         f"({max_nodes * links.per_node} devices)")
    if n > links.domain and sc.nodes > 1 and not links.multi_node:
        raise InputError(f"{links.system_id} publishes no scale-out (NIC) bandwidth: at most its "
                         f"{max(links.domain, links.per_node)}-device scale-up domain / node, not {n} devices"
                         + (" -- no hwdb system holds this device" if links.implied else ""))
    if sc.tp > links.domain and is_pcie(links.link) and not allow_pcie_tp:
        raise InputError(f"tensor parallelism {sc.tp} over PCIe ({links.system_id}: no NVLink peer group beyond "
                         f"{links.domain} device) -- pass --allow-pcie-tp to price it anyway")


def legal_layouts(m: ModelSpec, sc: Scenario, links: Links, max_devices: int = MAX_AUTO_DEVICES,
                  allow_pcie_tp: bool = False, max_nodes: int | None = None,
                  devices: int | None = None) -> list[Layout]:
    """Every layout the model and system allow (``devices`` fixes the count), fewest devices first."""
    out = []
    eps = [e for e in EP_DEGREES if m.is_moe and m.experts % e == 0] if m.is_moe else [1]
    for tp in DEGREES:
        for pp in (p for p in DEGREES if m.layers % p == 0):
            for ep in eps:
                n = tp * pp * ep
                if n > max_devices or (devices is not None and n != devices):
                    continue
                lay = Layout(tp, pp, ep, nodes_for(n, links))
                try:
                    check_layout(m, lay.apply(sc), links, allow_pcie_tp, max_nodes)
                except InputError:
                    continue
                out.append(lay)
    return sorted(out, key=lambda x: (x.devices, x.pp, x.ep, -x.tp))
