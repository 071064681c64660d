"""Vectorized sweeps: devices x models x scenarios -> one DataFrame, with numpy over the grid.

Scenarios that share everything but batch / prompt / generated tokens form a group; for each model and
group the op graph (``roofline.engine.transformer.pass_terms``) is evaluated once on arrays of shape
(devices, scenarios), priced with the same roofs as ``predict`` (``roofline.engine.predict.price``) and
summed in closed form for whole generations. Results equal ``predict()`` point by point (tested).

Columns: device_id, model_id, the Scenario fields, time_s, ttft_s, tpot_s, tokens_per_s,
tokens_per_s_per_request, tokens_per_s_per_device, weight_bytes, kv_bytes, activation_bytes, memory_bytes,
fits, fit_reason, energy_j, j_per_token, avg_power_w, usd_per_mtok, accuracy_pct, ipw, ipj, bound, kind.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import pandas as pd

import hwdb
from hwdb.schema import Device
from roofline.engine import transformer as tf
from roofline.engine.catalog import ModelSpec, get_model, load_models
from roofline.engine.predict import predict, price_usd_per_h
from roofline.engine.pricing import Roofs, decode_sum, device_roofs, term_cost
from roofline.engine.runtime import RuntimeProfile, get_profile
from roofline.engine.scenario import Scenario
from roofline.errors import InputError
from roofline.provenance import MODELED

_BOUNDS = ("compute", "memory", "comm", "overhead")
_SIZE_FIELDS = ("batch", "prompt_tokens", "gen_tokens")
SCENARIO_COLUMNS = tuple(f.name for f in fields(Scenario))


def _bound_index(parts: list[Any], overhead: Any) -> Any:
    """estimate()'s bound as an index into _BOUNDS: the largest of compute/memory/comm, unless overhead exceeds it."""
    stack = np.stack(np.broadcast_arrays(*parts))
    idx = np.argmax(stack, axis=0)
    top = np.max(stack, axis=0)
    return np.where(overhead > top, 3, idx)


class _Acc:
    """Accumulates time, energy and time-per-bound over priced op rows."""

    def __init__(self, shape: tuple[int, ...]):
        self.time = np.zeros(shape)
        self.energy = np.zeros(shape)
        self.by_bound = np.zeros((4,) + shape)

    def add(self, time_s: Any, energy_j: Any, bound_idx: Any) -> None:
        time_s = np.broadcast_to(time_s, self.time.shape)
        self.time = self.time + time_s
        self.energy = self.energy + energy_j
        for b in range(4):
            self.by_bound[b] = self.by_bound[b] + np.where(bound_idx == b, time_s, 0.0)


def _price_pass(terms: list[tf.Term], roofs: Roofs, shape: tuple[int, ...]) -> _Acc:
    acc = _Acc(shape)
    for t in terms:
        c = term_cost(t, roofs, 1)
        acc.add(c["time_s"], c["energy_j"],
                _bound_index([c["compute_time_s"], c["memory_time_s"], c["comm_time_s"]], c["overhead_s"]))
    return acc


def _price_decode_sum(first: list[tf.Term], last: list[tf.Term], n: Any, roofs: Roofs,
                      shape: tuple[int, ...]) -> _Acc:
    acc = _Acc(shape)
    for f, la in zip(first, last, strict=True):
        s = decode_sum(f, la, n, roofs, 1)
        b = _bound_index([s["compute_time_s"], s["memory_time_s"], s["comm_time_s"]], s["overhead_s"])
        acc.add(s["time_s"], s["energy_j"], b)
    return acc


def _add_overhead(acc: _Acc, seconds: Any, idle_w: np.ndarray) -> None:
    """A runtime's host-side cost (scheduler step, request admission): overhead-bound time at idle power."""
    t = np.broadcast_to(np.asarray(seconds, dtype=float), acc.time.shape)
    acc.add(t, idle_w[:, None] * t, np.full(acc.time.shape, 3))


def _group_key(sc: Scenario) -> tuple:
    return tuple(v for k, v in asdict(sc).items() if k not in _SIZE_FIELDS)


