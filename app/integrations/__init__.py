"""Integrations with external systems (the payment provider)."""
