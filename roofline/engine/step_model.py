"""The cost of one serving iteration, read off the engine once (``StepModel``).

The rows that depend only on the pass's token count (linear layers, norms, collectives, dequantization) are
tabulated for every token count by one vectorized call of the engine; the lm_head by logit rows; attention rows
are affine in the iteration's aggregates (decode sequences and cached positions, prefill tokens, (query, key)
pairs), with coefficients read off the engine's own rows, and each row keeps its max(compute, memory, link) +
launch. ``roofline.engine.simulate`` prices every iteration with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwdb.schema import Device
from roofline.engine import transformer as tf
from roofline.engine.catalog import ModelSpec
from roofline.engine.collectives import default_links
from roofline.engine.predict import draft_model
from roofline.engine.pricing import device_roofs, term_cost
from roofline.engine.runtime import RuntimeProfile
from roofline.engine.scenario import Scenario


def _scalar(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


@dataclass
class _Affine:
    """One attention row: count x (max(f * X / peak, (q * n + k * X) / bw, h * X / host) + launch), X = pairs
    (compute) / positions (memory); energy idle x t + e_flop x flops + e_byte x bytes."""

    count: float
    f: float
    f0: float
    q: float
    kv: float
    host: float
    peak: float
    bw: float
    host_bw: float
    launch: float
    idle_w: float
    e_flop: float
    e_byte: float
    window: float  # sliding window of the row's layers (0 = none)

    def cost(self, n: float, pairs: float, pos: float) -> tuple[float, float]:
        fl = self.f * pairs + self.f0 * n
        by = self.q * n + self.kv * pos
        t = max(fl / self.peak, by / self.bw, (self.host * pos / self.host_bw) if self.host else 0.0) + self.launch
        t *= self.count
        return t, self.idle_w * t + self.count * (self.e_flop * fl + self.e_byte * by)


class StepModel:
    """Cost (s, J a device) of one iteration of a replica, from the engine (see the module doc)."""

    def __init__(self, m: ModelSpec, device: Device, sc: Scenario, runtime: RuntimeProfile, max_tokens: int,
                 max_rows: int, calibrated: bool = True, system: str | None = None):
        self.m, self.sc, self.rt = m, sc, runtime
        links = default_links(device, system)
        roofs = device_roofs([device], calibrated, runtime, [links])
        self.roofs = roofs
        self.k_spec = sc.spec_tokens
        self.tokens_per_seq = self.k_spec + 1  # tokens a decode sequence puts through a step
        sparse_hw = device.sparse_2_4
        Nt = np.arange(0, max_tokens + 1, dtype=float)
        Nt[0] = 1e-9
        # rows that depend on the pass's token count only (everything but attention and the lm_head)
        terms = tf.pass_terms(m, sc, Nt, 1.0, 2.0, "decode", sparse_hw)
        self.tok_t = np.zeros(len(Nt))
        self.tok_e = np.zeros(len(Nt))
        attn_names = set()
        for t in terms:
            if t.kind == "attention" and t.cls in ("attn_decode", "attn_prefill"):
                attn_names.add(t.name)
                continue
            if t.name == "lm_head":
                continue
            c = term_cost(t, roofs, 1)
            self.tok_t += np.asarray(c["time_s"], dtype=float).reshape(-1)
            self.tok_e += np.asarray(c["energy_j"], dtype=float).reshape(-1)
        self.tok_t[0] = self.tok_e[0] = 0.0
        R = np.arange(0, max_rows + 1, dtype=float)
        R[0] = 1e-9
        lm = [t for t in tf.pass_terms(m, sc, R, 1.0, 2.0, "decode", sparse_hw) if t.name == "lm_head"][0]
        c = term_cost(lm, roofs, 1)
        self.head_t = np.asarray(c["time_s"], dtype=float).reshape(-1).copy()
        self.head_e = np.asarray(c["energy_j"], dtype=float).reshape(-1).copy()
        self.head_t[0] = self.head_e[0] = 0.0
        self.dec = self._affine(m, sc, device, "decode", sparse_hw)
        self.pre = self._affine(m, sc, device, "prefill", sparse_hw)
        self.step_s = runtime.param("step_s")
        self.request_s = runtime.param("request_s")
        self.idle_w = float(roofs["other"].idle_w[0])
        self.dm = None
        if self.k_spec:  # the draft's k decode passes a step, priced by a StepModel of its own
            dm, dsc = draft_model(m, sc)
            self.dm = StepModel(dm, device, dsc, runtime, max_rows, max_rows, calibrated, system)
            self.dm.step_s = 0.0

    def _affine(self, m: ModelSpec, sc: Scenario, device: Device, phase: str, sparse_hw: bool) -> list[_Affine]:
        """Attention rows as affine functions of (sequences, pairs, positions), read off the engine's rows."""
        tk = self.tokens_per_seq if phase == "decode" else 1

        def rows(b: float, p: float) -> dict[str, tf.Term]:
            if phase == "decode":
                ts = tf.pass_terms(m, sc, b, tk, p, "decode", sparse_hw, logit_tokens=tk)
            else:
                ts = tf.pass_terms(m, sc, b, p, p, "prefill", sparse_hw)
            return {t.name: t for t in ts if t.kind == "attention" and t.cls in ("attn_decode", "attn_prefill")}

        p1, p2 = (tk + 1.0, tk + 2.0) if phase == "decode" else (1.0, 2.0)
        a, b_, c_ = rows(1.0, p1), rows(1.0, p2), rows(2.0, p1)
        out = []
        for name, t1 in a.items():
            t2, t3 = b_[name], c_[name]
            win = float(m.sliding_window) if (name.endswith("_local") or (m.window_layers == m.layers
                                                                        and m.sliding_window)) else 0.0
            pr1 = tf.attention_pairs(tk if phase == "decode" else p1, p1)
            pr2 = tf.attention_pairs(tk if phase == "decode" else p2, p2)
            f = (_scalar(t2.flops) - _scalar(t1.flops)) / (pr2 - pr1)  # per (query, key) pair
            f0 = _scalar(t1.flops) - f * pr1  # per sequence-token (0 for every shipped kernel)
            by1, by2, by3 = (_scalar(x.bytes_read) + _scalar(x.bytes_written) for x in (t1, t2, t3))
            kv = (by2 - by1) / (p2 - p1)  # per cached position read
            per_seq = by3 - by1  # q in and out for one more sequence
            q = per_seq - kv * p1 if phase == "prefill" else per_seq - kv * p1
            q = q / (p1 if phase == "prefill" else 1.0)
            kv_pos = kv
            if phase == "prefill":  # bytes(b, T) = b (q T + kv T): split per token and per position alike
                q, kv_pos = (by1 - kv * p1) / p1, kv
            host = (_scalar(t2.host_bytes) - _scalar(t1.host_bytes)) / (p2 - p1)
            roof = self.roofs[t1.cls]
            out.append(_Affine(count=float(t1.count), f=f, f0=f0, q=q, kv=kv_pos, host=host,
                               peak=float(roof.peak_eff[t1.dtype][0]), bw=float(roof.bw_eff[0]),
                               host_bw=float(roof.host_bw[0]) if host else 1.0,
                               launch=float(roof.overhead_s[0]), idle_w=float(roof.idle_w[0]),
                               e_flop=float(roof.e_flop_j[t1.dtype][0]), e_byte=float(roof.e_byte_j[0]), window=win))
        return out

    def cost(self, n_dec: float, pos_dec: float, pos_dec_win: float, chunks: list[tuple[int, int]],
             logit_rows: float) -> tuple[float, float]:
        """(time, energy) of one iteration on one device: ``n_dec`` decode sequences whose attended positions sum to
        ``pos_dec`` (``pos_dec_win`` with each clipped to the sliding window), prefill ``chunks`` of (tokens,
        cached before), ``logit_rows`` sequences computing logits."""
        tk = self.tokens_per_seq
        ntok = n_dec * tk + sum(c for c, _ in chunks)
        i = min(int(round(ntok)), len(self.tok_t) - 1)
        t, e = self.tok_t[i], self.tok_e[i]
        r = min(int(round(logit_rows * (tk if n_dec else 1))), len(self.head_t) - 1)
        t += self.head_t[r]
        e += self.head_e[r]
        if n_dec:
            for a in self.dec:
                pos = pos_dec_win if a.window else pos_dec
                pairs = n_dec * tf.attention_pairs(tk, 0.0) + pos * tk if tk > 1 else pos
                tt, ee = a.cost(n_dec, pairs, pos)
                t += tt
                e += ee
        if chunks:
            for a in self.pre:
                pairs = sum(tf.attention_pairs(c, p0 + c, a.window) for c, p0 in chunks)
                pos = sum(min(p0 + c, a.window + c - 1) if a.window else p0 + c for c, p0 in chunks)
                tt, ee = a.cost(sum(c for c, _ in chunks), pairs, pos)
                t += tt
                e += ee
        if self.dm is not None and n_dec:  # k draft passes of the decode sequences
            dt, de = self.dm.cost(n_dec, pos_dec, pos_dec_win, [], n_dec)
            t += self.k_spec * dt
            e += self.k_spec * de
        return t + self.step_s, e + self.idle_w * self.step_s
