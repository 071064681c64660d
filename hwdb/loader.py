"""Load and validate the device TOML files under ``hwdb/devices/`` (and measured overlays)."""

from __future__ import annotations

import math
import os
import tempfile
import tomllib
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from hwdb.schema import (
    ACC16_DTYPES,
    COST_BASES,
    DTYPES,
    KINDS,
    VECTOR_DTYPES,
    Cache,
    Device,
    HwdbError,
    ImplCurve,
    Measured,
    Price,
    Source,
    frozen_map,
    reference_price,
)
from roofline.errors import UnknownNameError

DEVICES_DIR = Path(__file__).parent / "devices"
MEASURED_DIR = Path(__file__).parent / "measured"

_TOP = {"id", "name", "vendor", "kind", "release_year", "source", "notes", "sources", "memory", "caches",
        "peak_ops_per_s", "vector_ops_per_s", "acc16_ops_per_s", "achievable_ops_per_s", "sparsity", "power", "interconnect", "price", "prices", "compute",
        "unreliable"}
# table -> (numeric fields required, numeric fields optional, other allowed keys)
_TABLES: dict[str, tuple[set[str], set[str], set[str]]] = {
    "memory": ({"capacity_bytes", "bw_bytes_per_s"}, {"vendor_capacity_bytes"}, {"type"}),
    "power": ({"tdp_w"}, {"idle_w"}, {"note"}),
    "interconnect": (set(), {"bw_bytes_per_s"}, {"name"}),
    "price": (set(), {"msrp_usd", "cloud_usd_per_h"}, {"date", "note"}),
    "sparsity": (set(), set(), {"two_four"}),
    "compute": (set(), {"sm_count", "boost_clock_hz", "schedulers_per_sm"}, {"note"}),
}


def _err(path: Path, field: str, msg: str) -> HwdbError:
    return HwdbError(f"{path.name}: {field}: {msg}")


