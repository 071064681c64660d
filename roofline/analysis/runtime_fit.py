"""Fit a runtime profile from measured serving points, hold documents out, and derive the bands.

The profile's parameters (``roofline.engine.runtime.PARAMS``: GEMM efficiencies by dtype and a size curve,
MoE, streaming and attention efficiencies, launch / step / request costs, device-class factors) are fitted in log
space with ``scipy.optimize.least_squares`` and a robust loss (soft L1: a few odd points cannot drag the fit),
each pulled weakly toward its ideal value (a prior of a factor ~2), so a number no point informs stays where the
ideal runtime has it and is marked ``assumed``. Only parameters some point is sensitive to are fitted.

Held-out error is measured a source at a time: every group of documents that share a source URL is left out,
the profile refitted on the rest, and the left-out points predicted (``leave_one_group_out``). The bands are
prediction intervals for a new source built from those held-out residuals, per device class, with a width
calibrated on held-out data (see "bands" below); classes a runtime was not measured on get the band of the
residuals of points whose class the fit had not seen.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import tomllib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType

import numpy as np
from scipy.optimize import least_squares

import hwdb
from roofline.engine.runtime import (
    ANY_CLASS,
    PARAMS,
    RUNTIMES_DIR,
    VENDOR_PREFIX,
    Band,
    Document,
    Param,
    RuntimeProfile,
    device_class,
    get_profile,
    parse_profile,
    vendor_key,
)
from roofline.engine.validation import ServingPoint, load_documents, load_points
from roofline.errors import InputError

# parameter -> (prior value, prior width as a log factor, lower, upper). Efficiencies are relative to the
# device's ceiling; the prior says "the runtime reaches the ceiling, give or take 2x".
FIT_SPACE: dict[str, tuple[float, float, float, float]] = {
    "gemm_eff_bf16": (1.0, math.log(2), 0.05, 2.0),
    "gemm_eff_fp8": (1.0, math.log(2), 0.05, 2.0),
    "gemm_eff_int8": (1.0, math.log(2), 0.02, 2.0),
    "gemm_eff_4bit": (1.0, math.log(2), 0.02, 2.0),
    "gemm_half_rows": (8.0, math.log(10), 0.1, 4096.0),
    "moe_eff": (1.0, math.log(2), 0.05, 2.0),
    "mem_eff": (1.0, math.log(1.5), 0.2, 1.3),
    "attn_prefill_eff": (1.0, math.log(2), 0.05, 2.0),
    "attn_decode_eff": (1.0, math.log(2), 0.05, 1.3),
    "launch_s": (4e-6, math.log(5), 1e-7, 1e-4),
    "step_s": (1e-4, math.log(30), 1e-6, 0.2),
    "request_s": (2e-3, math.log(30), 1e-6, 2.0),
}
VENDOR_SPACE = (1.0, math.log(2), 0.05, 2.0)
REFERENCE_VENDOR = "nvidia"  # device-class factors are relative to it
ROBUST_SCALE = 0.15  # soft-L1 knee: residuals beyond ~15% count linearly, not squared
PRIOR_WEIGHT = 0.1  # the priors only settle what the points leave open
SENSITIVE = 0.02  # |d log(prediction) / d log(parameter)| above which a point informs a parameter
MIN_INFORMING = 2  # a parameter is fitted only when at least this many points inform it
BAND_COVERAGE = 0.8
MIN_BAND_POINTS = 4  # a device class gets its own band from at least this many held-out points
MAD_TO_SD = 1.4826  # median absolute deviation -> standard deviation of a normal


@dataclass(frozen=True)
class FitResult:
    """A fitted profile and the evidence behind it."""

    profile: RuntimeProfile
    points: tuple[ServingPoint, ...]
    fitted: dict[str, float]  # name -> value of the fitted parameters
    informing: dict[str, tuple[str, ...]]  # parameter -> ids of the points it was fitted on
    in_sample: dict[str, float]  # point id -> predicted (fit on everything)
    held_out: dict[str, float]  # point id -> predicted with the point's group left out
    notes: tuple[str, ...] = field(default=())


def candidate_params(points: Sequence[ServingPoint]) -> list[str]:
    vendors = sorted({vendor_key(hwdb.get(p.device_id)) for p in points} - {REFERENCE_VENDOR})
    return list(FIT_SPACE) + [VENDOR_PREFIX + v for v in vendors]


def _space(name: str) -> tuple[float, float, float, float]:
    return VENDOR_SPACE if name.startswith(VENDOR_PREFIX) else FIT_SPACE[name]


def _log_preds(points: Sequence[ServingPoint], base: RuntimeProfile, names: list[str], x: np.ndarray) -> np.ndarray:
    prof = base.with_values(**{n: math.exp(v) for n, v in zip(names, x, strict=True)})
    return np.array([math.log(p.predicted(prof)) for p in points])


def _signed(points: Sequence[ServingPoint]) -> np.ndarray:
    """+1 for time quantities, -1 for rates: log-prediction residuals in time units."""
    return np.array([1.0 if p.quantity in ("ttft_s", "tpot_s", "time_s") else -1.0 for p in points])


def sensitivity(points: Sequence[ServingPoint], base: RuntimeProfile, names: list[str], x: np.ndarray,
                step: float = 0.05) -> np.ndarray:
    """d log(prediction) / d log(parameter), points x parameters (central differences)."""
    jac = np.zeros((len(points), len(names)))
    for j in range(len(names)):
        up, dn = x.copy(), x.copy()
        up[j] += step
        dn[j] -= step
        jac[:, j] = (_log_preds(points, base, names, up) - _log_preds(points, base, names, dn)) / (2 * step)
    return jac


def fit_points(points: Sequence[ServingPoint], base: RuntimeProfile, names: list[str] | None = None,
               max_nfev: int | None = None) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Fitted values of the parameters some points inform, and the ids of those points."""
    if not points:
        return {}, {}
    names = list(names or candidate_params(points))
    x_prior = np.array([math.log(_space(n)[0]) for n in names])
    # sensitivity at the prior and one prior width up: a cost too small to matter at its prior value (a 100 us
    # scheduler step on a 6 ms decode step) still counts when the points could need it larger
    x_up = x_prior + np.array([_space(n)[1] for n in names])
    jac = np.maximum(np.abs(sensitivity(points, base, names, x_prior)), np.abs(sensitivity(points, base, names, x_up)))
    informed = [j for j, _ in enumerate(names) if (jac[:, j] > SENSITIVE).sum() >= MIN_INFORMING]
    names = [names[j] for j in informed]
    if not names:
        return {}, {}
    x0 = np.array([math.log(_space(n)[0]) for n in names])
    sig = np.array([_space(n)[1] for n in names])
    lo = np.array([math.log(_space(n)[2]) for n in names])
    hi = np.array([math.log(_space(n)[3]) for n in names])
    meas = np.array([math.log(p.value) for p in points])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.concatenate([_log_preds(points, base, names, x) - meas, PRIOR_WEIGHT * (x - x0) / sig])

    res = least_squares(residuals, x0, bounds=(lo, hi), loss="soft_l1", f_scale=ROBUST_SCALE, diff_step=1e-3,
                        max_nfev=max_nfev or 40 * (len(names) + 1))
    jac_prior = jac[:, informed]  # already absolute
    jac_fit = sensitivity(points, base, names, res.x)
    values = {n: math.exp(v) for n, v in zip(names, res.x, strict=True)}
    informing = {n: tuple(points[i].id for i in np.nonzero((np.abs(jac_fit[:, j]) > SENSITIVE)
                                                              | (np.abs(jac_prior[:, j]) > SENSITIVE))[0])
                 for j, n in enumerate(names)}
    return values, informing


