"""The kernel tests allocate on the device they run on (kernel_env.DEV: CPU under the interpreter, or CUDA)."""

from __future__ import annotations

import pytest
import torch
from kernel_env import DEV


@pytest.fixture(autouse=True)
def _on_test_device():
    with torch.device(DEV):
        yield
