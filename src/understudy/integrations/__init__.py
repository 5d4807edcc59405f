"""Integrations with the agent SDKs people already run: one module per SDK, each an optional extra. Empty so
far; docs/architecture.md says what comes here."""