def leave_one_group_out(points: Sequence[ServingPoint], base: RuntimeProfile,
                        fit: Callable[..., tuple[dict, dict]] = fit_points) -> dict[str, float]:
    """point id -> prediction of a profile fitted without the point's group (source). A runtime measured by one
    source only is predicted from the base profile (nothing else to fit on)."""
    out: dict[str, float] = {}
    groups = sorted({p.group for p in points})
    for g in groups:
        train = [p for p in points if p.group != g]
        test = [p for p in points if p.group == g]
        values, _ = fit(train, base) if train else ({}, {})
        prof = base.with_values(**values)
        for p in test:
            out[p.id] = p.predicted(prof)
    return out


# ---- bands ---------------------------------------------------------------------------------------------------
# A held-out residual is "measured-class" when the point's device class appears in the other sources the
# profile was fitted on, "unmeasured-class" when it does not (the profile met that class for the first time).
# Residuals cluster by source (one document's runs share a setup), so a band is a prediction interval for a
# new source: centre = median of the sources' median residuals, scale = sqrt(between-source + within-source
# variance) (both from median absolute deviations, robust to a few odd points), half-width = k x scale. k is
# calibrated, conformal-style, on held-out data: the 80% quantile of |residual - centre| / scale over every
# held-out point, each scored against a centre and scale built without its own source. A profile's band for a
# class it was fitted on uses measured-class residuals (its own, else all runtimes' on that class, else all);
# the band for other classes ("*") uses unmeasured-class residuals.

