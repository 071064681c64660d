"""What an hour of serving costs, on one stated basis: renting the devices (cloud) or owning them (TCO).

Every dollar figure carries its basis: the two are never mixed in one ranking (a device without a quote on
the chosen basis gets no dollar figure, it is not priced on the other one).

- cloud: the reference on-demand quote of one device an hour (``hwdb.Device.reference_price``: the current
  market median of the cited quotes) x devices. The provider's host is in the price.
- owned (TCO): the reference purchase price x devices x (1 + host share), spread over the serving hours of
  ``years`` at ``utilization``, plus electricity: the modeled mean power while serving and the idle power for
  the other hours, x PUE, at ``usd_per_kwh``.

    usd_per_h = price x n x (1 + host_share) / (years x 8760 x utilization)
              + (P_serving + P_idle x (1 - utilization) / utilization) x PUE x usd_per_kwh / 1000

The TCO defaults are stated assumptions, not measurements: override them (``--years``, ``--utilization``,
``--usd-per-kwh``, ``--pue``, ``--host-share``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwdb.schema import COST_BASES, Device
from roofline.validate import choice, fraction, number, positive

HOURS_PER_YEAR = 8760.0
DEFAULT_BASIS = "cloud"


@dataclass(frozen=True)
class Tco:
    """Owning a device: the stated assumptions behind the owned cost basis."""

    years: float = 3.0  # depreciation period
    utilization: float = 1.0  # share of the hours the devices serve this load (the rest they idle)
    usd_per_kwh: float = 0.10  # electricity price
    pue: float = 1.3  # power usage effectiveness of the data centre (cooling, distribution)
    host_share: float = 0.30  # host, network, rack and storage per accelerator, as a share of its price

    def validated(self) -> Tco:
        positive("--years", self.years)
        fraction("--utilization", self.utilization)
        number("--usd-per-kwh", self.usd_per_kwh, lo=0.0)
        number("--pue", self.pue, lo=1.0, hi=5.0)
        number("--host-share", self.host_share, lo=0.0, hi=10.0)
        return self

    def label(self) -> str:
        return (f"{self.years:g} y at {self.utilization:.0%} use, ${self.usd_per_kwh:g}/kWh x PUE {self.pue:g}, "
                f"host share {self.host_share:.0%}")


@dataclass(frozen=True)
class HourlyCost:
    """USD an hour of ``n`` devices on ``basis`` (None when the device has no quote on it)."""

    basis: str
    usd_per_h: float | None
    label: str  # how it was computed, for humans
    source: str = ""  # the quote: provider, date, url
    capex_usd_per_h: float | None = None  # owned: the hardware share
    energy_usd_per_h: float | None = None  # owned: the electricity share


def hourly_cost(device: Device, n: int, basis: str = DEFAULT_BASIS, avg_power_w: float | None = None,
                idle_w: float | None = None, tco: Tco | None = None) -> HourlyCost:
    """The hourly cost of ``n`` devices serving at mean power ``avg_power_w`` (W, all n together) on ``basis``."""
    choice("--cost-basis", basis, COST_BASES)
    q = device.reference_price(basis)
    if q is None:
        return HourlyCost(basis, None, f"no public {basis} price for {device.id}")
    src = device.sources[q.source]
    where = f"{q.provider} ({q.date}), {src.url}"
    if basis == "cloud":
        return HourlyCost(basis, q.usd * n, f"cloud on-demand ${q.usd:g}/h a device ({q.provider}, {q.date})", where)
    t = (tco or Tco()).validated()
    capex = q.usd * n * (1.0 + t.host_share) / (t.years * HOURS_PER_YEAR * t.utilization)
    energy = None
    if avg_power_w is not None:
        idle = (idle_w or 0.0) * n
        watts = avg_power_w + idle * (1.0 - t.utilization) / t.utilization
        energy = watts * t.pue * t.usd_per_kwh / 1000.0
    total = capex + (energy or 0.0)
    return HourlyCost(basis, total, f"owned: ${q.usd:,.0f} a device ({q.provider}, {q.date}) over {t.label()}",
                      where, capex, energy)
