"""The buyer's answer for one ranked workload: the recommendation, the two reasons that decide it, the runner-up
and when it would win; and how the answer moves with price (+-30%), utilization and the SLO.

Pure functions over a ``roofline.engine.select.rank`` frame (plus ``pareto``); nothing is re-predicted: price and
utilization rescale $/M tokens, J/token and IPW in closed form, and an SLO change re-filters the frame (rank
picks each device's TP by fit, not by SLO, so that is exact). Uncertainty ranges (``<metric>_lo`` /
``<metric>_hi`` columns, once predictions carry them) and hwdb reliability flags (an ``unreliable`` column) are
used when present and left out cleanly when not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from roofline.engine.energy import coefficients_for
from roofline.provenance import MODELED
from roofline.views.common import band, finite_or_none, fmt_metric

# metric -> (label, unit, True when larger is better)
METRIC_INFO: dict[str, tuple[str, str, bool]] = {
    "tokens_per_s": ("tokens/s", "tok/s", True), "ttft_s": ("time to first token", "s", False),
    "tpot_s": ("time per output token", "s", False), "usd_per_mtok": ("cost per million tokens", "USD", False),
    "j_per_token": ("energy per token", "J", False), "ipw": ("IPW", "/W", True),
}
PRICE_STEPS = (-0.3, 0.3)
UTILIZATIONS = (1.0, 0.5, 0.25)
SLO_FACTORS = (0.5, 0.8, 1.25, 2.0)


@dataclass(frozen=True)
class Verdict:
    """The recommendation for one workload. Strings are ready to print (same words in HTML and PDF)."""

    by: str  # the rank key
    pick: str  # device id ('' when nothing qualifies)
    pick_name: str
    pick_tp: int
    headline: str
    reasons: tuple[str, ...]  # the two that decide it
    runner_up: str  # device id ('' when there is none)
    runner_up_name: str
    runner_up_when: tuple[str, ...]  # when the runner-up would win ("it would win <this>")
    ranges: tuple[str, ...] = ()  # uncertainty ranges of the deciding numbers (empty without bands)
    caveats: tuple[str, ...] = ()
    kind: str = MODELED

    @property
    def recommendation(self) -> str:
        """'Buy NVIDIA B200 (x2, tensor parallel)' or 'No recommendation' (the headline up to its reasons)."""
        return self.headline.split(":")[0].rstrip(".")


def _val(row, key: str) -> float | None:
    return finite_or_none(row.get(key)) if key in row else None


def _fmt(key: str, v: float | None) -> str:
    return fmt_metric(v, METRIC_INFO.get(key, ("", "", True))[1])


def _who(row) -> str:
    tp = _tp(row)
    return f"{row['name']}" + (f" x{tp}" if tp > 1 else "")


def _tp(row) -> int:
    t = finite_or_none(row.get("tp"))
    return int(t) if t else 1


def _better(key: str, a: float, b: float) -> bool:
    return a > b if METRIC_INFO[key][2] else a < b


def _advantage(key: str, a: float, b: float) -> float:
    """How much better a is than b on ``key`` as a factor >= 1 (2.0 = twice as good)."""
    if a <= 0 or b <= 0:
        return math.inf if _better(key, a, b) else 0.0
    return a / b if METRIC_INFO[key][2] else b / a


def _by_how_much(key: str, a: float, b: float) -> str:
    """'7% more' / '34% less' / '3.1x more': a against b, in the metric's own direction words."""
    if a <= 0 or b <= 0:
        return "better"
    if a > b:
        return f"{(a / b - 1) * 100:.0f}% more" if a / b < 10 else f"{a / b:.1f}x more"
    return f"{(1 - a / b) * 100:.0f}% less"


def qualified(df: pd.DataFrame, slo_ttft_s: float | None, slo_tpot_s: float | None) -> pd.Series:
    """Rows that fit and meet the SLOs (the ones a ranking ranks)."""
    ok = df["fits"].astype(bool)
    if slo_ttft_s:
        ok &= pd.to_numeric(df["ttft_s"], errors="coerce") <= slo_ttft_s
    if slo_tpot_s:
        ok &= pd.to_numeric(df["tpot_s"], errors="coerce") <= slo_tpot_s
    return ok


