"""Run independent tasks in this process or on a Ray cluster (``--ray [ADDRESS]``): the same function on the
same arguments, so the results are identical either way (every task carries its own seed).

Ray is an optional extra (``pip install .[scale]``); it is imported only when a caller asks for a cluster.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from roofline.errors import InputError

LOCAL = "local"
LOCAL_CPUS = 2  # a local cluster's size (tests and laptops: the machine has 2 cores)
PROBE_TIMEOUT_S = 5.0  # Ray retries an unreachable GCS for minutes; a TCP probe answers first


def _probe(address: str) -> None:
    """A host:port (or ray://host:port) that accepts no TCP connection is refused at once, in one line."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"cannot parse Ray address {address!r} (use host:port, ray://host:port, auto or local)")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise InputError(f"cannot reach the Ray cluster at {address!r}: {e.strerror or e}") from None


@contextlib.contextmanager
def _held_stderr() -> Iterator[None]:
    """Ray's C++ client logs each failed retry straight to file descriptor 2 (about 20 lines for an address that
    accepts TCP but is no Ray head); hold that output while joining and give it back only if joining worked, so a
    failure stays one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if ok:
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))


def _ray():
    try:
        import ray  # optional extra (roofline-workbench[scale]); only --ray needs it
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'roofline-workbench[scale]'") from None
    return ray


def connect(address: str | None) -> Any:
    """Start (``local``) or join (``ray://host:port`` / ``host:port`` / ``auto``) a Ray cluster; one line on failure."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    try:
        if address in (None, "", LOCAL):
            ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            _probe(address)
            with _held_stderr():
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except InputError:
        raise
    except Exception as e:  # ray raises ConnectionError, RuntimeError, ValueError... for an unreachable address
        raise InputError(f"cannot reach the Ray cluster at {address!r}: {type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]}") from None
    return ray


def run_tasks(fn: Callable[..., Any], args: Sequence[tuple], ray_address: str | None = None,
              num_cpus: float = 1.0) -> list[Any]:
    """``[fn(*a) for a in args]``, on Ray when ``ray_address`` is given (``local`` = a local cluster)."""
    if ray_address is None:
        return [fn(*a) for a in args]
    ray = connect(ray_address)
    remote = ray.remote(num_cpus=num_cpus)(fn)
    return ray.get([remote.remote(*a) for a in args])
