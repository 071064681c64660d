"""Pure functions behind `roofline hw`: device listings and details as plain records."""

from __future__ import annotations

from typing import Any

import hwdb
from hwdb.schema import COST_BASES, DTYPES, Device
from roofline import validate
from roofline.engine.model import ceilings
from roofline.errors import InputError, UnknownNameError
from roofline.provenance import DATASHEET, MEASURED


def list_devices(kind: str | None = None, sort: str | None = None, vendor: str | None = None) -> list[Device]:
    """Devices filtered by kind/vendor, sorted by a dtype's peak (descending) or by id."""
    devs = list(hwdb.load().values())
    if kind:
        validate.choice("--kind", kind, hwdb.KINDS)
        devs = [d for d in devs if d.kind == kind]
    if vendor:
        vendors = sorted({d.vendor for d in hwdb.load().values()})
        if vendor.lower() not in {v.lower() for v in vendors}:
            raise UnknownNameError("vendor", vendor, vendors)
        devs = [d for d in devs if d.vendor.lower() == vendor.lower()]
    if sort is None or sort == "id":
        return sorted(devs, key=lambda d: d.id)
    keys = {"memory": lambda d: d.memory_bytes, "bandwidth": lambda d: d.mem_bw_bytes_per_s,
            "tdp": lambda d: d.tdp_w, "year": lambda d: d.release_year}
    if sort in DTYPES:
        return sorted(devs, key=lambda d: (d.peak(sort) or -1.0, d.id), reverse=True)
    if sort in keys:
        return sorted(devs, key=keys[sort], reverse=True)
    raise InputError(f"cannot sort by {sort!r} (use id, a dtype ({', '.join(DTYPES)}), {', '.join(keys)})")


def _quote(d: Device, q) -> dict[str, Any] | None:
    if q is None:
        return None
    s = d.sources[q.source]
    return {"basis": q.basis, "usd": q.usd, "unit": "USD/h" if q.basis == "cloud" else "USD", "provider": q.provider,
            "date": q.date, "kind": DATASHEET, "source": s.title, "url": s.url, "note": q.note}


def device_record(d: Device) -> dict[str, Any]:
    """Everything `hw show` prints, each number with its kind and source."""

    def cited(field: str, value: Any, unit: str) -> dict[str, Any]:
        s = d.source_of(field)
        return {"value": value, "unit": unit, "kind": DATASHEET, "source": s.title, "url": s.url,
                "note": s.note}

    rec: dict[str, Any] = {
        "id": d.id, "name": d.name, "vendor": d.vendor, "kind": d.kind, "release_year": d.release_year,
        "notes": d.notes,
        "memory": {"type": d.memory_type, "capacity_bytes": cited("memory.capacity_bytes", d.memory_bytes, "B"),
                   "bw_bytes_per_s": cited("memory.bw_bytes_per_s", d.mem_bw_bytes_per_s, "B/s")},
        "caches": [{"name": c.name, **cited(f"cache.{c.name}", c.size_bytes, "B"), "bw_bytes_per_s": c.bw_bytes_per_s}
                   for c in d.caches],
        "peaks": [{"dtype": c.dtype, **cited(f"peak.{c.dtype}", c.peak_ops_per_s, "op/s"),
                   "ridge_flop_per_byte": c.ridge_flop_per_byte, "note": d.peak_notes.get(c.dtype, "")}
                  for c in ceilings(d)],
        "sparse_2_4": d.sparse_2_4,
        "power": {"tdp_w": cited("power.tdp_w", d.tdp_w, "W"),
                  "idle_w": cited("power.idle_w", d.idle_w, "W") if d.idle_w is not None else None},
        "interconnect": {"name": d.interconnect,
                         "bw_bytes_per_s": cited("interconnect.bw_bytes_per_s", d.interconnect_bw_bytes_per_s, "B/s")
                         if d.interconnect_bw_bytes_per_s else None},
        "price": {"msrp_usd": cited("price.msrp_usd", d.msrp_usd, "USD") if d.msrp_usd else None,
                  "cloud_usd_per_h": cited("price.cloud_usd_per_h", d.cloud_usd_per_h, "USD/h")
                  if d.cloud_usd_per_h else None, "date": d.price_date,
                  "reference": {b: _quote(d, d.reference_price(b)) for b in COST_BASES},
                  "quotes": [_quote(d, q) for q in d.prices],
                  "rule": "reference = the quote marked so, else the median of the current market (dated quotes "
                          "within 12 months of the newest); cloud = USD an hour of one device, owned = USD a device"},
        "unreliable": dict(d.unreliable),
        "measured": None,
    }
    if d.measured is not None:
        m = d.measured
        rec["measured"] = {"kind": MEASURED, "run_id": m.run_id, "date": m.date, "source": m.source,
                           "copy_bw_bytes_per_s": m.copy_bw_bytes_per_s, "matmul_ops_per_s": dict(m.matmul_ops_per_s),
                           "idle_power_w": m.idle_power_w, "idle_state": m.idle_state,
                           "e_flop_j": dict(m.e_flop_j), "e_byte_j": m.e_byte_j, "note": m.note}
    return rec
