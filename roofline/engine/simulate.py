"""Serving simulator: iteration-level continuous batching over the engine's own step times.

One iteration (a forward pass of the replica) costs what ``roofline.engine.pricing`` charges for its op rows
(``transformer.pass_terms`` at the iteration's tokens), under the same runtime profile and links as
``predict``: ``roofline.engine.step_model.StepModel`` extracts that cost once. So a simulated static batch
reproduces ``predict`` (tested within 1%).

Between events (an arrival, a completion, a full KV cache) the running batch is fixed and a decode step's
cost grows linearly with the cached positions: a run of steps is summed in closed form, not step by step.

Schedulers: ``static`` (batches of up to ``max_batch`` requests: prefill together, decode until all finish),
``vllm`` (prefill-first continuous batching: waiting prompts, whole, up to the token budget, pause decodes
for one iteration), ``sarathi`` (chunked prefill: every iteration runs all decodes plus prefill chunks up to
``max_batched_tokens``). Admission needs KV blocks for the prompt; a full cache preempts the newest request
(recomputed later, as vLLM does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

import hwdb
from hwdb.schema import Device
from roofline.engine import transformer as tf
from roofline.engine.catalog import ModelSpec, get_model
from roofline.engine.cost import DEFAULT_BASIS, hourly_cost
from roofline.engine.predict import draft_model, expected_tokens_per_step, predict
from roofline.engine.runtime import RuntimeProfile, get_profile
from roofline.engine.scenario import Scenario
from roofline.engine.step_model import StepModel
from roofline.engine.workload import Workload
from roofline.errors import InputError

SCHEDULERS = ("static", "vllm", "sarathi")
DEFAULT_BLOCK = 16  # vLLM's default KV block (tokens)
DEFAULT_MAX_SEQS = 256  # vLLM's default max_num_seqs
SARATHI_BUDGET = 512  # Sarathi-Serve's chunk size when the runtime states no budget
TIMELINE_BINS = 240


def _packed_chunks(prompts: list[float], k: int) -> list[list[tuple[float, float]]]:
    """A static batch's prefill in ``k`` passes of equal token counts, filled as chunked-prefill engines fill them:
    whole prompts in order, a prompt split across two passes only where a pass is full (its later part attends to
    the part cached before). Returns, a pass each, (tokens, cached before) of every sequence in it."""
    cap = sum(prompts) / k
    out: list[list[tuple[float, float]]] = [[] for _ in range(k)]
    j, room = 0, cap
    for n in prompts:
        done = 0.0
        while n - done > 1e-9:
            if room <= 1e-9 and j < k - 1:
                j, room = j + 1, cap
            take = n - done if j == k - 1 else min(n - done, room)
            out[j].append((take, done))
            done += take
            room -= take
    return out


@dataclass(frozen=True)
class SimConfig:
    model: str
    device: str
    scenario: Scenario  # quantization and layout (tp, pp, ep, nodes); batch / lengths come from the workload
    scheduler: str = "vllm"
    max_batched_tokens: int | None = None  # None: the runtime's budget (sarathi: SARATHI_BUDGET if it has none)
    max_batch: int = DEFAULT_MAX_SEQS  # max concurrent sequences (static: the batch size)
    kv_block: int = DEFAULT_BLOCK
    replicas: int = 1  # data-parallel copies; requests are dealt round-robin
    runtime: str | None = None
    system: str | None = None
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    seed: int = 0
    calibrated: bool = True
    cost_basis: str = DEFAULT_BASIS  # cloud | owned (roofline.engine.cost): $ of every device of every replica


@dataclass
class SimResult:
    """A serving run: one row a request, aggregates, a timeline; inputs recorded."""

    requests: pd.DataFrame  # id, replica, arrival_s, prompt_tokens, output_tokens, start_s, ttft_s, tpot_s, e2e_s, finish_s, preemptions, completed, met_slo
    summary: dict[str, Any]
    timeline: pd.DataFrame  # t_s, busy_frac, power_w, running, waiting, kv_used_frac
    config: dict[str, Any] = field(default_factory=dict)


def _percentiles(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"p50": math.nan, "p90": math.nan, "p99": math.nan, "mean": math.nan}
    p = np.percentile(x, [50, 90, 99])
    return {"p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2]), "mean": float(np.mean(x))}


class _Replica:
    """The event loop of one replica."""

    def __init__(self, cfg: SimConfig, sm: StepModel, kv_capacity_tokens: float, budget: int, ndev: int):
        self.cfg, self.sm, self.cap, self.budget, self.ndev = cfg, sm, kv_capacity_tokens, budget, ndev
        self.E = expected_tokens_per_step(sm.k_spec, cfg.scenario.spec_acceptance)
        self.win = float(sm.m.sliding_window) if sm.m.window_layers else 0.0
        self.pp = cfg.scenario.pp

    def pcost(self, n_dec: float, pos: float, posw: float, chunks: list, rows: float) -> tuple[float, float]:
        """Wall time and replica energy of an iteration (pipelines: micro-batches of the batch, bubbles idle)."""
        pp = self.pp
        if pp == 1:
            t, e = self.sm.cost(n_dec, pos, posw, chunks, rows)
            return t, e * self.ndev
        m = max(1, min(pp, int(n_dec) + len(chunks)))
        t, e = self.sm.cost(n_dec / m, pos / m, posw / m, [(c / m, p0) for c, p0 in chunks], rows / m)
        step = self.sm.step_s  # the runtime's per-iteration host cost is paid once, not a micro-batch
        t0, e0 = t - step, e - self.sm.idle_w * step
        wall = (pp * t0 if n_dec else (m + pp - 1) * t0) + step
        return wall, self.ndev * (m * e0 + self.sm.idle_w * (wall - m * t0))

    def run(self, arr: np.ndarray, prompt: np.ndarray, out: np.ndarray, horizon: float) -> dict[str, np.ndarray]:
        cfg, E, blk = self.cfg, self.E, float(self.cfg.kv_block)
        n = len(arr)
        first = np.full(n, math.nan)
        finish = np.full(n, math.nan)
        start = np.full(n, math.nan)
        preempt = np.zeros(n, dtype=np.int64)
        need_prompt = prompt.astype(float).copy()  # tokens the next prefill must compute (grows on preemption)
        # running set (arrays, one entry a running request)
        ids = np.zeros(0, dtype=np.int64)
        ctx = np.zeros(0)
        rem = np.zeros(0)
        waiting: list[int] = []  # FIFO of arrived, not running (preempted ones go first)
        partial: dict[int, float] = {}  # sarathi: prompt tokens already prefilled
        nxt = 0  # next arrival to enqueue
        t = 0.0
        energy = 0.0
        busy = 0.0
        area_sys = 0.0  # integral of requests in the system (Little's law)
        tl: list[tuple[float, float, float, float, int, int, float]] = []
        idle_w = self.sm.idle_w * self.ndev
        max_seqs = cfg.max_batch
        static = cfg.scheduler == "static"
        sarathi = cfg.scheduler == "sarathi"

        def blocks(c: np.ndarray) -> float:
            return float(np.ceil(c / blk).sum()) * blk

        def advance(dt: float, de: float, running: int, work: bool) -> None:
            nonlocal t, energy, busy, area_sys
            tl.append((t, dt, de, 1.0 if work else 0.0, running, len(waiting), 0.0))
            area_sys += dt * (running + len(waiting) + len(partial) * 0)
            t += dt
            energy += de
            if work:
                busy += dt

        guard = 0
        while True:
            guard += 1
            if guard > 50 * n + 10_000:
                raise RuntimeError("simulator did not converge")  # a bug, not a user error
            while nxt < n and arr[nxt] <= t:
                waiting.append(nxt)
                nxt += 1
            if not len(ids) and not waiting:
                if nxt >= n or t >= horizon:
                    break
                gap = arr[nxt] - t
                advance(gap, idle_w * gap, 0, False)
                continue
            # ---- a static batch: up to max_batch waiting requests prefill together (in k passes of equal token
            # counts under the budget, packed with whole prompts as chunked prefill packs them; predict's k passes),
            # then decode in lockstep until the last finishes
            if static and waiting and not len(ids):
                batch = waiting[:max_seqs]
                del waiting[:len(batch)]
                total = float(need_prompt[batch].sum())
                k = max(1, math.ceil(total / self.budget)) if self.budget else 1
                for j, chunks in enumerate(_packed_chunks([float(need_prompt[r]) for r in batch], k)):
                    dt, de = self.pcost(0.0, 0.0, 0.0, chunks, len(batch) if j == k - 1 else 0)
                    if j == 0:
                        dt += self.sm.request_s
                        de += idle_w * self.sm.request_s
                    advance(dt, de, 0, True)
                self._join(batch, t, first, start, arr, need_prompt, prompt, out, ids_ctx_rem := [ids, ctx, rem])
                ids, ctx, rem = ids_ctx_rem
                continue
            # ---- admission: prefill work this iteration
            chunks: list[tuple[int, int]] = []
            admitted: list[int] = []
            if waiting and not static:
                used = blocks(ctx) if len(ids) else 0.0
                tok_budget = self.budget - (len(ids) * self.sm.tokens_per_seq if sarathi else 0)
                while waiting and len(ids) + len(admitted) < max_seqs and tok_budget > 0:
                    r = waiting[0]
                    done = partial.get(r, 0.0)
                    todo = need_prompt[r] - done
                    full_need = math.ceil((need_prompt[r] + 1) / blk) * blk
                    if used + full_need > self.cap:
                        break
                    if sarathi:
                        c = min(todo, tok_budget)
                    else:
                        if todo > tok_budget and (admitted or len(ids)):
                            break
                        c = todo
                    chunks.append((int(c), int(done)))
                    tok_budget -= c
                    if done + c >= need_prompt[r]:
                        waiting.pop(0)
                        partial.pop(r, None)
                        admitted.append(r)
                        used += full_need
                    else:
                        partial[r] = done + c
                        break
            if chunks and (not sarathi):
                # vllm / static: a prefill-only iteration (decodes pause)
                rows = len(admitted)
                dt, de = self.pcost(0.0, 0.0, 0.0, chunks, rows)
                dt += self.sm.request_s
                de += idle_w * self.sm.request_s
                advance(dt, de, len(ids), True)
                self._join(admitted, t, first, start, arr, need_prompt, prompt, out, ids_ctx_rem := [ids, ctx, rem])
                ids, ctx, rem = ids_ctx_rem
                continue
            if sarathi and chunks:
                nd = len(ids)
                pos = float((ctx + self.sm.tokens_per_seq).sum()) if nd else 0.0
                posw = float(np.minimum(ctx + self.sm.tokens_per_seq, self.win).sum()) if (nd and self.win) else pos
                dt, de = self.pcost(nd, pos, posw, chunks, nd + len(admitted))
                if admitted:
                    dt += self.sm.request_s
                advance(dt, de, nd, True)
                if nd:
                    ctx = ctx + E
                    rem = rem - E
                self._join(admitted, t, first, start, arr, need_prompt, prompt, out, ids_ctx_rem := [ids, ctx, rem])
                ids, ctx, rem = ids_ctx_rem
                ids, ctx, rem = self._retire(ids, ctx, rem, t, finish)
                continue
            if not len(ids):  # waiting requests that cannot be admitted and nothing running: KV too small
                r = waiting.pop(0)
                finish[r] = math.nan
                continue
            # ---- a run of decode steps until the next event
            nd = len(ids)
            steps_done = float(np.min(rem))  # steps until the first completion (E tokens a step)
            steps = max(1, int(math.ceil(steps_done / E - 1e-9)))
            free = self.cap - blocks(ctx)
            steps_cap = int(free // (nd * E)) if free > 0 else 0
            preempt_now = steps_cap < 1
            steps = min(steps, max(steps_cap, 1))
            tk = self.sm.tokens_per_seq
            pos0 = float((ctx + tk).sum())
            posw0 = float(np.minimum(ctx + tk, self.win).sum()) if self.win else pos0
            c0, e0 = self.pcost(nd, pos0, posw0, [], nd)
            if steps > 1:
                pos1 = pos0 + nd * E * (steps - 1)
                posw1 = float(np.minimum(ctx + tk + E * (steps - 1), self.win).sum()) if self.win else pos1
                c1, e1 = self.pcost(nd, pos1, posw1, [], nd)
            else:
                c1, e1 = c0, e0
            slope = (c1 - c0) / max(steps - 1, 1)
            arrival_can_join = (not static) and nxt < n and len(ids) < max_seqs
            if arrival_can_join and waiting == []:
                # stop at the first step boundary at or after the next arrival: cumulative time is quadratic
                gap = arr[nxt] - t
                # smallest s with s c0 + slope s (s-1) / 2 >= gap
                if slope > 1e-18:
                    a_, b_ = slope / 2.0, c0 - slope / 2.0
                    s = math.ceil((-b_ + math.sqrt(b_ * b_ + 4 * a_ * gap)) / (2 * a_) - 1e-9)
                else:
                    s = math.ceil(gap / c0 - 1e-9)
                steps = max(1, min(steps, s))
            if t >= horizon and not static:
                steps = max(1, steps)
            dt = steps * c0 + slope * steps * (steps - 1) / 2.0
            de_slope = (e1 - e0) / max(int(math.ceil(steps_done / E - 1e-9)) - 1, 1) if steps > 1 else 0.0
            de = steps * e0 + de_slope * steps * (steps - 1) / 2.0
            advance(dt, de, nd, True)
            ctx = ctx + E * steps
            rem = rem - E * steps
            ids, ctx, rem = self._retire(ids, ctx, rem, t, finish)
            if preempt_now and len(ids) and blocks(ctx) > self.cap:
                j = len(ids) - 1  # the newest request is recomputed later
                r = int(ids[j])
                preempt[r] += 1
                need_prompt[r] = prompt[r] + (out[r] - rem[j])
                waiting.insert(0, r)
                ids, ctx, rem = ids[:j], ctx[:j], rem[:j]
            if t > horizon * 4 + 3600 and nxt >= n:
                break  # a saturated run past the horizon: the rest never completes within the report
        self.energy, self.busy, self.t_end, self.area_sys = energy, busy, t, area_sys
        self.tl = tl
        return {"first": first, "finish": finish, "start": start, "preempt": preempt}

    @staticmethod
    def _join(admitted, t, first, start, arr, need_prompt, prompt, out, box) -> None:
        ids, ctx, rem = box
        if not admitted:
            return
        a = np.asarray(admitted, dtype=np.int64)
        for r in admitted:
            if math.isnan(first[r]):
                first[r] = t
                start[r] = t
        done_out = out[a] - (need_prompt[a] - prompt[a])  # tokens still to generate after a recompute
        box[0] = np.concatenate([ids, a])
        box[1] = np.concatenate([ctx, need_prompt[a] + 0.0])
        box[2] = np.concatenate([rem, done_out - 1.0])  # the prefill emitted the first token

    @staticmethod
    def _retire(ids, ctx, rem, t, finish):
        done = rem <= 1e-9
        if done.any():
            finish[ids[done]] = t
            keep = ~done
            return ids[keep], ctx[keep], rem[keep]
        return ids, ctx, rem


def kv_capacity_tokens(m: ModelSpec, dev: Device, sc: Scenario, rt: RuntimeProfile, max_batch: int,
                       budget: int, block: int) -> tuple[float, float]:
    """(KV tokens the cache holds a replica, bytes a token) after weights and a budget-sized pass's activations."""
    usable = rt.param("usable_memory_fraction") * dev.memory_bytes
    w = tf.weight_bytes(m, sc)
    act = float(tf.activation_bytes(m, sc, max(budget, 1), 1, 1))
    per_tok = float(tf.kv_bytes_per_token(m, sc)) / sc.ep
    if sc.offload == "kv":
        per_tok *= 1.0 - sc.offload_fraction
    if sc.spec_tokens:
        dm, dsc = draft_model(m, sc)
        w += tf.weight_bytes(dm, dsc)
        per_tok += float(tf.kv_bytes_per_token(dm, dsc))
    free = usable - w - act
    return max(free, 0.0) / per_tok, per_tok


