"""Measuring code: static inspection of compiled kernels (more moves here with the restructure)."""
