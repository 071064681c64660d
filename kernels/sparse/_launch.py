"""Split-K sizing shared by the sparse kernels (dtype names, interpreter detection and SM counts are
kernels/common.py's)."""

from __future__ import annotations


def split_for(programs: int, k_tiles: int, target_programs: int) -> int:
    """Split the reduction into as many slices as fill ``target_programs`` CTAs, none of them empty."""
    if programs >= target_programs or k_tiles <= 1:
        return 1
    want = min(k_tiles, -(-target_programs // programs))
    per = -(-k_tiles // want)
    return -(-k_tiles // per)