def simulate(cfg: SimConfig, workload: Workload, duration_s: float | None = None) -> SimResult:
    """Serve ``workload`` on ``cfg.replicas`` replicas of the configured layout; deterministic for the workload."""
    if cfg.scheduler not in SCHEDULERS:
        raise InputError(f"unknown scheduler {cfg.scheduler!r} (use {', '.join(SCHEDULERS)})")
    m = get_model(cfg.model)
    dev = hwdb.get(cfg.device)
    rt = get_profile(cfg.runtime)
    sc0 = cfg.scenario.with_(batch=max(cfg.scenario.ep, 1), kv_block=cfg.kv_block)
    # validate the layout with predict's rules (one line, exit 2 for a layout the model / system refuses)
    probe = predict(m, dev, sc0.with_(phase="decode", prompt_tokens=16), calibrated=cfg.calibrated, runtime=rt,
                    system=cfg.system)
    sc0 = sc0.with_(nodes=probe.nodes)
    budget = cfg.max_batched_tokens or rt.max_batched_tokens or 0
    if cfg.scheduler == "sarathi" and not budget:
        budget = SARATHI_BUDGET
    if workload.n == 0:
        raise InputError("the workload holds no requests (a duration too short for the arrival rate?)")
    longest = int(workload.prompt_tokens.max())
    if not budget:
        budget = max(longest * (cfg.max_batch if cfg.scheduler == "static" else 1), 1)
    cap, per_tok = kv_capacity_tokens(m, dev, sc0, rt, cfg.max_batch, budget, cfg.kv_block)
    if cap < longest + int(workload.output_tokens.max()) + cfg.kv_block:
        raise InputError(f"{m.id} on {probe.devices} x {dev.id}: the KV cache left after weights holds "
                         f"{cap:,.0f} tokens, less than one request of {longest + int(workload.output_tokens.max()):,}"
                         " (more devices, fewer bits or shorter requests)")
    max_tokens = max(budget, cfg.max_batch * (sc0.spec_tokens + 1)) + cfg.max_batch * (sc0.spec_tokens + 1) + 1
    if cfg.scheduler == "static":
        max_tokens = max(max_tokens, int(workload.prompt_tokens.sum()) + 1)
    sm = StepModel(m, dev, sc0, rt, max_tokens, cfg.max_batch * (sc0.spec_tokens + 1) + cfg.max_batch + 1,
                   cfg.calibrated, cfg.system)
    horizon = duration_s if duration_s is not None else float(workload.arrival_s.max()) if workload.n else 0.0
    ndev = sc0.devices
    res = {k: np.full(workload.n, math.nan) for k in ("first", "finish", "start")}
    res["preempt"] = np.zeros(workload.n, dtype=np.int64)
    replica_of = np.arange(workload.n) % cfg.replicas
    reps = []
    for r in range(cfg.replicas):
        idx = np.nonzero(replica_of == r)[0]
        if not len(idx):
            continue
        rep = _Replica(cfg, sm, cap, budget, ndev)
        out = rep.run(workload.arrival_s[idx], workload.prompt_tokens[idx], workload.output_tokens[idx], horizon)
        for k in res:
            res[k][idx] = out[k]
        reps.append(rep)
    arr = workload.arrival_s
    ttft = res["first"] - arr
    e2e = res["finish"] - arr
    outt = workload.output_tokens.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outt > 1, (res["finish"] - res["first"]) / np.maximum(outt - 1, 1), 0.0)
    completed = np.isfinite(res["finish"])
    met = completed.copy()
    if cfg.slo_ttft_s is not None:
        met &= ttft <= cfg.slo_ttft_s
    if cfg.slo_tpot_s is not None:
        met &= tpot <= cfg.slo_tpot_s
    reqs = pd.DataFrame({"id": np.arange(workload.n), "replica": replica_of, "arrival_s": arr,
                         "prompt_tokens": workload.prompt_tokens, "output_tokens": workload.output_tokens,
                         "start_s": res["start"], "ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e,
                         "finish_s": res["finish"], "preemptions": res["preempt"], "completed": completed,
                         "met_slo": met})
    t_end = max(rep.t_end for rep in reps)
    window = max(horizon, 1e-9)
    energy = sum(rep.energy for rep in reps)
    # a replica that finished early idles until the last one ends
    energy += sum((t_end - rep.t_end) * sm.idle_w * ndev for rep in reps)
    busy = sum(rep.busy for rep in reps) / max(len(reps), 1)
    done = reqs[completed]
    out_tokens = float(done["output_tokens"].sum())
    span = max(t_end, 1e-9)
    lam = workload.n / window if workload.offered_qps == workload.offered_qps else math.nan
    sat_ratio = len(done) / workload.n
    late = reqs["arrival_s"] > 0.5 * horizon
    q_late = float(np.nanmedian((reqs.loc[late, "start_s"] - reqs.loc[late, "arrival_s"]).fillna(np.inf))) \
        if late.any() else 0.0
    q_early = float(np.nanmedian((reqs.loc[~late, "start_s"] - reqs.loc[~late, "arrival_s"]).fillna(np.inf))) \
        if (~late).any() else 0.0
    single = predict(m, dev, sc0.with_(phase="generate", batch=1, prompt_tokens=int(np.median(workload.prompt_tokens)),
                                       gen_tokens=max(int(np.median(workload.output_tokens)), 1)),
                     calibrated=cfg.calibrated, runtime=rt, system=cfg.system)
    drain = t_end - horizon  # how long the queue takes to empty after the last arrival
    saturated = (workload.offered_qps == workload.offered_qps) and (
        sat_ratio < 0.99 or (q_late > 2 * max(q_early, single.ttft_s) and q_late > 1.0)
        or drain > 0.25 * horizon + 10 * single.time_s)
    cost = hourly_cost(dev, ndev * cfg.replicas, cfg.cost_basis, energy / span, sm.idle_w)
    usd_h, basis = cost.usd_per_h, cost.label
    summary: dict[str, Any] = {
        "requests": workload.n, "completed": int(completed.sum()), "duration_s": horizon, "sim_end_s": t_end,
        "offered_qps": workload.offered_qps,
        "achieved_qps": float((res["finish"] <= horizon).sum()) / window if horizon > 0 else len(done) / span,
        "ttft_s": _percentiles(ttft[completed]), "tpot_s": _percentiles(tpot[completed & (outt > 1)]),
        "e2e_s": _percentiles(e2e[completed]),
        "throughput_tokens_per_s": out_tokens / span,
        "goodput_qps": float((met & (res["finish"] <= horizon)).sum()) / window if horizon > 0
        else float(met.sum()) / span, "slo_attainment": float(met.sum()) / workload.n,
        "energy_j": energy, "j_per_request": energy / max(len(done), 1), "j_per_token": energy / max(out_tokens, 1),
        "avg_power_w": energy / span, "utilization": busy / span, "devices": ndev * cfg.replicas,
        "replicas": cfg.replicas, "preemptions": int(res["preempt"].sum()),
        "kv_capacity_tokens": cap, "max_batched_tokens": budget,
        "littles_law": {"arrival_rate": lam, "mean_sojourn_s": float(np.nanmean(e2e[completed])) if completed.any()
                        else math.nan,
                        "mean_in_system": sum(rep.area_sys for rep in reps) / span},
        "saturated": bool(saturated),
        "single_request": {"ttft_s": single.ttft_s, "tpot_s": single.tpot_s, "e2e_s": single.time_s},
        "usd_per_h": usd_h, "price_basis": basis, "cost_basis": cfg.cost_basis, "idle_w_per_device": sm.idle_w,
        "usd_per_mtok": usd_h / 3600.0 * span / out_tokens * 1e6 if (usd_h and out_tokens) else None,
        "slo": {"ttft_s": cfg.slo_ttft_s, "tpot_s": cfg.slo_tpot_s},
    }
    if saturated:
        summary["saturation_note"] = (
            f"saturated: {workload.offered_qps:g} requests/s offered, {summary['achieved_qps']:.3g} served; the "
            f"queue grows without bound (median wait {q_late:.3g} s in the second half vs {q_early:.3g} s in the first)")
    timeline = _timeline([rep.tl for rep in reps], span, len(reps))
    conf = {k: (v if not isinstance(v, Scenario) else v.label()) for k, v in cfg.__dict__.items()}
    conf.update(arrivals=workload.arrivals, workload_requests=workload.n)
    return SimResult(requests=reqs, summary=summary, timeline=timeline, config=conf)


