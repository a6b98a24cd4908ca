"""forge: a lightweight, self-hosted git forge."""