def winner(df: pd.DataFrame, by: str, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None) -> str:
    """The device id ranked first by ``by`` among rows that fit and meet the SLOs ('' when none does)."""
    v = pd.to_numeric(df[by], errors="coerce")
    ok = qualified(df, slo_ttft_s, slo_tpot_s) & v.notna()
    if not ok.any():
        return ""
    order = v[ok].sort_values(ascending=not METRIC_INFO.get(by, ("", "", True))[2], kind="mergesort")
    return str(df.loc[order.index[0], "device_id"])


def _flags(row) -> list[str]:
    """Reliability flags and the cost basis of a row, when the frame carries them (after the hwdb work)."""
    out = []
    flag = row.get("unreliable") if "unreliable" in row else None
    if isinstance(flag, str) and flag.strip():
        out.append(f"{row['device_id']}: {flag.strip()} (flagged unreliable in hwdb)")
    elif flag is True:
        out.append(f"{row['device_id']}: a figure is flagged unreliable in hwdb")
    return out


def _basis(row) -> str:
    """The cost basis of a row's $ figures ('cloud', 'owned', ...) when the frame carries one, else ''."""
    b = row.get("cost_basis") if "cost_basis" in row else None
    return b.strip() if isinstance(b, str) else ""


def verdict(df: pd.DataFrame, by: str, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None,
            phase: str = "generate") -> Verdict:
    """The recommendation for a ranked workload (``select.rank`` frame; ranks already applied)."""
    keys = [k for k in METRIC_INFO if k in df.columns and not (phase == "prefill" and k == "tpot_s")]
    ranked = df[df["rank"].notna()].sort_values("rank", kind="mergesort") if "rank" in df else df.iloc[0:0]
    if ranked.empty:
        fit = df[df["fits"].astype(bool)]
        if fit.empty:
            return Verdict(by, "", "", 1, "No recommendation: no candidate device can hold this workload.",
                           ("every candidate runs out of memory, even with tensor parallelism where allowed",), "", "",
                           ())
        w = winner(fit, by)
        row = fit[fit["device_id"] == w].iloc[0] if w else fit.iloc[0]
        slo = _slo_text(slo_ttft_s, slo_tpot_s)
        return Verdict(by, "", "", 1, f"No recommendation: no candidate meets {slo}.",
                       (f"the closest is {_who(row)} ({_misses(row, slo_ttft_s, slo_tpot_s)})",), str(row["device_id"]),
                       str(row["name"]), (f"if {_loosen(row, slo_ttft_s, slo_tpot_s)}",))
    top = ranked.iloc[0]
    label, _unit, _hi = METRIC_INFO.get(by, (by, "", True))
    ru = ranked.iloc[1] if len(ranked) > 1 else None
    reasons: list[str] = []
    ranges: list[str] = []
    tv = _val(top, by)
    if ru is not None:
        rv = _val(ru, by)
        cmp = f", {_by_how_much(by, tv, rv)} than {_who(ru)} ({_fmt(by, rv)})" if tv and rv else ""
        reasons.append(f"best {label}: {_fmt(by, tv)}{cmp}")
        # the second reason: the other metric where the pick leads the runner-up most
        best_k, best_adv = "", 1.0
        for k in keys:
            if k == by:
                continue
            a, b = _val(top, k), _val(ru, k)
            if a is None or b is None:
                continue
            f = _advantage(k, a, b)
            if f > best_adv * 1.0001:
                best_k, best_adv = k, f
        if best_k and best_adv >= 1.05:
            a, b = _val(top, best_k), _val(ru, best_k)
            reasons.append(f"also better on {METRIC_INFO[best_k][0]}: {_fmt(best_k, a)} vs {_fmt(best_k, b)} "
                           f"({_by_how_much(best_k, a, b)})")
        else:
            reasons.append(_headroom(top, slo_ttft_s, slo_tpot_s) or
                           f"not beaten on {label} by any other candidate that fits"
                           + (" and meets the SLOs" if (slo_ttft_s or slo_tpot_s) else ""))
    else:
        others = df[df["fits"].astype(bool) & (df["device_id"] != top["device_id"])]
        reasons.append("the only candidate that fits and meets the SLOs" if (slo_ttft_s or slo_tpot_s) and len(others)
                       else "the only candidate that fits")
        reasons.append(f"{label}: {_fmt(by, tv)}")
    rb = band(top, by)
    if rb is not None:
        ranges.append(f"{top['device_id']} {label}: {_fmt(by, rb[0])} – {_fmt(by, rb[1])} (model uncertainty)")
    when: list[str] = []
    caveats = _flags(top)
    if ru is not None:
        when += _runner_up_wins(df, top, ru, by, keys, slo_ttft_s, slo_tpot_s)
        rr = band(ru, by)
        if rr is not None:
            ranges.append(f"{ru['device_id']} {label}: {_fmt(by, rr[0])} – {_fmt(by, rr[1])} (model uncertainty)")
            if rb is not None and rr[0] <= rb[1] and rb[0] <= rr[1]:
                caveats.append(f"the {label} ranges of {top['device_id']} and {ru['device_id']} overlap: within the "
                               "model's uncertainty the runner-up may be as good")
        caveats += _flags(ru)
        bt, br = _basis(top), _basis(ru)
        if bt and br and bt != br:
            caveats.append(f"{top['device_id']} uses the {bt} cost basis, {ru['device_id']} the {br} one: their "
                           "$/M tokens do not compare directly")
    if _basis(top) and (by == "usd_per_mtok" or any("cost" in r for r in reasons)):
        reasons = [f"{r} ({_basis(top)} prices)" if "cost" in r else r for r in reasons]
    tp = _tp(top)
    headline = (f"Buy {top['name']}" + (f" (x{tp}, tensor parallel)" if tp > 1 else "") + f": {reasons[0]}"
                + (f"; {reasons[1]}" if len(reasons) > 1 else "") + ".")
    return Verdict(by, str(top["device_id"]), str(top["name"]), tp, headline, tuple(reasons[:2]),
                   "" if ru is None else str(ru["device_id"]), "" if ru is None else str(ru["name"]), tuple(when),
                   tuple(ranges), tuple(caveats))


