"""Analysis of measured traces against the engine: attribution, calibration, decode-step attribution."""