@dataclass(frozen=True)
class Residual:
    runtime: str
    group: str
    device_class: str
    measured_class: bool
    value: float  # log(measured / predicted time), held out
    point: str = ""

    def record(self) -> dict:
        return {"point": self.point, "group": self.group, "device_class": self.device_class,
                "measured_class": self.measured_class, "value": self.value}


def held_out_residuals(runtime: str, points: Sequence[ServingPoint], preds: dict[str, float]) -> list[Residual]:
    out = []
    for p in points:
        if p.id not in preds:
            continue
        cls = device_class(hwdb.get(p.device_id))
        seen = {device_class(hwdb.get(q.device_id)) for q in points if q.group != p.group}
        out.append(Residual(runtime, p.group, cls, cls in seen, p.log_time_residual(preds[p.id]), p.id))
    return out


def stored_residuals(profile: RuntimeProfile) -> list[Residual]:
    """The held-out residuals a shipped profile's bands were built from (``[[residual]]``)."""
    return [Residual(profile.name, str(r["group"]), str(r["device_class"]), bool(r["measured_class"]),
                     float(r["value"]), str(r["point"])) for r in profile.residuals]


def centre_scale(rs: Sequence[Residual]) -> tuple[float, float, int, int] | None:
    """(centre, scale, points, sources) of residuals clustered by (runtime, source); None below two sources."""
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rs:
        by[(r.runtime, r.group)].append(r.value)
    if len(by) < 2:
        return None
    meds = np.array([np.median(v) for v in by.values()])
    within = np.concatenate([np.asarray(v) - m for v, m in zip(by.values(), meds, strict=True)])
    s_w = MAD_TO_SD * float(np.median(np.abs(within)))
    s_b = MAD_TO_SD * float(np.median(np.abs(meds - np.median(meds)))) if len(by) >= 3 else float(np.std(meds, ddof=1))
    return float(np.median(meds)), math.sqrt(s_b ** 2 + s_w ** 2), len(within), len(by)


def _stats(runtime: str, cls: str | None, pool: Sequence[Residual], exclude: set[str]):
    pool = [r for r in pool if r.group not in exclude]
    meas = [r for r in pool if r.measured_class]
    if cls is None:
        c = centre_scale([r for r in pool if not r.measured_class])
        if c:
            return c, ("no measurement on this device class: residuals of points whose class the fit had not seen"
                       " (all runtimes)")
        # every class of the validation set was measured by two or more sources, so no held-out point ever met a
        # class its fit had not seen: take every residual, and add the spread between the classes' own centres
        # (a new class's bias is unknown) to the scale
        c = centre_scale(pool)
        if not c:
            return None, ""
        by_cls: dict[str, list[float]] = defaultdict(list)
        for r in pool:
            by_cls[r.device_class].append(r.value)
        cents = [float(np.median(v)) for v in by_cls.values()]
        s_cls = float(np.std(cents, ddof=1)) if len(cents) >= 2 else 0.0
        centre, scale, n, d = c
        return ((centre, math.sqrt(scale ** 2 + s_cls ** 2), n, d),
                f"no measurement on this device class, and no held-out point met a class its fit had not seen: every "
                f"class's residuals (all runtimes), the spread of the {len(cents)} classes' centres "
                f"({s_cls:.3f}) added to the scale")
    for label, rs in ((f"{runtime} on {cls}", [r for r in meas if r.runtime == runtime and r.device_class == cls]),
                      (f"all runtimes on {cls}", [r for r in meas if r.device_class == cls]),
                      ("all runtimes, all classes", meas)):
        c = centre_scale(rs)
        if c:
            return c, f"held-out residuals of {label}, classes seen in the fit"
    return None, ""


