"""Published, measured serving figures as predictions to check: the validation set the runtime profiles are
fitted on and held out against (``roofline/engine/runtimes/validation.toml``, built by
``scripts/import_validation.py``), and the same points made from a user's own serving runs
(``roofline import-serving``).

A point is one measured number (TTFT, TPOT, a throughput, an end-to-end latency) of one model on one device
kind under a stated batch, lengths, precision and tensor parallelism, with the document, table and row it came
from. ``predicted(point, runtime)`` prices it with ``roofline.engine.predict``; ``log_time_residual`` is
log(measured / predicted) expressed in time (a throughput residual is inverted), the quantity the bands and the
fit work in.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from roofline.engine.catalog import get_model
from roofline.engine.predict import Prediction, predict
from roofline.engine.runtime import RUNTIMES_DIR, RuntimeProfile, get_profile
from roofline.engine.scenario import Scenario
from roofline.errors import DataFileError
from roofline.validate import toml_file

VALIDATION_FILE = RUNTIMES_DIR / "validation.toml"
TIME_QUANTITIES = ("ttft_s", "tpot_s", "time_s")
RATE_QUANTITIES = ("tokens_per_s", "decode_tokens_per_s")
QUANTITIES = TIME_QUANTITIES + RATE_QUANTITIES
_SCENARIO_KEYS = ("phase", "batch", "prompt_tokens", "gen_tokens", "wbits", "abits", "kvbits", "group_size",
                  "number_format", "tp")


def runtime_of(label: str) -> str:
    """The profile a source's runtime label belongs to (MLPerf harness labels name the engine underneath)."""
    label = label.strip().lower()
    return label.split("-", 1)[1] if label.startswith("mlperf-") else label


@dataclass(frozen=True)
class ServingPoint:
    """One measured serving figure and how it maps onto a prediction. Units: SI (s, tokens/s)."""

    id: str
    document: str
    group: str  # points of one group (source URL) are held out together
    runtime: str
    model_id: str
    device_id: str
    scenario: Scenario
    quantity: str  # ttft_s | tpot_s | time_s | tokens_per_s | decode_tokens_per_s
    value: float  # measured, system units
    replicas: int = 1  # independent instances the system rate covers
    max_batched_tokens: int | None = None  # a per-point chunk budget (llama.cpp micro-batch runs)
    locator: str = ""
    date: str = ""
    statistic: str = ""
    note: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False)  # every field as transcribed

    @property
    def ref(self) -> str:
        """How a fitted number cites the point: document key: locator (date)."""
        return f"{self.id}: {self.locator}" + (f" ({self.date})" if self.date else "")

    def run(self, runtime: RuntimeProfile | str | None = None) -> Prediction:
        rt = get_profile(runtime)
        if self.max_batched_tokens is not None:
            rt = rt.with_values(max_batched_tokens=self.max_batched_tokens)
        return predict(self.model_id, self.device_id, self.scenario, runtime=rt)

    def predicted(self, runtime: RuntimeProfile | str | None = None) -> float:
        return quantity_of(self.run(runtime), self.quantity, self.replicas)

    def log_time_residual(self, predicted: float) -> float:
        """log(measured / predicted), as times: > 0 when the measurement is slower than predicted."""
        r = math.log(self.value / predicted)
        return r if self.quantity in TIME_QUANTITIES else -r

    def error(self, predicted: float) -> float:
        """measured / predicted - 1 on the quantity as published."""
        return self.value / predicted - 1.0


def quantity_of(p: Prediction, quantity: str, replicas: int = 1) -> float:
    if quantity == "ttft_s":
        return p.ttft_s
    if quantity == "tpot_s":
        return p.tpot_s
    if quantity == "time_s":
        return p.time_s
    if quantity == "tokens_per_s":
        return p.tokens_per_s * replicas
    if quantity == "decode_tokens_per_s":
        return p.scenario.batch / p.tpot_s * replicas
    raise ValueError(quantity)


def point_from_map(pid: str, document: str, group: str, runtime: str, mp: dict, source: dict,
                   where: str) -> ServingPoint:
    """A ServingPoint from a ``[point.map]``-style table; DataFileError names ``where`` and the field."""
    def err(f: str, msg: str) -> DataFileError:
        return DataFileError(f"{where}: {f}: {msg}")

    batch = mp.get("batch")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise err("batch", f"no stated batch (got {batch!r}): a point is priced at its batch or concurrency")
    for k in ("model_id", "device_id", "quantity", "value_si", "phase", "prompt_tokens"):
        if k not in mp:
            raise err(k, "missing field")
    if mp["quantity"] not in QUANTITIES:
        raise err("quantity", f"{mp['quantity']!r} is not one of {', '.join(QUANTITIES)}")
    value = mp["value_si"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise err("value_si", f"must be a positive number, got {value!r}")
    get_model(mp["model_id"])  # UnknownNameError for a model the catalog lacks
    kw = {k: mp[k] for k in _SCENARIO_KEYS if k in mp}
    sc = Scenario(**kw).validate(get_model(mp["model_id"]))
    mbt = mp.get("max_batched_tokens")
    return ServingPoint(id=pid, document=document, group=group, runtime=runtime, model_id=mp["model_id"],
                        device_id=mp["device_id"], scenario=sc, quantity=mp["quantity"], value=float(value),
                        replicas=int(mp.get("replicas", 1)), max_batched_tokens=None if mbt is None else int(mbt),
                        locator=str(source.get("locator", "")), date=str(source.get("date", "")),
                        statistic=str(source.get("statistic", "")), note=str(mp.get("note", "")), source=dict(source))


def parse_points(raw: dict, name: str = "validation.toml") -> list[ServingPoint]:
    docs = {d["key"]: d for d in raw.get("document", []) if isinstance(d, dict) and "key" in d}
    out = []
    seen: set[str] = set()
    for i, p in enumerate(raw.get("point", [])):
        where = f"{name}: point[{i}]" + (f" ({p.get('id')})" if isinstance(p, dict) and p.get("id") else "")
        if not isinstance(p, dict) or not p.get("id") or not p.get("document") or not isinstance(p.get("map"), dict):
            raise DataFileError(f"{where}: needs id, document and a [point.map] table")
        if p["id"] in seen:
            raise DataFileError(f"{where}: id: duplicate {p['id']!r}")
        seen.add(p["id"])
        doc = docs.get(p["document"])
        if doc is None:
            raise DataFileError(f"{where}: document: {p['document']!r} is not a [[document]] key")
        source = {k: v for k, v in p.items() if k != "map"}
        source.setdefault("date", doc.get("date", ""))
        out.append(point_from_map(p["id"], p["document"], str(doc.get("group", doc.get("url", p["document"]))),
                                  runtime_of(str(doc.get("runtime", ""))), p["map"], source, where))
    return out


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[ServingPoint, ...]:
    p = Path(path)
    return tuple(parse_points(toml_file(p), p.name))


def load_points(path: str | Path | None = None) -> list[ServingPoint]:
    """Every validation point (the shipped set unless ``path`` names another file)."""
    return list(_load(str(path or VALIDATION_FILE)))


def load_documents(path: str | Path | None = None) -> dict[str, dict]:
    with open(Path(path or VALIDATION_FILE), "rb") as f:
        return {d["key"]: d for d in tomllib.load(f).get("document", [])}