def _slo_text(slo_ttft_s: float | None, slo_tpot_s: float | None) -> str:
    parts = ([f"TTFT <= {fmt_metric(slo_ttft_s, 's')}"] if slo_ttft_s else []) + \
            ([f"TPOT <= {fmt_metric(slo_tpot_s, 's')}"] if slo_tpot_s else [])
    return " and ".join(parts) or "the SLOs"


def _misses(row, slo_ttft_s, slo_tpot_s) -> str:
    out = []
    if slo_ttft_s and (_val(row, "ttft_s") or 0) > slo_ttft_s:
        out.append(f"TTFT {fmt_metric(_val(row, 'ttft_s'), 's')} > {fmt_metric(slo_ttft_s, 's')}")
    if slo_tpot_s and (_val(row, "tpot_s") or 0) > slo_tpot_s:
        out.append(f"TPOT {fmt_metric(_val(row, 'tpot_s'), 's')} > {fmt_metric(slo_tpot_s, 's')}")
    return "misses the SLO: " + ", ".join(out) if out else "meets the SLOs"


def miss_note(row, slo_ttft_s: float | None, slo_tpot_s: float | None) -> str:
    """'misses the SLO: TPOT 60 ms > 50 ms' for a row that fits but misses ('' otherwise)."""
    if not bool(row.get("fits")):
        return ""
    m = _misses(row, slo_ttft_s, slo_tpot_s)
    return m if m.startswith("misses") else ""


def _loosen(row, slo_ttft_s, slo_tpot_s) -> str:
    out = []
    if slo_ttft_s and (_val(row, "ttft_s") or 0) > slo_ttft_s:
        out.append(f"the TTFT SLO is loosened to {fmt_metric(_val(row, 'ttft_s'), 's')}")
    if slo_tpot_s and (_val(row, "tpot_s") or 0) > slo_tpot_s:
        out.append(f"the TPOT SLO is loosened to {fmt_metric(_val(row, 'tpot_s'), 's')}")
    return " and ".join(out) or "the SLOs are loosened"


