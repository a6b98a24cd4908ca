"""Telling the world what happened: webhooks, their deliveries and retries (`webhooks`)."""