def _num(path: Path, field: str, v: Any, *, positive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(path, field, f"expected a number, got {v!r}")
    if positive and v <= 0:
        raise _err(path, field, f"must be > 0, got {v!r}")
    return float(v)


def _source_key(path: Path, field: str, key: Any, sources: dict[str, Source]) -> str:
    if not isinstance(key, str) or not key:
        raise _err(path, field, "has no source")
    if key not in sources:
        raise _err(path, field, f"source {key!r} is not in [sources] ({', '.join(sorted(sources)) or 'none'})")
    return key


def read_table(path: Path, raw: dict, name: str, sources: dict[str, Source], field_sources: dict[str, str],
               required: bool, tables: dict[str, tuple[set[str], set[str], set[str]]] | None = None) -> dict[str, Any]:
    """One table of a data file: its numbers (required and optional, each > 0 with a source key from the table's
    ``source`` or ``<field>_source``, recorded in ``field_sources`` as ``table.field``) and its other allowed keys;
    ``tables`` maps a table to (required numbers, optional numbers, other keys) (default: the device file's)."""
    t = raw.get(name)
    if t is None:
        if required:
            raise _err(path, name, "missing table")
        return {}
    if not isinstance(t, dict):
        raise _err(path, name, "must be a table")
    req, opt, other = (_TABLES if tables is None else tables)[name]
    allowed = req | opt | other | {"source"} | {f"{f}_source" for f in req | opt}
    for k in t:
        if k not in allowed:
            raise _err(path, f"{name}.{k}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
    out: dict[str, Any] = {}
    for f in req | opt:
        if f not in t:
            if f in req:
                raise _err(path, f"{name}.{f}", "missing field")
            continue
        out[f] = _num(path, f"{name}.{f}", t[f])
        field_sources[f"{name}.{f}"] = _source_key(path, f"{name}.{f}", t.get(f"{f}_source", t.get("source")),
                                                   sources)
    for f in other:
        if f in t:
            out[f] = t[f]
    return out


def parse_device(path: Path, raw: dict) -> Device:
    """Validate one device document; raise HwdbError naming file and field."""
    for k in raw:
        if k not in _TOP:
            raise _err(path, k, "unknown top-level field")
    for k in ("id", "name", "vendor", "kind"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            raise _err(path, k, "missing or not a string")
    if raw["kind"] not in KINDS:
        raise _err(path, "kind", f"{raw['kind']!r} is not one of {', '.join(KINDS)}")

    sources: dict[str, Source] = {}
    rs = raw.get("sources")
    if not isinstance(rs, dict) or not rs:
        raise _err(path, "sources", "missing table of sources")
    for key, s in rs.items():
        if not isinstance(s, dict) or not s.get("title") or not s.get("url"):
            raise _err(path, f"sources.{key}", "needs a title and a url")
        extra = set(s) - {"title", "url", "note", "date"}
        if extra:
            raise _err(path, f"sources.{key}.{sorted(extra)[0]}", "unknown field")
        sources[key] = Source(key=key, title=s["title"], url=s["url"], note=s.get("note", ""),
                              date=str(s.get("date", "")))

    fs: dict[str, str] = {}
    if "release_year" not in raw:
        raise _err(path, "release_year", "missing field")
    year = int(_num(path, "release_year", raw["release_year"]))
    fs["release_year"] = _source_key(path, "release_year", raw.get("source"), sources)

    mem = read_table(path, raw, "memory", sources, fs, required=True)
    power = read_table(path, raw, "power", sources, fs, required=True)
    ic = read_table(path, raw, "interconnect", sources, fs, required=False)
    price = read_table(path, raw, "price", sources, fs, required=False)
    sp = read_table(path, raw, "sparsity", sources, fs, required=False)
    comp = read_table(path, raw, "compute", sources, fs, required=False)
    for f in ("sm_count", "schedulers_per_sm"):
        if f in comp and comp[f] != int(comp[f]):
            raise _err(path, f"compute.{f}", f"must be a whole number, got {comp[f]!r}")
    two_four = sp.get("two_four", False)
    if not isinstance(two_four, bool):
        raise _err(path, "sparsity.two_four", "must be true or false")
    if two_four:
        fs["sparsity.two_four"] = _source_key(path, "sparsity.two_four", raw["sparsity"].get("source"), sources)
    if ("msrp_usd" in price or "cloud_usd_per_h" in price) and not price.get("date"):
        raise _err(path, "price.date", "a price needs the date it was quoted")
    prices = _legacy_prices(raw, price, fs, sources) + _prices(path, raw, sources)
    for basis in COST_BASES:
        if sum(q.reference for q in prices if q.basis == basis) > 1:
            raise _err(path, "prices", f"more than one {basis} price is marked reference")
    unreliable = _unreliable(path, raw, fs)
    for f, basis in (("price.cloud_usd_per_h", "cloud"), ("price.msrp_usd", "owned")):
        ref = reference_price(prices, basis)
        if ref is not None:  # the reference quote's source answers source_of("price.<field>")
            fs[f] = ref.source

    peaks, peak_notes = _rates(path, raw, "peak_ops_per_s", DTYPES, "peak", sources, fs, required=True)
    vector, _ = _rates(path, raw, "vector_ops_per_s", VECTOR_DTYPES, "vector", sources, fs, required=False)
    acc16, _ = _rates(path, raw, "acc16_ops_per_s", ACC16_DTYPES, "acc16", sources, fs, required=False)
    achievable, _ = _rates(path, raw, "achievable_ops_per_s", DTYPES, "achievable", sources, fs, required=False)
    for dt, v in achievable.items():
        if dt not in peaks or v > peaks[dt]:
            raise _err(path, f"achievable_ops_per_s.{dt}", "a measured ceiling needs the dtype's peak and cannot exceed it")
    for dt, v in acc16.items():
        if dt not in peaks or v < peaks[dt]:
            raise _err(path, f"acc16_ops_per_s.{dt}", "an fp16-accumulate rate needs the dtype's peak and is never below it")

    caches: list[Cache] = []
    rc = raw.get("caches", [])
    if not isinstance(rc, list):
        raise _err(path, "caches", "must be an array of tables ([[caches]])")
    for i, c in enumerate(rc):
        where = f"caches[{i}]"
        if not isinstance(c, dict) or not c.get("name"):
            raise _err(path, where, "needs a name")
        extra = set(c) - {"name", "size_bytes", "bw_bytes_per_s", "source"}
        if extra:
            raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
        size = _num(path, f"{where}.size_bytes", c.get("size_bytes"))
        bw = _num(path, f"{where}.bw_bytes_per_s", c["bw_bytes_per_s"]) if "bw_bytes_per_s" in c else None
        key = _source_key(path, where, c.get("source"), sources)
        fs[f"cache.{c['name']}"] = key
        caches.append(Cache(name=c["name"], size_bytes=size, bw_bytes_per_s=bw, source=key))

    return Device(
        id=raw["id"], name=raw["name"], vendor=raw["vendor"], kind=raw["kind"], release_year=year,
        memory_bytes=mem["capacity_bytes"], mem_bw_bytes_per_s=mem["bw_bytes_per_s"],
        memory_type=str(mem.get("type", "")), peak_ops_per_s=frozen_map(peaks), caches=tuple(caches),
        sparse_2_4=two_four, tdp_w=power["tdp_w"], idle_w=power.get("idle_w"),
        interconnect=str(ic.get("name", "")), interconnect_bw_bytes_per_s=ic.get("bw_bytes_per_s"),
        msrp_usd=_ref_usd(prices, "owned"), cloud_usd_per_h=_ref_usd(prices, "cloud"),
        price_date=_ref_date(prices), sources=frozen_map(sources), field_sources=frozen_map(fs),
        peak_notes=frozen_map(peak_notes), notes=str(raw.get("notes", "")), path=str(path),
        vector_ops_per_s=frozen_map(vector), acc16_ops_per_s=frozen_map(acc16),
        achievable_ops_per_s=frozen_map(achievable), vendor_memory_bytes=mem.get("vendor_capacity_bytes"),
        sm_count=int(comp["sm_count"]) if "sm_count" in comp else None, boost_clock_hz=comp.get("boost_clock_hz"),
        schedulers_per_sm=int(comp["schedulers_per_sm"]) if "schedulers_per_sm" in comp else None,
        prices=tuple(prices), unreliable=frozen_map(unreliable),
    )


_PRICE_KEYS = {"basis", "usd", "provider", "date", "source", "note", "reference"}


def _legacy_prices(raw: dict, price: dict, fs: dict[str, str], sources: dict[str, Source]) -> list[Price]:
    """The one-per-basis ``[price]`` table as quotes, like any other (``Device.reference_price`` picks)."""
    out = []
    for f, basis in (("cloud_usd_per_h", "cloud"), ("msrp_usd", "owned")):
        if f in price:
            key = fs[f"price.{f}"]
            out.append(Price(basis, price[f], sources[key].title, str(price.get("date", "")), key,
                             str(raw["price"].get("note", ""))))
    return out


def _prices(path: Path, raw: dict, sources: dict[str, Source]) -> list[Price]:
    rp = raw.get("prices", [])
    if not isinstance(rp, list):
        raise _err(path, "prices", "must be an array of tables ([[prices]])")
    out = []
    for i, q in enumerate(rp):
        where = f"prices[{i}]"
        if not isinstance(q, dict):
            raise _err(path, where, "must be a table")
        extra = set(q) - _PRICE_KEYS
        if extra:
            raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
        if q.get("basis") not in COST_BASES:
            raise _err(path, f"{where}.basis", f"must be one of {', '.join(COST_BASES)}, got {q.get('basis')!r}")
        usd = _num(path, f"{where}.usd", q.get("usd"))
        if not isinstance(q.get("date"), str) or not q["date"].strip():
            raise _err(path, f"{where}.date", "a price needs the date it was quoted")
        if not isinstance(q.get("provider"), str) or not q["provider"].strip():
            raise _err(path, f"{where}.provider", "a price needs its provider or seller")
        key = _source_key(path, f"{where}.source", q.get("source"), sources)
        ref = q.get("reference", False)
        if not isinstance(ref, bool):
            raise _err(path, f"{where}.reference", "must be true or false")
        out.append(Price(q["basis"], usd, q["provider"].strip(), q["date"].strip(), key, str(q.get("note", "")), ref))
    return out


def _unreliable(path: Path, raw: dict, fs: dict[str, str]) -> dict[str, str]:
    """``[unreliable]``: field = "why": a field whose number is filled but not to be trusted (a placeholder)."""
    t = raw.get("unreliable", {})
    if not isinstance(t, dict):
        raise _err(path, "unreliable", "must be a table of field = \"reason\"")
    out = {}
    for f, why in t.items():
        if not isinstance(why, dict) or set(why) - {"reason"} or not isinstance(why.get("reason"), str) \
                or not why["reason"].strip():
            raise _err(path, f"unreliable.{f}", 'must be {reason = "why the figure is not to be trusted"}')
        if f not in fs and f not in ("price.cloud", "price.owned"):
            raise _err(path, f"unreliable.{f}", f"names no field of this device (known: {', '.join(sorted(fs))})")
        out[f] = why["reason"].strip()
    return out


def _ref_usd(prices: list[Price], basis: str) -> float | None:
    q = reference_price(prices, basis)
    return None if q is None else q.usd


def _ref_date(prices: list[Price]) -> str:
    refs = [reference_price(prices, b) for b in COST_BASES]
    return next((q.date for q in refs if q is not None), "")


def _rates(path: Path, raw: dict, table: str, dtypes: tuple[str, ...], prefix: str, sources: dict[str, Source],
           fs: dict[str, str], required: bool) -> tuple[dict[str, float], dict[str, str]]:
    """A table of ``dtype = {value, source, note}`` rates (peaks, vector rates): values and notes."""
    values: dict[str, float] = {}
    notes: dict[str, str] = {}
    rp = raw.get(table)
    if rp is None and not required:
        return values, notes
    if not isinstance(rp, dict) or not rp:
        raise _err(path, table, "missing table")
    for dt, v in rp.items():
        if dt not in dtypes:
            raise _err(path, f"{table}.{dt}", f"unknown dtype (known: {', '.join(dtypes)})")
        if not isinstance(v, dict):
            raise _err(path, f"{table}.{dt}", "must be {value = ..., source = ...} (a rate needs a source)")
        extra = set(v) - {"value", "source", "note"}
        if extra:
            raise _err(path, f"{table}.{dt}.{sorted(extra)[0]}", "unknown field")
        if "value" not in v:
            raise _err(path, f"{table}.{dt}.value", "missing field")
        values[dt] = _num(path, f"{table}.{dt}", v["value"])
        if v.get("note"):
            notes[dt] = str(v["note"])
        fs[f"{prefix}.{dt}"] = _source_key(path, f"{table}.{dt}", v.get("source"), sources)
    return values, notes


_MEASURED_KEYS = {"device", "run_id", "date", "source", "copy_bw_bytes_per_s", "matmul_ops_per_s", "idle_power_w",
                  "idle_state", "e_flop_j", "e_byte_j", "compute_eff", "memory_eff", "launch_overhead_s", "note",
                  "impl"}
_CURVE_KEYS = {"kernel", "impl", "compute_eff", "memory_eff", "floor_s", "half_flops", "n_fit", "held_out_median_err",
               "power_w", "note"}


def _curves(path: Path, raw: dict) -> dict[str, ImplCurve]:
    """``[impl."kernel/impl"]`` tables of a measured overlay -> fitted implementation curves."""
    t = raw.get("impl", {})
    if not isinstance(t, dict):
        raise _err(path, "impl", "must be a table of implementation curves")
    out = {}
    for key, c in t.items():
        where = f"impl.{key}"
        if not isinstance(c, dict):
            raise _err(path, where, "must be a table")
        extra = set(c) - _CURVE_KEYS
        if extra:
            raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
        for f in ("kernel", "impl"):
            if not isinstance(c.get(f), str) or not c[f]:
                raise _err(path, f"{where}.{f}", "missing or not a string")
        if key != f"{c['kernel']}/{c['impl']}":
            raise _err(path, where, f"key must be '{c['kernel']}/{c['impl']}'")
        for f in ("compute_eff", "memory_eff", "floor_s"):
            if f not in c:
                raise _err(path, f"{where}.{f}", "missing field")
        held = c.get("held_out_median_err")
        out[key] = ImplCurve(kernel=c["kernel"], impl=c["impl"], compute_eff=_num(path, f"{where}.compute_eff", c["compute_eff"]),
                             memory_eff=_num(path, f"{where}.memory_eff", c["memory_eff"]),
                             floor_s=_num(path, f"{where}.floor_s", c["floor_s"], positive=False),
                             half_flops=_num(path, f"{where}.half_flops", c.get("half_flops", 0.0), positive=False),
                             n_fit=int(_num(path, f"{where}.n_fit", c.get("n_fit", 0), positive=False)),
                             held_out_median_err=None if held is None else _num(path, f"{where}.held_out_median_err",
                                                                                 held, positive=False),
                             power_w=_num(path, f"{where}.power_w", c["power_w"]) if "power_w" in c else None,
                             note=str(c.get("note", "")))
    return out


def parse_measured(path: Path, raw: dict) -> Measured:
    for k in raw:
        if k not in _MEASURED_KEYS:
            raise _err(path, k, "unknown field")
    for k in ("device", "run_id", "date", "source"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            raise _err(path, k, "missing or not a string")

    def opt(k: str) -> float | None:
        return _num(path, k, raw[k]) if k in raw else None

    def per_dtype(k: str) -> dict[str, float]:
        t = raw.get(k, {})
        if not isinstance(t, dict):
            raise _err(path, k, "must be a table")
        for dt in t:
            if dt not in DTYPES:
                raise _err(path, f"{k}.{dt}", "unknown dtype")
        return {dt: _num(path, f"{k}.{dt}", v) for dt, v in t.items()}

    return Measured(run_id=raw["run_id"], date=raw["date"], source=raw["source"],
                    copy_bw_bytes_per_s=opt("copy_bw_bytes_per_s"), matmul_ops_per_s=frozen_map(per_dtype("matmul_ops_per_s")),
                    idle_power_w=opt("idle_power_w"), idle_state=str(raw.get("idle_state", "")),
                    e_flop_j=frozen_map(per_dtype("e_flop_j")), e_byte_j=opt("e_byte_j"),
                    compute_eff=frozen_map(per_dtype("compute_eff")), memory_eff=opt("memory_eff"),
                    launch_overhead_s=opt("launch_overhead_s"), note=str(raw.get("note", "")),
                    impl=frozen_map(_curves(path, raw)))


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise HwdbError(f"{path.name}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise HwdbError(f"{path.name}: not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r})") from None
    except RecursionError:
        raise HwdbError(f"{path.name}: not valid TOML: nested too deeply") from None
    except OSError as e:
        raise HwdbError(f"{path.name}: cannot read: {e.strerror}") from None


def load_dir(devices_dir: Path = DEVICES_DIR, measured_dir: Path | None = MEASURED_DIR) -> dict[str, Device]:
    """Every device in a folder, keyed by id, with measured overlays attached. Raises HwdbError."""
    devices: dict[str, Device] = {}
    files = sorted(Path(devices_dir).glob("*.toml"))
    if not files:
        raise HwdbError(f"{devices_dir}: no device files (*.toml)")
    for path in files:
        dev = parse_device(path, _read_toml(path))
        if dev.id in devices:
            raise _err(path, "id", f"duplicate id {dev.id!r} (also in {Path(devices[dev.id].path).name})")
        devices[dev.id] = dev
    if measured_dir is not None and Path(measured_dir).is_dir():
        # overlays are read only for the devices of this database (<id>.toml, as write_measured names
        # them): a $ROOFLINE_HWDB folder without h100-sxm must not trip over the repository's H100 overlay
        for dev_id in sorted(devices):
            path = Path(measured_dir) / f"{dev_id}.toml"
            if not path.is_file():
                continue
            m_raw = _read_toml(path)
            m = parse_measured(path, m_raw)
            if m_raw["device"] != dev_id:
                raise _err(path, "device", f"{m_raw['device']!r} in the overlay file of {dev_id!r}")
            devices[dev_id] = replace(devices[dev_id], measured=m)
    return devices


@lru_cache(maxsize=1)
def _default() -> dict[str, Device]:
    override = os.environ.get("ROOFLINE_HWDB")
    return load_dir(Path(override)) if override else load_dir()


def load() -> dict[str, Device]:
    """All shipped devices keyed by id (``$ROOFLINE_HWDB`` points elsewhere)."""
    return _default()


class UnknownDeviceError(UnknownNameError):
    """A device id the active hardware database does not hold; suggests the closest ids."""

    def __init__(self, device_id: str, known: list[str]):
        self.device_id = device_id
        super().__init__("device", device_id, known, fallback="see `roofline hw list`")


def get(device_id: str) -> Device:
    """One device by id; UnknownDeviceError suggests the closest ids."""
    devs = load()
    if device_id not in devs:
        raise UnknownDeviceError(device_id, list(devs))
    return devs[device_id]


def write_measured(device_id: str, fields: dict, measured_dir: Path = MEASURED_DIR) -> Path:
    """Write a measured overlay atomically (used by `roofline calibrate`, never by hand)."""
    lines = [f"device = {_toml_value(device_id)}"]
    tables = {k: v for k, v in fields.items() if isinstance(v, dict)}
    for k, v in fields.items():
        if not isinstance(v, dict) and v is not None:
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables.items():
        if k == "impl":  # one sub-table a curve: [impl."kernel/impl"]
            for ck, cv in v.items():
                lines.append(f"\n[impl.{_toml_value(ck)}]")
                lines += [f"{dk} = {_toml_value(dv)}" for dk, dv in cv.items() if dv is not None]
            continue
        lines.append(f"\n[{k}]")
        lines += [f"{dk} = {_toml_value(dv)}" for dk, dv in v.items()]
    text = "\n".join(lines) + "\n"
    parse_measured(Path(f"{device_id}.toml"), tomllib.loads(text))  # validate before writing
    target = Path(measured_dir) / f"{device_id}.toml"
    try:
        _write_atomic(target, text)
    except OSError as e:
        raise HwdbError(f"cannot write {target}: {e.strerror or e}") from None
    _default.cache_clear()
    return target


def _write_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:  # a full disk or a signal: the old overlay stays, no temp file is left
        try:
            os.close(fd)
        except OSError:
            pass
        Path(tmp).unlink(missing_ok=True)
        raise


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'
