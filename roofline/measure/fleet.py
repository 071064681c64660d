"""Fleet profiling (``roofline profile --ray``): the same suite on every GPU node of a Ray cluster (each node's
own device matched against hwdb, as a local ``roofline profile`` would), every row gathered into one trace run.

Each node runs ``profile.run_profile`` into a scratch folder and returns its rows and manifest; the driver
writes one run (``traces.write_run``) whose manifest lists the nodes, their devices and their own run ids.
``--cpu`` profiles every node's CPU instead (a cluster without GPUs; the tests).
"""

from __future__ import annotations

import socket
import tempfile
from dataclasses import replace
from typing import Any

import pandas as pd

from roofline.engine.distribute import connect
from roofline.errors import InputError
from roofline.measure import traces
from roofline.measure.profile import ProfileConfig, run_profile


def _profile_here(cfg: ProfileConfig) -> dict[str, Any]:
    """Run on one node: the suite into a scratch folder; rows + what the node is."""
    with tempfile.TemporaryDirectory(prefix="roofline-fleet-") as tmp:
        res = run_profile(replace(cfg, out=tmp))
        return {"host": socket.gethostname(), "run_id": res.run_id, "device_id": res.device_id,
                "device_name": res.device_name, "energy_method": res.energy_method, "rows": res.rows,
                "warnings": res.warnings, "interrupted": res.interrupted}


def profile_fleet(cfg: ProfileConfig, ray_address: str | None) -> dict[str, Any]:
    """Profile every (GPU) node of the cluster; returns {"path", "run_id", "nodes": [...], "rows"}."""
    ray = connect(ray_address)
    want_gpu = cfg.use_gpu
    nodes = [n for n in ray.nodes() if n.get("Alive") and (not want_gpu or n.get("Resources", {}).get("GPU", 0) >= 1)]
    if not nodes:
        raise InputError("the Ray cluster has no GPU nodes (profile --ray --cpu profiles every node's CPU)")
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # ray: optional extra, as above

    remote = ray.remote(_profile_here)
    futures = [remote.options(num_gpus=1 if want_gpu else 0, num_cpus=1,
                              scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(cfg)
               for n in nodes]
    parts = ray.get(futures)
    rows = pd.concat([p["rows"] for p in parts if len(p["rows"])], ignore_index=True) if parts else pd.DataFrame()
    if rows.empty:
        raise InputError("no node produced a row (see each node's warnings with a local `roofline profile`)")
    ids = sorted({p["device_id"] for p in parts})
    run_id = traces.new_run_id(f"fleet-{len(parts)}nodes-{ids[0] or 'host'}")
    m = traces.base_manifest(run_id, ids[0] if len(ids) == 1 else "", parts[0]["device_name"] if len(ids) == 1
                             else "mixed fleet", cfg.command, cfg.suite)
    m["notes"] = [f"node {p['host']}: {p['device_id'] or p['device_name']} (run {p['run_id']}, "
                  f"energy {p['energy_method']}{', interrupted' if p['interrupted'] else ''})" for p in parts]
    m["fleet"] = [{k: p[k] for k in ("host", "run_id", "device_id", "device_name", "energy_method")} for p in parts]
    path = traces.write_run(cfg.out, m, rows, complete=not any(p["interrupted"] for p in parts))
    return {"path": str(path), "run_id": path.name, "nodes": m["fleet"], "rows": rows,
            "warnings": sorted({w for p in parts for w in p["warnings"]})}
