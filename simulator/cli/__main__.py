"""`python -m simulator.cli`: the same as the `simfolk` command."""

from simulator.cli import main

main()
