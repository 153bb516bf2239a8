"""Personas: who the simulated users are, and the real data they are built from."""
