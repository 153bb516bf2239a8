"""Experiments over many runs: A/A checks, validity, LLM load, chat realism, social graphs."""