def _timeline(per_replica: list[list[tuple]], span: float, nrep: int) -> pd.DataFrame:
    """Iteration records (start, duration, energy, busy, running, waiting) of each replica -> fixed bins: busy
    fraction, mean power (W, all replicas), mean running / waiting requests. A record spread over bins shares
    itself by overlap (its rates are uniform over its duration)."""
    bins = np.linspace(0.0, span, TIMELINE_BINS + 1)
    acc = {k: np.zeros(TIMELINE_BINS) for k in ("busy", "energy", "running", "waiting")}
    for rows in per_replica:
        if not rows:
            continue
        a = np.array([r[:6] for r in rows], dtype=float)
        ends = np.concatenate([[a[0, 0]], a[:, 0] + a[:, 1]])
        for k, vals in (("busy", a[:, 1] * a[:, 3]), ("energy", a[:, 2]), ("running", a[:, 1] * a[:, 4]),
                        ("waiting", a[:, 1] * a[:, 5])):
            cum = np.concatenate([[0.0], np.cumsum(vals)])
            at = np.interp(bins, ends, cum)  # the integral up to each bin edge
            acc[k] += np.diff(at)
    width = np.diff(bins)
    width[width <= 0] = 1e-9
    return pd.DataFrame({"t_s": bins[:-1], "busy_frac": acc["busy"] / width / max(nrep, 1),
                         "power_w": acc["energy"] / width, "running": acc["running"] / width,
                         "waiting": acc["waiting"] / width})


def static_check(model: str, device: str, sc: Scenario, runtime: str | None = None) -> dict[str, float]:
    """A static batch with no arrivals simulated and predicted: (simulated, predicted) TTFT, TPOT, total time."""
    from_wl = Workload(np.zeros(sc.batch), np.full(sc.batch, sc.prompt_tokens), np.full(sc.batch, sc.gen_tokens),
                       "static", math.nan)
    cfg = SimConfig(model=model, device=device, scenario=sc, scheduler="static", max_batch=sc.batch,
                    runtime=runtime, kv_block=1)
    r = simulate(cfg, from_wl, duration_s=0.0)
    p = predict(model, device, replace(sc, phase="generate", kv_block=0), runtime=runtime)
    return {"sim_ttft_s": float(r.requests["ttft_s"].max()), "pred_ttft_s": p.ttft_s,
            "sim_tpot_s": float(r.requests["tpot_s"].mean()), "pred_tpot_s": p.tpot_s,
            "sim_time_s": float(r.requests["e2e_s"].max()), "pred_time_s": p.time_s,
            "sim_energy_j": r.summary["energy_j"], "pred_energy_j": p.energy_j}
