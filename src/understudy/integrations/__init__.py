"""Integrations with the agent SDKs people already run (one module per SDK; optional extras)."""
