"""Recommenders as services: the protocol, its client (a target) and the reference server."""