def _evaluate(m: ModelSpec, scs: list[Scenario], devices: list[Device], roofs: Roofs,
              rt: RuntimeProfile) -> dict[str, np.ndarray]:
    """All columns for one model and one group of scenarios, shape (devices, scenarios) flattened."""
    sc0 = scs[0]
    nd, ns = len(devices), len(scs)
    shape = (nd, ns)
    B = np.array([s.batch for s in scs], dtype=float)
    P = np.array([s.prompt_tokens for s in scs], dtype=float)
    G = np.array([s.gen_tokens for s in scs], dtype=float)
    phase = sc0.phase
    n_steps = G - 1.0
    roof = roofs["other"]
    budget = rt.max_batched_tokens
    K = np.maximum(np.ceil(B * P / budget), 1.0) if budget else np.ones(ns)  # prefill chunks
    step_s, request_s = rt.param("step_s"), rt.param("request_s")

    def passes(sparse_hw: bool) -> tuple[_Acc, _Acc, _Acc | None]:
        pre = _price_pass(tf.pass_terms(m, sc0, B, P, P, "prefill", sparse_hw, K), roofs, shape)
        step = _price_pass(tf.pass_terms(m, sc0, B, 1.0, P + 1, "decode", sparse_hw), roofs, shape)
        if step_s > 0:
            _add_overhead(pre, step_s * K, roof.idle_w)
            _add_overhead(step, step_s, roof.idle_w)
        if request_s > 0:
            _add_overhead(pre, request_s, roof.idle_w)
        gen = None
        if phase == "generate":
            first = tf.pass_terms(m, sc0, B, 1.0, P + 1, "decode", sparse_hw)
            last = tf.pass_terms(m, sc0, B, 1.0, P + G - 1, "decode", sparse_hw)
            gen = _price_decode_sum(first, last, n_steps, roofs, shape)
            if step_s > 0:
                _add_overhead(gen, step_s * n_steps, roof.idle_w)
        return pre, step, gen

    pre, step, gen = passes(True)
    if sc0.weight_sparsity == "2:4" and not roof.sparse_2_4.all():  # devices without sparse tensor cores
        pre2, step2, gen2 = passes(False)
        mask = roof.sparse_2_4[:, None]
        for a, b in ((pre, pre2), (step, step2), (gen, gen2)):
            if a is not None:
                a.time = np.where(mask, a.time, b.time)
                a.energy = np.where(mask, a.energy, b.energy)
                a.by_bound = np.where(mask[None], a.by_bound, b.by_bound)

    tp = sc0.tp
    has_dec = n_steps > 0
    if phase == "prefill":
        time_s, energy, bb, tokens_out, tpot = pre.time, pre.energy, pre.by_bound, P, step.time
    elif phase == "decode":
        time_s, energy, bb, tokens_out, tpot = step.time, step.energy, step.by_bound, np.ones(ns), step.time
    else:
        time_s = pre.time + gen.time
        energy = pre.energy + gen.energy
        bb = pre.by_bound + np.where(has_dec, gen.by_bound, 0.0)
        tokens_out = G
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = np.where(has_dec, gen.time / np.maximum(n_steps, 1.0), step.time)
    energy = energy * tp
    tokens = B * tokens_out
    with np.errstate(invalid="ignore", divide="ignore"):
        tok_s = tokens / time_s
        power = energy / time_s

    max_ctx = {"prefill": P, "decode": P + 1, "generate": P + np.maximum(G - 1, 1)}[phase]
    w = tf.weight_bytes(m, sc0)
    kv = tf.kv_cache_bytes(m, sc0, B, max_ctx) * np.ones(ns)
    act_tokens = np.ones(ns) if phase == "decode" else P
    act = tf.activation_bytes(m, sc0, B, act_tokens, max_ctx if phase == "decode" else P,
                              1.0 if phase == "decode" else K) * np.ones(ns)
    mem = w + kv + act
    usable = rt.param("usable_memory_fraction") * np.array([d.memory_bytes for d in devices])
    priced = np.isfinite(time_s)
    fits_mem = mem[None, :] <= usable[:, None]
    fits = fits_mem & priced
    reason = np.full(shape, "", dtype=object)
    if not fits.all():
        bad_mem = ~fits_mem
        for i, j in zip(*np.nonzero(bad_mem), strict=True):
            reason[i, j] = f"needs {mem[j] / 1e9:.1f} GB a device > {usable[i] / 1e9:.1f} GB usable"
        for i, j in zip(*np.nonzero(~priced), strict=True):
            no_ic = tp > 1 and not np.isfinite(roof.ic_bw[i])
            reason[i, j] = ("no interconnect bandwidth for tensor parallelism" if no_ic
                            else "no compute ceiling for a required dtype")

    acc = m.accuracy_for()
    acc_frac = acc.fraction if acc else np.nan
    usd_h = np.array([price_usd_per_h(d, tp)[0] or np.nan for d in devices])
    with np.errstate(invalid="ignore", divide="ignore"):
        usd_mtok = usd_h[:, None] / 3600.0 / tok_s * 1e6
        ipw = acc_frac / power
        ipj = acc_frac / (energy / B)
    bound_idx = np.argmax(bb, axis=0)
    bound = np.where(priced, np.array(_BOUNDS, dtype=object)[bound_idx], "")

    flat = lambda x: np.broadcast_to(x, shape).reshape(-1)  # noqa: E731
    cols: dict[str, np.ndarray] = {
        "device_id": np.repeat(np.array([d.id for d in devices], dtype=object), ns),
        "model_id": np.full(nd * ns, m.id, dtype=object),
    }
    for k in SCENARIO_COLUMNS:
        cols[k] = np.tile(np.array([getattr(s, k) for s in scs]), nd)
    cols.update({
        "time_s": flat(time_s), "ttft_s": flat(pre.time), "tpot_s": flat(tpot), "tokens_per_s": flat(tok_s),
        "tokens_per_s_per_request": flat(tok_s / B), "tokens_per_s_per_device": flat(tok_s / tp),
        "weight_bytes": flat(np.float64(w)), "kv_bytes": flat(kv), "activation_bytes": flat(act),
        "memory_bytes": flat(mem), "fits": flat(fits), "fit_reason": flat(reason), "energy_j": flat(energy),
        "j_per_token": flat(energy / tokens), "avg_power_w": flat(power), "usd_per_mtok": flat(usd_mtok),
        "accuracy_pct": flat(np.float64(acc.value_pct if acc else np.nan)), "ipw": flat(ipw), "ipj": flat(ipj),
        "bound": flat(bound),
    })
    return cols