def conformal_k(pools: dict[str, Sequence[Residual]], exclude: set[str] = frozenset(),
                coverage: float = BAND_COVERAGE) -> float:
    """The half-width multiplier that puts ``coverage`` of held-out points inside their band (each scored against
    a centre and scale built without its own source)."""
    scores = []
    for pool in pools.values():
        for r in pool:
            if r.group in exclude:
                continue
            c, _ = _stats(r.runtime, r.device_class if r.measured_class else None, pool, exclude | {r.group})
            if c:
                scores.append(abs(r.value - c[0]) / max(c[1], 1e-9))
    return float(np.quantile(scores, coverage)) if scores else math.nan


def band_for(runtime: str, cls: str | None, pool: Sequence[Residual], k: float,
             exclude: set[str] = frozenset()) -> Band | None:
    """The band a prediction of ``runtime`` on class ``cls`` gets (``cls`` None: a class the fit never met)."""
    c, basis = _stats(runtime, cls, pool, set(exclude))
    if c is None or not math.isfinite(k):
        return None
    centre, scale, n, d = c
    return Band(cls or ANY_CLASS, centre - k * scale, centre + k * scale, n, BAND_COVERAGE,
                f"{basis}: {n} points of {d} sources; centre {centre:+.3f}, scale {scale:.3f} (log), "
                f"k = {k:.2f} (conformal, leave one source out)")


def bands_for_profile(runtime: str, classes: set[str], pool: Sequence[Residual], k: float) -> dict[str, Band]:
    out = {}
    for cls in sorted(classes):
        b = band_for(runtime, cls, pool, k)
        if b is not None:
            out[cls] = b
    b = band_for(runtime, None, pool, k)
    if b is not None:
        if out:  # a class nothing was measured on is never surer than one that was: the hull of both
            lo, hi = min(b.lo, *(x.lo for x in out.values())), max(b.hi, *(x.hi for x in out.values()))
            if (lo, hi) != (b.lo, b.hi):
                b = Band(ANY_CLASS, lo, hi, b.n, b.coverage, b.basis + "; widened to cover the measured classes' bands")
        out[ANY_CLASS] = b
    return out


def nested_coverage(runtime: str, pools: dict[str, Sequence[Residual]], pool_name: str) -> tuple[float, int]:
    """Share of a runtime's held-out points inside the band built entirely without their source (centre, scale
    and k): (coverage, n)."""
    pool = pools[pool_name]
    inside = n = 0
    for g in sorted({r.group for r in pool if r.runtime == runtime}):
        k = conformal_k(pools, {g})
        for r in (r for r in pool if r.runtime == runtime and r.group == g):
            b = band_for(runtime, r.device_class if r.measured_class else None, pool, k, {g})
            if b is None:
                continue
            inside += b.lo <= r.value <= b.hi
            n += 1
    return (inside / n if n else float("nan")), n


# ---- summaries -----------------------------------------------------------------------------------------------

def error_summary(points: Sequence[ServingPoint], preds: dict[str, float]) -> dict[str, float]:
    """n, median / p90 / worst of |measured / predicted - 1| on the quantity as published."""
    e = [abs(p.error(preds[p.id])) for p in points if p.id in preds]
    if not e:
        return {"n": 0, "median": math.nan, "p90": math.nan, "worst": math.nan}
    return {"n": len(e), "median": float(statistics.median(e)), "p90": float(np.percentile(e, 90)),
            "worst": float(max(e))}


def by_document(points: Sequence[ServingPoint], preds: dict[str, float]) -> list[dict]:
    docs: dict[str, list[ServingPoint]] = defaultdict(list)
    for p in points:
        docs[p.document].append(p)
    return [{"document": d, **error_summary(ps, preds)} for d, ps in sorted(docs.items())]


