"""How the report prints numbers: one place for p-values and table formatting.

The CSV files in ``results/`` keep full precision; what a reader sees goes through
:func:`format_value` (and :func:`show_table` in the notebooks):

- p-values (columns named ``p``, ``p ...``, ``... p``, ``pvalue``): two significant digits,
  never 0 (``< 0.0001``);
- percentages (columns ending in ``%``): one decimal, with a sign (shares: whole percent);
- amounts in millions (columns naming ``M USD``): one decimal;
- prices and USD amounts: thousands separators, two decimals (small prices: four significant
  digits);
- other numbers: three significant digits (thousands separators from 1,000 on); integers
  as they are, with separators from 10,000 on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def format_p(p: float) -> str:
    """``= 0.012`` or ``< 0.0001``: a p-value is never printed as 0 (``n/a`` when missing)."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"= {p:.2g}"


def _is_p(column: str) -> bool:
    c = column.strip()
    return c in {"p", "pvalue", "p-value"} or c.startswith("p ") or c.endswith((" p", "_p"))


def _is_price(column: str) -> bool:
    c = column.lower()
    return any(w in c for w in ("price", "trough", "usd", "close", "level"))


def format_value(value: Any, column: str = "") -> str:
    """One cell as the report prints it (rules in the module docstring)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_ | str):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}" if (value.hour or value.minute) else f"{value:%Y-%m-%d}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if not isinstance(value, float | np.floating):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "n/a" if math.isnan(v) else str(v)
    if _is_p(column):
        return "< 0.0001" if v < 1e-4 else f"{v:.2g}"
    if column.endswith("%"):
        return f"{v:.0f}" if "share" in column else f"{v:+.1f}"
    if "M USD" in column:
        return f"{v:,.1f}"
    if _is_price(column):
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4g}"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text (:func:`format_value` by column name); the index is kept."""
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        out[col] = [format_value(v, str(col)) for v in table[col].tolist()]
    return out


def show_table(table: pd.DataFrame, caption: str = "") -> Any:
    """A notebook view of ``table``: formatted cells, no truncated text, numbers right-aligned
    (a pandas Styler; the saved CSV keeps full precision)."""
    shown = format_table(table).rename(  # float index labels (quantiles) print like cells
        index=lambda v: format_value(v) if isinstance(v, float) else v
    )
    styler = shown.style
    if caption:
        styler = styler.set_caption(caption)
    return styler.set_table_attributes('class="shocklab-table"')
