"""Outbound webhooks: endpoints, signed deliveries and their retries."""
