"""The selection screen: ranking and Pareto views, and the report spec a selection turns into.

Pure functions to DataFrames; every frame carries ``kind`` (datasheet | modeled | measured) and ``source``.
No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from roofline.engine.select import pareto_front
from roofline.provenance import MODELED

RANK_LABELS = {"tokens_per_s": "tokens/s (higher is better)", "tokens_per_s_per_device": "tokens/s per device",
               "ttft_s": "TTFT (lower is better)", "tpot_s": "TPOT (lower is better)",
               "usd_per_mtok": "$/M tokens (lower is better)", "j_per_token": "J/token (lower is better)",
               "ipw": "IPW (higher is better)", "ipj": "IPJ (higher is better)"}


PARETO_AXES = {"usd_per_mtok": ("$/M tokens", False), "tokens_per_s": ("tokens/s", True),
               "j_per_token": ("J/token", False), "ttft_s": ("TTFT (s)", False), "tpot_s": ("TPOT (s)", False),
               "ipw": ("IPW", True)}


def ranking_view(ranked: pd.DataFrame, x: str = "usd_per_mtok", y: str = "tokens_per_s",
                 z: str = "j_per_token") -> pd.DataFrame:
    """select.rank() output made ready to show: device kind renamed ``device_kind``, provenance ``kind``
    (modeled) and ``source``, and the Pareto flag over the three chosen objectives (rows missing one are
    never on the front; a front over objectives nobody has is empty)."""

    df = ranked.rename(columns={"kind": "device_kind"}).copy()
    df["kind"] = MODELED
    df["source"] = ("roofline.engine.predict (" + df["efficiency_kind"].fillna("") + " efficiencies, "
                    + df["energy_kind"].fillna("") + " energy)") if "efficiency_kind" in df else "roofline.engine.predict"
    objectives = [c for c in dict.fromkeys((x, y, z)) if c in df.columns]
    lo = [c for c in objectives if not PARETO_AXES.get(c, ("", False))[1]]
    hi = [c for c in objectives if PARETO_AXES.get(c, ("", False))[1]]
    usable = [c for c in objectives if np.isfinite(pd.to_numeric(df[c], errors="coerce")).any()]
    if not usable:
        df["pareto"] = False
        return df
    return pareto_front(df, minimize=[c for c in lo if c in usable], maximize=[c for c in hi if c in usable])


def report_spec(model_id: str, scenario, device_ids: Sequence[str], by: str, slo_ttft_s: float | None,
                slo_tpot_s: float | None, allow_tp: bool, pareto_x: str, pareto_y: str,
                trace_runs: Sequence[str] = ()) -> dict:
    """The report spec (as the parsed TOML dict reports.spec.parse_spec takes) for the dashboard's selection,
    so the download is the same report `roofline report` builds from that spec."""

    sc = asdict(scenario)
    kept = sc.pop("attention_kept", 1.0)
    if sc.get("attention") == "block-sparse":
        sc["attention"] = f"block-sparse:{kept:g}"
    wl = {"name": f"{model_id}, {scenario.label()}", "model": model_id, **sc}
    if slo_ttft_s:
        wl["slo_ttft_s"] = float(slo_ttft_s)
    if slo_tpot_s:
        wl["slo_tpot_s"] = float(slo_tpot_s)
    return {"title": f"Hardware for {model_id}: {scenario.label()}", "workload": [wl],
            "devices": {"ids": list(device_ids)},
            "ranking": {"by": by, "pareto_x": pareto_x, "pareto_y": pareto_y, "allow_tp": bool(allow_tp)},
            "traces": {"runs": list(trace_runs)}}


def spec_toml(spec: dict) -> str:
    """A report spec dict as TOML text (what `roofline report SPEC` reads)."""
    def val(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [f"title = {val(spec['title'])}", ""]
    for w in spec["workload"]:
        out.append("[[workload]]")
        out += [f"{k} = {val(v)}" for k, v in w.items()]
        out.append("")
    for table in ("devices", "ranking", "traces"):
        out.append(f"[{table}]")
        out += [f"{k} = {val(v)}" for k, v in spec[table].items()]
        out.append("")
    return "\n".join(out)


def unplotted(table: pd.DataFrame, x: str, y: str) -> list[str]:
    """Devices that fit but lack a positive x or y value (e.g. no public price for $/M tokens)."""
    f = table[table["fits"].astype(bool)]
    xv, yv = pd.to_numeric(f[x], errors="coerce"), pd.to_numeric(f[y], errors="coerce")
    return sorted(f.loc[~((xv > 0) & (yv > 0)), "device_id"].astype(str))
