"""Runs ``inspect_kernels`` in a process whose kernels are compiled, not interpreted: the parent (e.g. a
test run under TRITON_INTERPRET=1) starts it with the request as JSON and reads one JSON line back."""

from __future__ import annotations

import json
import sys

from roofline.errors import RooflineError
from roofline.measure.inspect import inspect_kernels, rows_to_dicts


def main(request: str) -> int:
    args = json.loads(request)
    try:
        rows = inspect_kernels(**args)
    except RooflineError as e:
        print(json.dumps({"error": str(e)}))
        return 2
    print(json.dumps({"rows": rows_to_dicts(rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
