"""Replaying readings through the API: clients, sources, drift scenarios (also used by the CLI)."""