# ---- the fit of one runtime ----------------------------------------------------------------------------------

def fit_runtime(runtime: str, points: Sequence[ServingPoint] | None = None,
                base: RuntimeProfile | None = None, max_nfev: int | None = None) -> FitResult:
    """Fit ``runtime``'s profile on its points (default: the shipped validation set's points of that runtime)."""
    base = base or get_profile(runtime)
    pts = [p for p in (load_points() if points is None else points) if p.runtime == runtime]
    if not pts:
        raise InputError(f"no serving points for runtime {runtime!r} to fit a profile on")
    base = _documented_only(base)

    def fit(train, b):
        return fit_points(train, b, max_nfev=max_nfev)

    values, informing = fit(pts, base)
    full = base.with_values(**values)
    in_sample = {p.id: p.predicted(full) for p in pts}
    held = leave_one_group_out(pts, base, fit)
    notes = []
    if len({p.group for p in pts}) == 1:
        notes.append("one source only: its held-out predictions are the unfitted profile's")
    return FitResult(profile=full, points=tuple(pts), fitted=values, informing=informing, in_sample=in_sample,
                     held_out=held, notes=tuple(notes))


def _documented_only(p: RuntimeProfile) -> RuntimeProfile:
    """The profile without its fitted numbers (what a refit starts from)."""
    keep = {k: v for k, v in p.params.items() if v.basis != "fitted"}
    return RuntimeProfile(name=p.name, title=p.title, description=p.description, params=MappingProxyType(keep),
                          bands=MappingProxyType({}), documents=p.documents, path=p.path)


def profile_from_fit(res: FitResult, pool: Sequence[Residual], k: float) -> RuntimeProfile:
    """The fitted profile with provenance: each fitted number names its points and their held-out error."""
    refs = {p.id: p.ref for p in res.points}
    held_err = {p.id: abs(p.error(res.held_out[p.id])) for p in res.points if p.id in res.held_out}
    params = {k: v for k, v in res.profile.params.items() if v.basis != "fitted"}
    for name, value in res.fitted.items():
        ids = res.informing.get(name, ())
        errs = [held_err[i] for i in ids if i in held_err]
        params[name] = Param(name, value, "fitted", tuple(refs[i] for i in ids),
                             float(statistics.median(errs)) if errs else None,
                             f"fitted on {len(ids)} points; prior {_space(name)[0]:g}")
    docs_meta = load_documents()
    used = sorted({p.document for p in res.points})
    documents = tuple(Document(k, str(docs_meta.get(k, {}).get("title", k)), str(docs_meta.get(k, {}).get("url", "")),
                               str(docs_meta.get(k, {}).get("date", ""))) for k in used
                      if str(docs_meta.get(k, {}).get("url", "")).startswith("http"))
    classes = {device_class(hwdb.get(q.device_id)) for q in res.points}
    bands = bands_for_profile(res.profile.name, classes, pool, k)
    held = tuple(by_document(res.points, res.held_out))
    p = res.profile
    own = tuple(r.record() for r in held_out_residuals(p.name, res.points, res.held_out))
    return RuntimeProfile(name=p.name, title=p.title, description=p.description, params=MappingProxyType(params),
                          bands=MappingProxyType(bands), documents=documents, held_out=held,
                          fitted=date.today().isoformat(), path=p.path, residuals=own)


def unfitted_profile(base: RuntimeProfile, bands: dict[str, Band]) -> RuntimeProfile:
    """A documented profile (nothing fitted) with the given bands."""
    b = _documented_only(base)
    return RuntimeProfile(name=b.name, title=b.title, description=b.description, params=b.params,
                          bands=MappingProxyType(bands), documents=b.documents, path=b.path)


# ---- writing -------------------------------------------------------------------------------------------------

