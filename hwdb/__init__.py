"""The cited hardware database: one TOML file per device under ``hwdb/devices/``."""

from hwdb.loader import UnknownDeviceError, get, load, load_dir, write_measured
from hwdb.schema import DTYPES, KINDS, Cache, Device, HwdbError, Measured, Source

__all__ = ["DTYPES", "KINDS", "Cache", "Device", "HwdbError", "Measured", "Source", "UnknownDeviceError", "get",
           "load", "load_dir", "write_measured"]
