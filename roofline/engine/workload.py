"""Serving workloads for the simulator: arrival processes and length distributions, as parsed specs.

``--arrivals poisson:QPS | gamma:QPS,CV | static | trace:FILE`` and ``--prompt-dist`` / ``--output-dist``
``fixed:N | uniform:LO,HI | lognormal:MEDIAN,SIGMA[,MAX] | chat``. A trace file is CSV (or JSON lines) with
columns ``arrival_s, prompt_tokens, output_tokens``. Everything is drawn from one numpy Generator seeded by the
caller, so a seed fixes the workload.

``chat`` (assumed, ShareGPT-like conversation lengths as serving benchmarks draw them): prompts lognormal with
median 600 and sigma 0.9 (mean ~900 tokens), capped at 4096; outputs lognormal median 250, sigma 0.7
(mean ~320), capped at 1024.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roofline import validate
from roofline.errors import InputError

CHAT_PROMPT = ("lognormal", 600.0, 0.9, 4096.0)
CHAT_OUTPUT = ("lognormal", 250.0, 0.7, 1024.0)


@dataclass(frozen=True)
class Workload:
    """Requests as arrays (one entry a request, sorted by arrival). Units: s, tokens."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    arrivals: str  # the spec it was drawn from
    offered_qps: float  # requests / s the arrival process offers (NaN for static)

    @property
    def n(self) -> int:
        return len(self.arrival_s)


def _nums(what: str, spec: str, body: str, count: tuple[int, ...]) -> list[float]:
    try:
        vals = [float(x) for x in body.split(",")] if body else []
    except ValueError:
        raise InputError(f"cannot parse {what} {spec!r}: numbers expected after ':'") from None
    if len(vals) not in count:
        raise InputError(f"cannot parse {what} {spec!r}: expected {' or '.join(map(str, count))} numbers")
    for v in vals:
        if not math.isfinite(v) or v <= 0:
            raise InputError(f"{what} {spec!r}: every number must be > 0, got {v:g}")
    return vals


def parse_lengths(what: str, spec: str) -> tuple:
    """'fixed:N' | 'uniform:LO,HI' | 'lognormal:MEDIAN,SIGMA[,MAX]' | 'chat' -> a tuple the sampler reads."""
    s = str(spec).strip().lower()
    if s == "chat":
        return CHAT_PROMPT if what == "--prompt-dist" else CHAT_OUTPUT
    kind, _, body = s.partition(":")
    if kind == "fixed":
        (n,) = _nums(what, spec, body, (1,))
        return ("fixed", n)
    if kind == "uniform":
        lo, hi = _nums(what, spec, body, (2,))
        if lo > hi:
            raise InputError(f"{what} {spec!r}: low {lo:g} > high {hi:g}")
        return ("uniform", lo, hi)
    if kind == "lognormal":
        v = _nums(what, spec, body, (2, 3))
        return ("lognormal", v[0], v[1], v[2] if len(v) == 3 else math.inf)
    raise InputError(f"cannot parse {what} {spec!r} (use fixed:N, uniform:LO,HI, lognormal:MEDIAN,SIGMA[,MAX] or chat)")


def sample_lengths(dist: tuple, n: int, rng: np.random.Generator) -> np.ndarray:
    kind = dist[0]
    if kind == "fixed":
        x = np.full(n, dist[1])
    elif kind == "uniform":
        x = rng.uniform(dist[1], dist[2] + 1.0, n)
    else:
        x = np.minimum(rng.lognormal(math.log(dist[1]), dist[2], n), dist[3])
    return np.maximum(np.floor(x), 1.0).astype(np.int64)


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CSV / JSON-lines arrival trace -> (arrival_s, prompt_tokens, output_tokens); InputError names the line."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InputError(f"cannot read arrival trace {p}: {e.strerror or e}") from None
    rows: list[tuple[float, float, float]] = []
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"arrival trace {p.name} holds no requests")
    cols = ("arrival_s", "prompt_tokens", "output_tokens")
    if lines[0].lstrip().startswith("{"):
        for i, ln in enumerate(lines, 1):
            try:
                d = json.loads(ln)
                rows.append(tuple(float(d[c]) for c in cols))
            except (ValueError, KeyError, TypeError):
                raise InputError(f"arrival trace {p.name} line {i}: needs JSON with {', '.join(cols)}") from None
    else:
        head = [h.strip() for h in re.split(r"[,\t]", lines[0])]
        if [h for h in head if h in cols] != list(cols) or len(head) != 3:
            raise InputError(f"arrival trace {p.name}: header must be {','.join(cols)}, got {lines[0].strip()!r}")
        for i, ln in enumerate(lines[1:], 2):
            parts = [x.strip() for x in re.split(r"[,\t]", ln)]
            try:
                rows.append(tuple(float(x) for x in parts) if len(parts) == 3 else ())  # type: ignore[arg-type]
                if len(rows[-1]) != 3:
                    raise ValueError
            except ValueError:
                raise InputError(f"arrival trace {p.name} line {i}: expected 3 numbers, got {ln.strip()!r}") from None
    a = np.array(rows, dtype=float)
    if not np.isfinite(a).all() or (a[:, 0] < 0).any() or (a[:, 1:] < 1).any():
        raise InputError(f"arrival trace {p.name}: arrivals must be >= 0 s and token counts >= 1")
    order = np.argsort(a[:, 0], kind="stable")
    a = a[order]
    return a[:, 0], np.floor(a[:, 1]).astype(np.int64), np.floor(a[:, 2]).astype(np.int64)


def make_workload(arrivals: str, duration_s: float, prompt_dist: str = "chat", output_dist: str = "chat",
                  seed: int = 0, static_requests: int | None = None) -> Workload:
    """Draw the requests one simulation serves. ``static`` puts ``static_requests`` requests at t = 0."""
    rng = np.random.default_rng(seed)
    spec = str(arrivals).strip()
    kind, _, body = spec.partition(":")
    kind = kind.lower()
    if kind == "trace":
        t, pr, out = read_trace(body)
        keep = t <= duration_s if duration_s else np.ones(len(t), bool)
        span = max(float(t[-1]), 1e-9)
        return Workload(t[keep], pr[keep], out[keep], spec, len(t) / span)
    pdist, odist = parse_lengths("--prompt-dist", prompt_dist), parse_lengths("--output-dist", output_dist)
    if kind == "static":
        n = validate.positive("static requests", static_requests or 1, integer=True)
        return Workload(np.zeros(n), sample_lengths(pdist, n, rng), sample_lengths(odist, n, rng), spec, math.nan)
    validate.positive("--duration", duration_s)
    if kind == "poisson":
        (qps,) = _nums("--arrivals", spec, body, (1,))
        gaps_shape, cv = 1.0, 1.0
    elif kind == "gamma":
        qps, cv = _nums("--arrivals", spec, body, (2,))
        gaps_shape = 1.0 / (cv * cv)
    else:
        raise InputError(f"cannot parse --arrivals {spec!r} (use poisson:QPS, gamma:QPS,CV, static or trace:FILE)")
    expected = qps * duration_s
    n_draw = int(expected + 6.0 * math.sqrt(expected) + 16)
    gaps = rng.gamma(gaps_shape, 1.0 / (qps * gaps_shape), n_draw)  # mean 1/qps, CV 1/sqrt(shape)
    t = np.cumsum(gaps)
    t = t[t < duration_s]
    n = len(t)
    return Workload(t, sample_lengths(pdist, n, rng), sample_lengths(odist, n, rng), spec, qps)