def _q(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_toml(p: RuntimeProfile, header: str = "") -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"name = {_q(p.name)}", f"title = {_q(p.title)}", f"description = {_q(p.description)}"]
    if p.fitted:
        lines.append(f"fitted = {_q(p.fitted)}")
    for d in p.documents:
        lines += ["", "[[document]]", f"key = {_q(d.key)}", f"title = {_q(d.title)}", f"url = {_q(d.url)}",
                  f"date = {_q(d.date)}"]
    for name in sorted(p.params, key=lambda n: (list(PARAMS).index(n) if n in PARAMS else 99, n)):
        par = p.params[name]
        value = '"device"' if name == "launch_s" and math.isnan(par.value) else _q(float(par.value))
        lines += ["", f"[param.{name}]", f"value = {value}", f"basis = {_q(par.basis)}"]
        if par.held_out_median_err is not None:
            lines.append(f"held_out_median_err = {_q(float(par.held_out_median_err))}")
        if par.note:
            lines.append(f"note = {_q(par.note)}")
        lines.append("sources = [" + ", ".join(_q(s) for s in par.sources) + "]")
    for cls, b in p.bands.items():
        lines += ["", f'[band."{cls}"]', f"lo = {_q(b.lo)}", f"hi = {_q(b.hi)}", f"n = {b.n}",
                  f"coverage = {_q(b.coverage)}", f"basis = {_q(b.basis)}"]
    for h in p.held_out:
        lines += ["", "[[held_out]]"] + [f"{k} = {_q(v)}" for k, v in h.items()]
    if p.residuals:
        lines += ["", "# held-out residuals the bands come from: log(measured / predicted time), each predicted by a "
                  "fit without its source"]
    for r in p.residuals:
        lines += ["[[residual]]"] + [f"{k} = {_q(v) if not isinstance(v, bool) else str(v).lower()}"
                                     for k, v in r.items()]
    return "\n".join(lines) + "\n"


def write_profile(p: RuntimeProfile, path: Path | None = None, header: str = "") -> Path:
    """Write a profile file atomically after checking that the engine accepts it."""
    target = Path(path or RUNTIMES_DIR / f"{p.name}.toml")
    text = profile_toml(p, header)
    parse_profile(target, tomllib.loads(text))  # refuse to write what the loader would refuse
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, target)
    return target


# ---- all shipped profiles at once ----------------------------------------------------------------------------

UNFITTED = ("ideal", "sglang", "ours")  # documented profiles: bands only


@dataclass(frozen=True)
class Validation:
    """Everything `calibrate --runtime` reports: per-runtime fits, held-out tables and band coverage."""

    results: dict[str, FitResult]
    profiles: dict[str, RuntimeProfile]
    ideal_preds: dict[str, float]
    coverage: dict[str, tuple[float, int]]  # runtime -> (share inside the 80% band built without the point's source, n)
    points: tuple[ServingPoint, ...]
    pool: tuple = ()  # every fitted runtime's held-out residuals
    ideal_pool: tuple = ()  # the ideal runtime's residuals (all held out: nothing fitted)
    k: float = math.nan  # the conformal half-width multiplier of every band

    def table(self) -> list[dict]:
        """Held-out |measured / predicted - 1| by runtime and overall (fitted runtimes), and the ideal runtime."""
        rows = []
        held: dict[str, float] = {}
        pts: list[ServingPoint] = []
        for rt, res in sorted(self.results.items()):
            rows.append({"runtime": rt, "documents": len({p.document for p in res.points}),
                         **error_summary(res.points, res.held_out)})
            held.update(res.held_out)
            pts += res.points
        rows.append({"runtime": "all fitted", "documents": len({p.document for p in pts}), **error_summary(pts, held)})
        rows.append({"runtime": "ideal (unfitted)", "documents": len({p.document for p in self.points}),
                     **error_summary(self.points, self.ideal_preds)})
        return rows


