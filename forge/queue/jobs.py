"""Jobs that run on the workers. Each takes plain values so it can be serialised by rq."""

from __future__ import annotations

import os
from pathlib import Path


def ping(payload: str) -> dict:
    """Answer with the payload and the worker's process id: proves a worker is taking jobs."""
    return {"payload": payload, "pid": os.getpid()}


def maintain_repository(repo_path: str) -> dict:
    """Merge a repository's packs after pushes, so clones can be served from one pack."""
    from forge.git.maintenance import merge_packs

    result = merge_packs(Path(repo_path))
    if result is None:
        return {"skipped": "another maintenance run holds the lock"}
    return {"packs_merged": result.packs_merged, "loose_merged": result.loose_merged}
