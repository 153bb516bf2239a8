"""One way to print a number in a table cell, for the terminal and the HTML report alike."""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any, digits: int = 3, *, significant: bool = False) -> str:
    """`value` for a table cell: '–' when missing or not finite, yes/no for a flag.

    Floats get `digits` decimals, or `digits` significant digits with `significant`;
    anything else prints as itself.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.{digits}g}" if significant else f"{value:.{digits}f}"
    return str(value)