def validate_all(points: Sequence[ServingPoint] | None = None, max_nfev: int | None = None) -> Validation:
    """Fit every runtime the points cover, leave each source out in turn, build every shipped profile's bands."""
    pts = list(load_points() if points is None else points)
    fitted = sorted({p.runtime for p in pts} - set(UNFITTED))
    results = {rt: fit_runtime(rt, pts, max_nfev=max_nfev) for rt in fitted if rt in _known_profiles()}
    pool = [r for rt, res in results.items() for r in held_out_residuals(rt, res.points, res.held_out)]
    # the ideal runtime fits nothing: every residual of its predictions is held out; a class is "measured" for it
    # when another source measured that class
    ideal_preds = {p.id: p.predicted("ideal") for p in pts}
    ideal_pool = held_out_residuals("ideal", pts, ideal_preds)
    pools = {"fitted": pool, "ideal": ideal_pool}
    k = conformal_k(pools)
    profiles = {rt: profile_from_fit(r, pool, k) for rt, r in results.items()}
    classes = {device_class(hwdb.get(p.device_id)) for p in pts}
    ideal = unfitted_profile(get_profile("ideal"), bands_for_profile("ideal", classes, ideal_pool, k))
    profiles["ideal"] = RuntimeProfile(name=ideal.name, title=ideal.title, description=ideal.description,
                                       params=ideal.params, bands=ideal.bands, documents=ideal.documents,
                                       held_out=tuple(by_document(pts, ideal_preds)), path=ideal.path,
                                       residuals=tuple(r.record() for r in ideal_pool))
    # runtimes nothing was fitted for run on the ideal numbers: the ideal runtime's band for unmeasured classes,
    # on every class
    for rt in UNFITTED[1:]:
        if rt in _known_profiles():
            b = band_for("ideal", None, ideal_pool, k)
            profiles[rt] = unfitted_profile(get_profile(rt), {ANY_CLASS: b} if b else {})
    coverage = {rt: nested_coverage(rt, pools, "fitted") for rt in results}
    coverage["ideal"] = nested_coverage("ideal", pools, "ideal")
    return Validation(results=results, profiles=profiles, ideal_preds=ideal_preds, coverage=coverage,
                      points=tuple(pts), pool=tuple(pool), ideal_pool=tuple(ideal_pool), k=k)


@dataclass(frozen=True)
class Refit:
    result: FitResult
    profile: RuntimeProfile
    coverage: tuple[float, int]
    k: float


def refit_runtime(runtime: str, extra: Sequence[ServingPoint] = (), max_nfev: int | None = None) -> Refit:
    """Refit one runtime on its published points plus ``extra`` (a user's imported serving rows); its bands use its
    new held-out residuals with the other shipped profiles' stored ones (``calibrate --runtime all`` refreshes all)."""
    if runtime in UNFITTED and not extra:
        raise InputError(f"runtime {runtime!r} has no published points to fit on: import serving rows "
                         "(`roofline import-serving FILE --runtime ... --save`) and pass their traces")
    pts = [p for p in load_points() if p.runtime == runtime] + [replace(p, runtime=runtime) for p in extra]
    res = fit_runtime(runtime, pts, max_nfev=max_nfev)
    others = [r for name in sorted(_known_profiles() - {runtime, *UNFITTED})
              for r in stored_residuals(get_profile(name))]
    pool = others + held_out_residuals(runtime, res.points, res.held_out)
    pools = {"fitted": pool, "ideal": stored_residuals(get_profile("ideal"))}
    k = conformal_k(pools)
    return Refit(result=res, profile=profile_from_fit(res, pool, k), coverage=nested_coverage(runtime, pools, "fitted"),
                 k=k)


def _known_profiles() -> set[str]:
    return {p.stem for p in RUNTIMES_DIR.glob("*.toml")} - {"validation"}


def profile_header(v: Validation, name: str) -> str:
    p = v.profiles[name]
    if name in v.results:
        r = v.results[name]
        s = error_summary(r.points, r.held_out)
        cov, n = v.coverage.get(name, (math.nan, 0))
        return (f"Runtime profile {name!r}, written by `roofline calibrate --runtime {name}` on {p.fitted} from "
                f"{len(r.points)} points of\n{len({q.document for q in r.points})} documents in "
                f"roofline/engine/runtimes/validation.toml. Held out a source at a time: median "
                f"{s['median']:.1%}, p90 {s['p90']:.1%},\nworst {s['worst']:.1%} (|measured / predicted - 1|); "
                f"{cov:.0%} of {n} held-out points inside the 80% band built without their source.\n"
                "Fitted numbers name their points; documented ones their source; assumed ones say why.")
    return (f"Runtime profile {name!r}: documented numbers only (nothing fitted); bands written by\n"
            "`roofline calibrate --runtime all` from the validation set's residuals.")
