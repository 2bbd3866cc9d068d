"""Integrations with outside services: the payment provider (charges and its callbacks)."""
