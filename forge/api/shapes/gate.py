"""Votes and the quality gate (forge's extension of the API): a vote, whether a change can be
submitted and why, the labels and settings of a repository's gate, and a person's trust
(what their vote weighs there and why)."""

from __future__ import annotations

from forge.api.shapes.links import timestamp


def vote(view) -> dict:
    """One vote (forge.gate.tally.VoteView); `user` is the voter's login ("forge-ci" for
    the Verified forge's CI computes from the ci/* statuses)."""
    return {
        "user": view.user,
        "label": view.label,
        "value": view.value,
        "weight": view.weight,
        "reason": view.reason,
        "advisory": view.advisory,
        "approver": view.approver,
        "stale": view.stale,
        "counted": view.counted,
        "patch_set": view.patch_set,
        "message": view.message,
        "via": view.via,
        "note": view.note,
        "updated_at": timestamp(view.at),
    }


def submit_status(status) -> dict:
    return {
        "ready": status.ready,
        "unmet": list(status.unmet),
        "enabled": status.enabled,
        "verified_required": status.verified_required,
        "requirements": [
            {"name": r.name, "met": r.met, "summary": r.summary} for r in status.requirements
        ],
    }


def votes_answer(views: list, status) -> dict:
    return {"votes": [vote(v) for v in views], "submit": submit_status(status)}


def label(row) -> dict:
    return {
        "name": row.name,
        "description": row.description,
        "min": row.min_value,
        "max": row.max_value,
        "function": row.function,
        "copy_values": sorted(int(v) for v in row.copy_values.split(",") if v.strip()),
    }


def quality_gate(gate, labels: list) -> dict:
    return {
        "enabled": gate.enabled,
        "quorum": gate.quorum,
        "require_verified": gate.require_verified,
        "auto_submit": gate.auto_submit,
        "community_quorum": gate.community_quorum,
        "triage_threshold": gate.triage_threshold,
        "labels": [label(row) for row in labels],
    }


def trust(user, repo, who, vouches: dict[str, float]) -> dict:
    """A person's trust in a repository (forge.accounts.trust.Trust): what their vote weighs
    there and why."""
    return {
        "user": user.name,
        "repository": repo.full_name,
        "weight": who.weight,
        "reason": who.reason,
        "role": who.role,
        "granted": who.granted,
        "earned": who.earned,
        "lent": who.lent,
        "approver": who.approver,
        "sources": [{"user": name, "amount": amount} for name, amount in who.sources],
        "vouches": [{"user": name, "amount": amount} for name, amount in vouches.items()],
    }
