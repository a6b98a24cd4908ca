"""Crowdsourced triage's JSON (forge's own, not GitHub's): an issue's triage (state, weighted
confirmations against the threshold, the repro run), the triage queue's items and claims."""

from __future__ import annotations

from forge.api.shapes.issues import html_url
from forge.api.shapes.links import api_url, external_url, timestamp
from forge.api.shapes.users import simple_user
from forge.issues import repro
from forge.models import CiRun, Issue


def repro_run(run: CiRun | None) -> dict | None:
    if run is None:
        return None
    full_name = run.repository.full_name
    return {
        "id": run.id,
        "sha": run.sha,
        "state": run.state,
        "result": repro.verdict(run),
        "url": api_url(f"/repos/{full_name}/actions/runs/{run.id}"),
        "html_url": external_url(f"/{full_name}/actions/runs/{run.id}"),
        "created_at": timestamp(run.created_at),
    }


def triage(issue: Issue, summary, run: CiRun | None) -> dict:
    return {
        "issue": issue.number,
        "html_url": html_url(issue),
        "state": summary.state,
        "weight": summary.weight,
        "threshold": summary.threshold,
        "reproduced_by": summary.reproduced_by,
        "not_reproduced_by": summary.not_reproduced_by,
        "confirmations": [
            {
                "user": simple_user(c.user),
                "reproducible": c.reproducible,
                "environment": c.environment,
                "weight": c.weight,
            }
            for c in summary.confirmations
        ],
        "repro": repro_run(run),
    }


def triage_queue_item(item) -> dict:
    issue = item.issue
    return {
        "repository": issue.repository.full_name,
        "number": issue.number,
        "title": issue.title,
        "html_url": html_url(issue),
        "url": api_url(f"/repos/{issue.repository.full_name}/issues/{issue.number}"),
        "user": simple_user(issue.author),
        "triage_state": issue.triage_state,
        "looks": item.looks,
        "me_too": item.me_too,
        "created_at": timestamp(issue.created_at),
        "claimed_by": simple_user(item.claimed_by) if item.claimed_by else None,
        "claim_expires_at": timestamp(item.claim_expires_at) if item.claim_expires_at else None,
    }


def triage_claim(issue: Issue, row) -> dict:
    return {
        "repository": issue.repository.full_name,
        "number": issue.number,
        "user": simple_user(row.user),
        "expires_at": timestamp(row.expires_at),
    }
