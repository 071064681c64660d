"""Scale-out on Ray: a local 2-CPU Ray started once for the session; results equal the single-process run."""

from __future__ import annotations

import pytest

from roofline.engine.distribute import run_tasks
from roofline.engine.plan import PlanRequest, plan
from roofline.engine.scenario import Scenario
from roofline.engine.simulate import SimConfig, simulate
from roofline.engine.sweep import sweep
from roofline.engine.workload import make_workload

ray = pytest.importorskip("ray", reason="the `scale` extra (pip install -e .[dev,scale]) is not installed")


@pytest.fixture(scope="session")
def local_ray():
    from roofline.engine.distribute import connect

    connect("local")
    yield "local"
    ray.shutdown()


def _sim_args(seed: int) -> tuple:
    wl = make_workload("poisson:5", 60, "chat", "chat", seed)
    cfg = SimConfig(model="llama-3.1-8b", device="h100-sxm", scenario=Scenario(), runtime="vllm", seed=seed)
    return (cfg, wl, 60.0)


def test_ray_results_equal_the_single_process_run(local_ray):
    # the tasks are the engine's own functions (a test module's would not import on the workers)
    args = [_sim_args(1), _sim_args(2)]
    here = run_tasks(simulate, args)
    there = run_tasks(simulate, args, local_ray)
    for a, b in zip(here, there, strict=True):
        assert a.requests.equals(b.requests) and a.summary == b.summary
    scs = [Scenario(phase="generate", batch=b) for b in (1, 16)]
    s1 = run_tasks(sweep, [(["h100-sxm"], ["llama-3.1-8b"], scs), (["mi300x"], ["llama-3.1-8b"], scs)])
    s2 = run_tasks(sweep, [(["h100-sxm"], ["llama-3.1-8b"], scs), (["mi300x"], ["llama-3.1-8b"], scs)], local_ray)
    for a, b in zip(s1, s2, strict=True):
        assert a.equals(b)
    req = PlanRequest(model="llama-3.1-8b", qps=2.0, slo_ttft_p99_s=2.0, slo_tpot_p99_s=0.05, devices=("h100-sxm",),
                      duration_s=20.0)
    assert plan(req)["table"].equals(plan(req, local_ray)["table"])


def test_unreachable_address_is_one_line_exit_2(tmp_path):
    # in a fresh process (this one may hold the session's local Ray): one line on stderr, exit 2
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "RAY_ADDRESS": ""}
    p = subprocess.run([sys.executable, "-m", "roofline", "simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm",
                        "--duration", "5", "--ray", "127.0.0.1:1"], capture_output=True, text=True, timeout=180,
                       cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "cannot reach the Ray cluster" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_an_address_that_answers_but_is_no_ray_head_is_one_line_exit_2(tmp_path):
    # something listens (a proxy, another service): Ray's client retries and logs each retry to fd 2 from C++;
    # the CLI holds that output back and still says one line. One retry (RAY_gcs_server_port_wait_time_s) keeps
    # the test short.
    import os
    import socket
    import subprocess
    import sys
    import threading
    from pathlib import Path

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "RAY_ADDRESS": "", "RAY_gcs_server_port_wait_time_s": "1"}
    try:
        p = subprocess.run([sys.executable, "-m", "roofline", "sweep", "--models", "llama-3.1-8b", "--devices",
                            "h100-sxm", "--ray", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=180,
                           cwd=tmp_path, env=env)
    finally:
        srv.close()
    assert p.returncode == 2, p.stderr[-2000:]
    assert "cannot reach the Ray cluster" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr[-2000:]
