"""Report specs: a TOML file naming the workloads, candidate devices, ranking criteria and trace runs.

``load_spec(path)`` parses and validates a spec; every problem is one ``InputError`` (or
``UnknownNameError`` for a device, model or run id) that names the file and the field.
The spec's own text travels with it so that the report can print it verbatim.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hwdb
from hwdb.schema import COST_BASES
from roofline.engine.catalog import get_model
from roofline.engine.runtime import DEFAULT_RUNTIME, get_profile
from roofline.engine.select import RANK_KEYS
from roofline.errors import InputError, UnknownNameError
from roofline.views import measured

# metric -> (direction, label with unit). The ranking keys a spec may name (roofline.engine.select.RANK_KEYS
# is the engine's list; a key must be in both).
METRICS: dict[str, tuple[str, str]] = {
    "tokens_per_s": ("max", "tokens/s"),
    "ttft_s": ("min", "time to first token (s)"),
    "tpot_s": ("min", "time per output token (s)"),
    "usd_per_mtok": ("min", "USD per million tokens"),
    "j_per_token": ("min", "J/token"),
    "ipw": ("max", "IPW (accuracy / W)"),
    "ipj": ("max", "IPJ (accuracy / J per query)"),
}

# Scenario fields a workload may set (roofline.engine.scenario.Scenario); anything else is a typo.
SCENARIO_FIELDS: dict[str, type | tuple[type, ...]] = {
    "phase": str, "batch": int, "prompt_tokens": int, "gen_tokens": int, "wbits": int,
    "abits": int, "kvbits": int, "group_size": int, "weight_sparsity": str,
    "mlp_active": (int, float), "head_active": (int, float), "attention": str, "tp": int, "number_format": str,
    "pp": int, "ep": int, "nodes": int, "spec_tokens": int, "spec_acceptance": (int, float), "spec_draft": str,
    "prefix_hit": (int, float), "offload": str, "offload_fraction": (int, float), "kv_block": int,
}
PHASES = ("prefill", "decode", "generate")

_TOP = {"title", "description", "date", "author", "workload", "devices", "ranking", "traces", "assumptions",
        "planning"}
# [planning]: a capacity plan of the first workload's model (roofline.engine.plan over the serving simulator)
_PLANNING = {"qps", "slo_ttft_p99_s", "slo_tpot_p99_s", "devices", "objective", "duration_s"}
_WORKLOAD = {"name", "model", "slo_ttft_s", "slo_tpot_s", "note"} | set(SCENARIO_FIELDS)
_DEVICES = {"ids"}
_RANKING = {"by", "pareto_x", "pareto_y", "allow_tp", "detail", "runtime", "cost_basis"}
_TRACES = {"runs"}


@dataclass(frozen=True)
class Workload:
    """One model under one scenario, with optional latency SLOs (seconds)."""

    name: str
    model: str
    scenario: dict[str, Any]  # Scenario keyword arguments, as written in the spec
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ReportSpec:
    title: str
    workloads: tuple[Workload, ...]
    devices: tuple[str, ...]
    rank_by: str = "tokens_per_s"
    pareto_x: str = "usd_per_mtok"
    pareto_y: str = "tokens_per_s"
    allow_tp: bool = True
    detail: int = 3  # devices per workload that get a latency/energy breakdown and a roofline
    runtime: str = DEFAULT_RUNTIME  # the runtime profile every prediction of the report uses
    cost_basis: str = "cloud"  # cloud | owned: the basis of every $ figure of the report (TCO defaults: engine.cost)
    trace_runs: tuple[str, ...] = ()
    description: str = ""
    date: str = ""  # printed only when the spec gives one
    author: str = ""
    assumptions: tuple[str, ...] = ()
    planning: dict | None = None  # qps, slo_ttft_p99_s, slo_tpot_p99_s, devices, objective, duration_s
    path: str = ""  # as shown in the report (repo-relative where possible)
    text: str = ""  # the spec file verbatim
    sha256: str = ""


def _where(name: str, key: str) -> str:
    return f"{name}: {key}"


def _check_keys(name: str, where: str, table: Any, allowed: set[str]) -> dict:
    if not isinstance(table, dict):
        raise InputError(f"{_where(name, where)}: must be a table")
    for k in table:
        if k not in allowed:
            raise InputError(f"{_where(name, f'{where}.{k}' if where else k)}: unknown field "
                             f"(allowed: {', '.join(sorted(allowed))})")
    return table


def _str(name: str, where: str, v: Any, required: bool = True) -> str:
    if v is None and not required:
        return ""
    if v is None:
        raise InputError(f"{_where(name, where)}: missing field")
    if not isinstance(v, str) or (required and not v.strip()):
        raise InputError(f"{_where(name, where)}: expected a non-empty string, got {v!r}")
    return v


def _pos(name: str, where: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise InputError(f"{_where(name, where)}: expected a number > 0, got {v!r}")
    return float(v)


def _metric(name: str, where: str, v: Any) -> str:
    v = _str(name, where, v)
    known = _rank_keys()
    if v not in known:
        raise UnknownNameError(f"ranking metric ({where})", v, list(known))
    return v


def _cost_basis(name: str, v: Any) -> str:
    if v not in COST_BASES:
        raise InputError(f"{_where(name, 'ranking.cost_basis')}: expected one of {', '.join(COST_BASES)}, got {v!r}")
    return v


def _rank_keys() -> tuple[str, ...]:
    """Metrics both the report knows how to label and the engine can rank by."""
    return tuple(k for k in METRICS if k in RANK_KEYS)


def _workload(name: str, i: int, raw: Any) -> Workload:
    where = f"workload[{i}]"
    raw = _check_keys(name, where, raw, _WORKLOAD)
    wname = _str(name, f"{where}.name", raw.get("name"))
    model = _str(name, f"{where}.model", raw.get("model"))
    scen: dict[str, Any] = {}
    for k, typ in SCENARIO_FIELDS.items():
        if k not in raw:
            continue
        v = raw[k]
        if isinstance(v, bool) or not isinstance(v, typ):
            want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise InputError(f"{_where(name, f'{where}.{k}')}: expected {want}, got {v!r}")
        scen[k] = v
    if "phase" not in scen:
        raise InputError(f"{_where(name, f'{where}.phase')}: missing field (one of {', '.join(PHASES)})")
    if scen["phase"] not in PHASES:
        raise InputError(f"{_where(name, f'{where}.phase')}: {scen['phase']!r} is not one of {', '.join(PHASES)}")
    for k in ("batch", "prompt_tokens"):
        if k not in scen:
            raise InputError(f"{_where(name, f'{where}.{k}')}: missing field")
    if scen["phase"] != "prefill" and "gen_tokens" not in scen:
        raise InputError(f"{_where(name, f'{where}.gen_tokens')}: missing field (needed for {scen['phase']})")
    for k in ("batch", "prompt_tokens", "gen_tokens", "wbits", "abits", "kvbits", "group_size", "tp"):
        if k in scen:
            _pos(name, f"{where}.{k}", scen[k])
    slo = {k: _pos(name, f"{where}.{k}", raw[k]) if k in raw else None for k in ("slo_ttft_s", "slo_tpot_s")}
    return Workload(name=wname, model=model, scenario=scen, note=_str(name, f"{where}.note", raw.get("note"), False),
                    **slo)


def parse_spec(raw: dict, name: str = "spec", text: str = "", path: str = "") -> ReportSpec:
    """Validate a parsed TOML document. Names (models, devices, runs) are checked by ``resolve_names``."""
    _check_keys(name, "", raw, _TOP)
    title = _str(name, "title", raw.get("title"))
    wl = raw.get("workload")
    if wl is None:
        raise InputError(f"{_where(name, 'workload')}: missing field (at least one [[workload]] table)")
    if not isinstance(wl, list) or not wl:
        raise InputError(f"{_where(name, 'workload')}: must be an array of tables ([[workload]])")
    workloads = tuple(_workload(name, i, w) for i, w in enumerate(wl))
    names = [w.name for w in workloads]
    if len(set(names)) != len(names):
        raise InputError(f"{_where(name, 'workload.name')}: workload names must be unique ({', '.join(names)})")

    if "devices" not in raw:
        raise InputError(f"{_where(name, 'devices')}: missing table ([devices] ids = [...])")
    dev = _check_keys(name, "devices", raw["devices"], _DEVICES)
    ids = dev.get("ids")
    if ids is None:
        raise InputError(f"{_where(name, 'devices.ids')}: missing field")
    if not isinstance(ids, list) or not ids or not all(isinstance(x, str) and x for x in ids):
        raise InputError(f"{_where(name, 'devices.ids')}: expected a non-empty list of device ids")
    if len(set(ids)) != len(ids):
        raise InputError(f"{_where(name, 'devices.ids')}: duplicate device id")

    rk = _check_keys(name, "ranking", raw.get("ranking", {}), _RANKING)
    allow_tp = rk.get("allow_tp", True)
    if not isinstance(allow_tp, bool):
        raise InputError(f"{_where(name, 'ranking.allow_tp')}: expected true or false, got {allow_tp!r}")
    detail = rk.get("detail", 3)
    if isinstance(detail, bool) or not isinstance(detail, int) or detail < 1:
        raise InputError(f"{_where(name, 'ranking.detail')}: expected an integer >= 1, got {detail!r}")

    tr = _check_keys(name, "traces", raw.get("traces", {}), _TRACES)
    runs = tr.get("runs", [])
    if not isinstance(runs, list) or not all(isinstance(x, str) and x for x in runs):
        raise InputError(f"{_where(name, 'traces.runs')}: expected a list of trace run ids")

    assumptions = raw.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(x, str) for x in assumptions):
        raise InputError(f"{_where(name, 'assumptions')}: expected a list of strings")
    date = raw.get("date", "")
    if not isinstance(date, str):  # TOML dates parse to datetime; keep them as written
        date = date.isoformat() if hasattr(date, "isoformat") else str(date)

    planning = None
    if "planning" in raw:
        pl = _check_keys(name, "planning", raw["planning"], _PLANNING)
        planning = {}
        for k in ("qps", "slo_ttft_p99_s", "slo_tpot_p99_s"):
            v = pl.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise InputError(f"{_where(name, f'planning.{k}')}: expected a number > 0, got {v!r}")
            planning[k] = float(v)
        pd_ = pl.get("devices", list(ids))
        if not isinstance(pd_, list) or not pd_ or not all(isinstance(x, str) and x for x in pd_):
            raise InputError(f"{_where(name, 'planning.devices')}: expected a non-empty list of device ids")
        planning["devices"] = tuple(pd_)
        obj = pl.get("objective", "usd")
        if obj not in ("usd", "joules", "devices"):
            raise InputError(f"{_where(name, 'planning.objective')}: use usd, joules or devices, got {obj!r}")
        planning["objective"] = obj
        dur = pl.get("duration_s", 60.0)
        if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not dur > 0:
            raise InputError(f"{_where(name, 'planning.duration_s')}: expected a number > 0, got {dur!r}")
        planning["duration_s"] = float(dur)

    return ReportSpec(
        title=title, workloads=workloads, devices=tuple(ids), planning=planning,
        rank_by=_metric(name, "ranking.by", rk.get("by", "tokens_per_s")),
        pareto_x=_metric(name, "ranking.pareto_x", rk.get("pareto_x", "usd_per_mtok")),
        pareto_y=_metric(name, "ranking.pareto_y", rk.get("pareto_y", "tokens_per_s")),
        allow_tp=allow_tp, detail=detail, trace_runs=tuple(runs),
        runtime=get_profile(_str(name, "ranking.runtime", rk.get("runtime", DEFAULT_RUNTIME))).name,
        cost_basis=_cost_basis(name, rk.get("cost_basis", "cloud")),
        description=_str(name, "description", raw.get("description"), False),
        date=date, author=_str(name, "author", raw.get("author"), False), assumptions=tuple(assumptions),
        path=path, text=text, sha256=hashlib.sha256(text.encode()).hexdigest() if text else "",
    )


def resolve_names(spec: ReportSpec) -> None:
    """Check that every model, device and trace run the spec names exists (UnknownNameError otherwise)."""

    devices = hwdb.load()
    for d in spec.devices:
        if d not in devices:
            raise UnknownNameError("device", d, list(devices))
    for w in spec.workloads:
        get_model(w.model)  # UnknownNameError with suggestions
    if spec.trace_runs:
        known = list(measured.run_manifests())
        for r in spec.trace_runs:
            if r not in known:
                raise UnknownNameError("trace run", r, known)


def display_path(path: Path) -> str:
    """The spec path as the report prints it: repo-relative for shipped specs, else the file name."""
    p = Path(path).resolve()
    repo = Path(__file__).resolve().parent.parent
    try:
        return p.relative_to(repo).as_posix()
    except ValueError:
        return p.name


def load_spec(path: str | Path) -> ReportSpec:
    """Read, parse and validate a spec file (names included). Raises InputError / UnknownNameError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: spec file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read spec: {getattr(e, 'strerror', None) or e}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p.name}: not valid TOML: {e}") from None
    spec = parse_spec(raw, name=p.name, text=text, path=display_path(p))
    resolve_names(spec)
    return spec


SPECS_DIR = Path(__file__).parent / "specs"


def shipped_specs() -> list[Path]:
    """The example specs that ship with the package."""
    return sorted(SPECS_DIR.glob("*.toml"))
