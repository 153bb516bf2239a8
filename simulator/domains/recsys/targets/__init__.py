"""Systems under test: `--target itemknn|als|...`, `--target MODULE:ATTR`, `--target http://...`.

Besides the four built-ins, variants of them and more library models are
registered so that A/B runs and `simfolk bench validity` can hold many arms
against each other. `FAMILIES` says which arms are collaborative filtering:
the close calls among them are what an A/B test of recommenders is about.
"""

from __future__ import annotations

from simulator.domains.recsys.targets.builtin import FAMILIES, TARGETS, target_names
from simulator.domains.recsys.targets.spec import (
    BRING_YOUR_OWN,
    check_target,
    make_target,
)

__all__ = [
    "BRING_YOUR_OWN",
    "FAMILIES",
    "TARGETS",
    "check_target",
    "make_target",
    "target_names",
]
