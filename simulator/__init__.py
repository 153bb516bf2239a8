"""simfolk's engine: the world, its clock, persona agents, brains, targets and the trace."""

from simulator.config import RunConfig
from simulator.run import simulate

__all__ = ["RunConfig", "simulate"]
