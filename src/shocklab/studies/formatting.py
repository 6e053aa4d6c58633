"""How the report prints numbers: one place for p-values and table formatting."""

from __future__ import annotations

import numpy as np


def format_p(p: float) -> str:
    """``= 0.012`` or ``< 0.0001``: a p-value is never printed as 0 (``n/a`` when missing)."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"= {p:.2g}"