def _plain(sc: Scenario) -> bool:
    """Scenarios the vectorized grid prices (one TP group, no serving features); others go through predict()."""
    return (sc.pp == 1 and sc.ep == 1 and sc.nodes == 1 and not sc.spec_tokens and not sc.prefix_hit
            and sc.offload == "none" and not sc.kv_block)


def _predicted(m: ModelSpec, scs: list[Scenario], devices: list[Device], rt: RuntimeProfile,
               calibrated: bool) -> dict[str, np.ndarray]:
    """The sweep's columns for scenarios the grid does not vectorize, one predict() a point (same numbers)."""
    rows = []
    for d in devices:
        for s in scs:
            base = {"device_id": d.id, "model_id": m.id, **{k: getattr(s, k) for k in SCENARIO_COLUMNS}}
            try:
                p = predict(m, d, s, calibrated=calibrated, runtime=rt)
            except InputError as e:  # a layout this device's system cannot hold
                rows.append({**base, "fits": False, "fit_reason": str(e), "bound": ""})
                continue
            rows.append({**base, "time_s": p.time_s, "ttft_s": p.ttft_s, "tpot_s": p.tpot_s,
                         "tokens_per_s": p.tokens_per_s, "tokens_per_s_per_request": p.tokens_per_s_per_request,
                         "tokens_per_s_per_device": p.tokens_per_s_per_device, "weight_bytes": p.weight_bytes,
                         "kv_bytes": p.kv_bytes, "activation_bytes": p.activation_bytes,
                         "memory_bytes": p.memory_bytes, "fits": p.fits, "fit_reason": p.fit_reason,
                         "energy_j": p.energy_j, "j_per_token": p.j_per_token, "avg_power_w": p.avg_power_w,
                         "usd_per_mtok": p.usd_per_mtok if p.usd_per_mtok is not None else np.nan,
                         "accuracy_pct": p.accuracy.value_pct if p.accuracy else np.nan,
                         "ipw": p.ipw if p.ipw is not None else np.nan, "ipj": p.ipj if p.ipj is not None else np.nan,
                         "bound": p.bound})
    df = pd.DataFrame(rows)
    cols = ["device_id", "model_id", *SCENARIO_COLUMNS, "time_s", "ttft_s", "tpot_s", "tokens_per_s",
            "tokens_per_s_per_request", "tokens_per_s_per_device", "weight_bytes", "kv_bytes", "activation_bytes",
            "memory_bytes", "fits", "fit_reason", "energy_j", "j_per_token", "avg_power_w", "usd_per_mtok",
            "accuracy_pct", "ipw", "ipj", "bound"]
    df = df.reindex(columns=cols)
    return {c: df[c].to_numpy() for c in cols}


def sweep(devices: list[Device] | list[str] | None = None, models: list[ModelSpec] | list[str] | None = None,
          scenarios: list[Scenario] | None = None, calibrated: bool = True,
          runtime: RuntimeProfile | str | None = None) -> pd.DataFrame:
    """Evaluate every device x model x scenario (defaults: all devices, all models, one default Scenario).

    Invalid combinations (TP not dividing a model's heads, group not dividing hidden) raise InputError,
    as predict() does; devices without a needed ceiling or interconnect get NaN times and fits=False.
    """

    devs = list(hwdb.load().values()) if devices is None else [hwdb.get(d) if isinstance(d, str) else d for d in devices]
    mods = list(load_models().values()) if models is None else [get_model(m) for m in models]
    scs = [Scenario()] if scenarios is None else list(scenarios)
    rt = get_profile(runtime)
    roofs = device_roofs(devs, calibrated, rt)
    groups: dict[tuple, list[Scenario]] = defaultdict(list)
    for s in scs:
        groups[_group_key(s)].append(s)
    parts: list[dict[str, np.ndarray]] = []
    for m in mods:
        for s in scs:
            s.validate(m)
        for g in groups.values():
            if _plain(g[0]):
                parts.append(_evaluate(m, g, devs, roofs, rt))
            else:  # pipelines, expert parallelism, speculation, prefix caching, offload: predict's own path
                parts.append(_predicted(m, g, devs, rt, calibrated))
    if not parts:
        return pd.DataFrame()
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    df = pd.DataFrame(out)
    df["kind"] = MODELED
    df["runtime"] = rt.name
    return df
