"""The capacity-planning screen and report section: plan tables, the verdict, simulated latency percentiles and
the utilization / power timeline. Pure functions to DataFrames and dicts (no Streamlit, plotly or matplotlib);
every frame carries ``kind`` (modeled: the serving simulator over the roofline engine) and ``source``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from roofline.provenance import MODELED

SOURCE = "roofline.engine.plan (serving simulator over roofline.engine.predict's step costs)"
PLAN_VIEW_COLUMNS = ["device_id", "layout", "scheduler", "replicas", "devices", "meets_slo", "ttft_p99_s",
                     "tpot_p99_s", "usd_per_h", "j_per_request", "utilization", "note", "kind", "source"]
OBJECTIVE_LABELS = {"usd": "cost (USD/h)", "joules": "energy (J a request)", "devices": "device count"}


def plan_table(out: dict[str, Any], top: int | None = None) -> pd.DataFrame:
    """``plan()``'s candidates, meeting the objectives first (by the objective), with provenance columns."""
    df = out["table"].copy()
    df["kind"] = MODELED
    df["source"] = SOURCE
    df = df.reindex(columns=PLAN_VIEW_COLUMNS)
    return df.head(top) if top else df


def plan_verdict(out: dict[str, Any], qps: float, slo_ttft_s: float, slo_tpot_s: float) -> dict[str, str]:
    """Headline (the fleet to buy), the reason, and the runner-up with why it lost, as sentences."""
    b = out["best"]
    obj = out.get("objective", "usd")
    price = (f"USD {b['usd_per_h']:,.2f}/h" if b.get("usd_per_h") == b.get("usd_per_h") and b.get("usd_per_h")
             is not None else "no public price")
    headline = (f"{int(b['replicas'])} x {b['layout']} on {b['device_id']} = {int(b['devices'])} devices "
                f"({b['scheduler']} scheduling)")
    reason = (f"serves {qps:g} requests/s with p99 TTFT {b['ttft_p99_s']:.3g} s (<= {slo_ttft_s:g} s) and p99 TPOT "
              f"{b['tpot_p99_s'] * 1e3:.3g} ms (<= {slo_tpot_s * 1e3:g} ms); {price}, "
              f"{b['j_per_request']:,.0f} J a request; best by {OBJECTIVE_LABELS.get(obj, obj)}")
    return {"headline": headline, "reason": reason, "runner_up": out.get("why") or "no other candidate meets the "
            "objectives", "kind": MODELED, "source": SOURCE}


def latency_percentiles(requests: pd.DataFrame) -> pd.DataFrame:
    """p50 / p90 / p99 / max of TTFT, TPOT and E2E over the completed requests of a simulation (s)."""
    done = requests[requests["completed"].astype(bool)]
    rows = []
    for col, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "E2E")):
        x = done[col].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        q = np.percentile(x, [50, 90, 99, 100]) if len(x) else [math.nan] * 4
        rows.append({"metric": label, "p50_s": q[0], "p90_s": q[1], "p99_s": q[2], "max_s": q[3], "n": len(x)})
    df = pd.DataFrame(rows)
    df["kind"] = MODELED
    df["source"] = "roofline.engine.simulate"
    return df


def latency_cdf(requests: pd.DataFrame, metric: str = "ttft_s", points: int = 101) -> pd.DataFrame:
    """The empirical quantile curve of one latency: (quantile, value_s)."""
    x = requests.loc[requests["completed"].astype(bool), metric].to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    qs = np.linspace(0, 1, points)
    vals = np.quantile(x, qs) if len(x) else np.full(points, math.nan)
    return pd.DataFrame({"quantile": qs, "value_s": vals, "metric": metric, "kind": MODELED})


def timeline_view(timeline: pd.DataFrame) -> pd.DataFrame:
    """The simulator's binned timeline with provenance: t_s, busy_frac, power_w, running, waiting."""
    df = timeline.copy()
    df["kind"] = MODELED
    df["source"] = "roofline.engine.simulate"
    return df


def summary_rows(summary: dict[str, Any]) -> pd.DataFrame:
    """Headline figures of a simulation as (figure, value, unit) rows."""
    s = summary
    rows = [("requests served / offered per s", s["achieved_qps"], "1/s"),
            ("goodput (within the SLO)", s["goodput_qps"], "1/s"),
            ("output tokens per s", s["throughput_tokens_per_s"], "tokens/s"),
            ("energy a request", s["j_per_request"], "J"), ("energy a token", s["j_per_token"], "J"),
            ("mean power", s["avg_power_w"], "W"), ("busy", s["utilization"], ""),
            ("preemptions", s["preemptions"], ""), ("saturated", float(bool(s["saturated"])), "")]
    df = pd.DataFrame(rows, columns=["figure", "value", "unit"])
    df["kind"] = MODELED
    return df
