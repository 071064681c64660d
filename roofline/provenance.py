"""The words every number carries: where it came from (``kind``), defined once.

- datasheet: a vendor figure, cited in the device file.
- modeled: computed by the roofline engine from datasheet or calibrated inputs.
- measured: a row of a trace (or a fit to measured rows), with its run id.
- static: read from compiled code without running it (SASS instruction counts, registers, spills).
"""

from __future__ import annotations

DATASHEET = "datasheet"
MODELED = "modeled"
MEASURED = "measured"
STATIC = "static"
KINDS = (DATASHEET, MODELED, MEASURED, STATIC)
