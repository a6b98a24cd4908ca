"""Jobs that run on the workers. Each takes plain values so it can be serialised by rq."""

from __future__ import annotations

import os


def ping(payload: str) -> dict:
    """Answer with the payload and the worker's process id: proves a worker is taking jobs."""
    return {"payload": payload, "pid": os.getpid()}