def _headroom(row, slo_ttft_s, slo_tpot_s) -> str:
    for key, slo, name in (("tpot_s", slo_tpot_s, "TPOT"), ("ttft_s", slo_ttft_s, "TTFT")):
        v = _val(row, key)
        if slo and v:
            return f"meets the {name} SLO ({fmt_metric(slo, 's')}) with {(1 - v / slo) * 100:.0f}% headroom " \
                   f"({fmt_metric(v, 's')})"
    return ""


def _runner_up_wins(df, top, ru, by, keys, slo_ttft_s, slo_tpot_s) -> list[str]:
    """The conditions under which the runner-up would be first: another rank metric, a price change within
    +-30%, a tighter SLO the pick misses."""
    out = []
    rid = str(ru["device_id"])
    for k in keys:
        if k != by and winner(df, k, slo_ttft_s, slo_tpot_s) == rid:
            a, b = _val(ru, k), _val(top, k)
            vs = f"{_fmt(k, a)} vs {_fmt(k, b)}" if b is not None else \
                f"{_fmt(k, a)}; {top['device_id']} has no {'public price' if k == 'usd_per_mtok' else 'figure'}"
            out.append(f"if you rank by {METRIC_INFO[k][0]} ({vs})")
    if by == "usd_per_mtok":
        a, b = _val(top, by), _val(ru, by)
        if a and b:
            rise = b / a - 1
            out.append(f"if {top['device_id']}'s price rises more than {rise * 100:.0f}% (or {rid}'s falls more than "
                       f"{(1 - a / b) * 100:.0f}%)" + (", within the +-30% price range" if rise <= 0.3 else ""))
    for key, slo, name in (("tpot_s", slo_tpot_s, "TPOT"), ("ttft_s", slo_ttft_s, "TTFT")):
        a, b = _val(top, key), _val(ru, key)
        if key in keys and a is not None and b is not None and b < a:
            cond = f"the {name} SLO tightens below" if slo else f"a {name} SLO below"
            out.append(f"if {cond} {fmt_metric(a, 's')} applies ({rid} needs {fmt_metric(b, 's')})"
                       if not slo else f"if {cond} {fmt_metric(a, 's')} ({rid} needs {fmt_metric(b, 's')})")
    if not out:
        out.append("under none of: another ranking metric, a +-30% price change, a tighter SLO")
    return out


# ------------------------------------------------------------------------------------------ sensitivity


def _idle_w(devices: Mapping, device_id: str, tp: int) -> float | None:
    d = devices.get(device_id)
    if d is None:
        return None
    return coefficients_for(d).idle_w * tp


def rescale(df: pd.DataFrame, devices: Mapping, price: Mapping[str, float] | float = 1.0,
            utilization: float = 1.0) -> pd.DataFrame:
    """The frame with $/M tokens, J/token and IPW at other prices and utilization (closed form, nothing
    re-predicted): ``price`` multiplies each device's $/h (one factor, or device id -> factor); at utilization u
    the device is paid for and idles (1 - u) of the time: $/M tok / u, J/token + (1 - u) / u x P_idle / tokens/s
    (P_idle from the energy model, times TP), IPW = accuracy / (u x P + (1 - u) x P_idle)."""
    out = df.copy()
    fac = pd.Series([price.get(i, 1.0) if isinstance(price, Mapping) else float(price) for i in out["device_id"]],
                    index=out.index)
    u = float(utilization)
    if not 0 < u <= 1:
        raise ValueError(f"utilization must be in (0, 1], got {u}")
    out["usd_per_mtok"] = pd.to_numeric(out["usd_per_mtok"], errors="coerce") * fac / u
    if u < 1:
        idle = pd.Series([_idle_w(devices, i, _tp(r)) for i, (_, r) in zip(out["device_id"], out.iterrows(),
                                                                           strict=True)],
                         index=out.index, dtype=float)
        tps = pd.to_numeric(out["tokens_per_s"], errors="coerce")
        out["j_per_token"] = pd.to_numeric(out["j_per_token"], errors="coerce") + (1 - u) / u * idle / tps
        if "ipw" in out and "avg_power_w" in out:
            p = pd.to_numeric(out["avg_power_w"], errors="coerce")
            out["ipw"] = pd.to_numeric(out["ipw"], errors="coerce") * p / (u * p + (1 - u) * idle)
    return out


