"""Roofline workbench core: op graph, roofline math, energy, selection, attribution, measuring, CLI."""

__version__ = "0.1.0"