SENSITIVITY_COLUMNS = ["factor", "setting", "winner", "winner_value", "pick_value", "holds", "kind"]


def sensitivity(df: pd.DataFrame, by: str, devices: Mapping, slo_ttft_s: float | None = None,
                slo_tpot_s: float | None = None, phase: str = "generate") -> pd.DataFrame:
    """How the recommendation moves: one row per what-if setting with the device that would then rank first by
    ``by``, its value, the current pick's value under the same setting (both formatted), and whether the pick
    still wins. Settings: the pick's price +30%, the runner-up's price -30%, every price +-30%; utilization
    50% and 25%; each SLO the workload sets x0.5, x0.8, x1.25, x2, and no SLO.
    Columns: SENSITIVITY_COLUMNS."""
    pick = winner(df, by, slo_ttft_s, slo_tpot_s)
    ranked = df[df["rank"].notna()].sort_values("rank") if "rank" in df else df.iloc[0:0]
    ru = str(ranked.iloc[1]["device_id"]) if len(ranked) > 1 else ""
    rows = []

    def add(factor: str, setting: str, frame: pd.DataFrame, ttft=slo_ttft_s, tpot=slo_tpot_s) -> None:
        w = winner(frame, by, ttft, tpot)
        val = lambda i: _fmt(by, finite_or_none(frame.loc[frame["device_id"] == i, by].iloc[0])) if i else "—"  # noqa: E731
        extra = ""
        if by != "usd_per_mtok" and factor in ("price", "utilization"):  # what the setting changes for the pick
            usd = finite_or_none(frame.loc[frame["device_id"] == pick, "usd_per_mtok"].iloc[0])
            extra = f" ({_fmt('usd_per_mtok', usd)}/M tok)" if usd is not None else " (no public price)"
        rows.append({"factor": factor, "setting": setting, "winner": w or "none qualifies",
                     "winner_value": val(w), "pick_value": val(pick) + extra,
                     "holds": bool(pick) and w == pick, "kind": MODELED})

    if not pick:
        return pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    add("price", f"{pick} price +30%", rescale(df, devices, {pick: 1.3}))
    if ru:
        add("price", f"{ru} price -30%", rescale(df, devices, {ru: 0.7}))
    for step in PRICE_STEPS:
        add("price", f"every price {step * 100:+.0f}%", rescale(df, devices, 1 + step))
    for u in UTILIZATIONS[1:]:
        add("utilization", f"busy {u:.0%} of the time", rescale(df, devices, 1.0, u))
    for key, slo, name in (("ttft_s", slo_ttft_s, "TTFT"), ("tpot_s", slo_tpot_s, "TPOT")):
        if not slo or (phase == "prefill" and key == "tpot_s"):
            continue
        for f in SLO_FACTORS:
            kw = {"ttft": slo_ttft_s, "tpot": slo_tpot_s}
            kw["ttft" if key == "ttft_s" else "tpot"] = slo * f
            add("SLO", f"{name} SLO x{f:g} ({fmt_metric(slo * f, 's')})", df, **kw)
    if slo_ttft_s or slo_tpot_s:
        add("SLO", "no SLO", df, None, None)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def slo_marks(df: pd.DataFrame, slo_ttft_s: float | None, slo_tpot_s: float | None) -> list[str]:
    """Per row: '' (meets, or does not fit) or the miss note, for tables and charts that mark SLO misses."""
    return [miss_note(r, slo_ttft_s, slo_tpot_s) for _, r in df.iterrows()]

