"""Reproduction by CI: a report that carries a failing test is run in the CI sandbox.

A report's body may hold a fenced code block whose info string is `repro`, a shell script
that fails (exits non-zero) while the bug is there:

    ```repro
    python -c "import mod; assert mod.f(2) == 4"
    ```

and a `repro-patch` block, a patch (`git diff` output) applied before the script runs: a test
file the script then runs. A patch that does not apply ends the job with exit 125 and the
issue says "could not run", not "reproduced".

forge runs it as a one-job `CiRun` of event "repro" (with `issue_id`) on the tip of the
default branch, through the CI machinery every job goes through (the queue, the bubblewrap
sandbox, its time, memory, process and log bounds, the log page), and the issue shows
"reproduced on <sha>" (the script failed) or "not reproduced on <sha>" (it exited 0). A repro
run sets no commit status: a reproduced bug must not mark the default branch red.

The script runs when the report is opened or its script edited, when a triager or the author
asks again, and after a change that says it fixes the report (Fixes #N) merges: that run,
on the new tip, verifies the fix. The tracker leaves such a report open at the merge
(`forge.issues.references`); if the script passes, forge says so in a comment and closes it
as completed by the change; if the bug is still reproduced, forge says so and it stays open;
if the script cannot tell (errored, cancelled, a stale patch), the change's word stands.
A report by a newcomer (no write access, nothing merged here) waits for a maintainer's
approval before it runs, as a newcomer's change does.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge import events
from forge.accounts import trust_edges
from forge.accounts.permissions import can, require
from forge.ci.results import job_status
from forge.ci.runs import _dispatch_after_commit
from forge.errors import Forbidden, Invalid
from forge.gate.votes import ci_voter
from forge.git import refs as git_refs
from forge.issues import references, tracker
from forge.models import Change, CiJob, CiRun, Issue, IssueComment, IssueReference, User
from forge.repos.branches import open_git

REPRO_BLOCK = re.compile(r"^(`{3,}|~{3,})[ \t]*repro[ \t]*\n(.*?)^\1[ \t]*$", re.M | re.S)
PATCH_BLOCK = re.compile(r"^(`{3,}|~{3,})[ \t]*repro-patch[ \t]*\n(.*?)^\1[ \t]*$", re.M | re.S)
# The exit code of a job whose patch did not apply (git bisect's "cannot test"): not a
# reproduction, whatever the script would have said.
CANNOT_TEST = 125
EVENT = "repro"
JOB_NAME = "repro"
TIMEOUT = 300  # seconds: a reproduction is one test, not a build
MAX_SCRIPT = 20000


def repro_script(body: str | None) -> str | None:
    """The script the job runs: the report's `repro` block, after applying its `repro-patch`
    block (a patch adding a test file, say) when it has one; None without a `repro` block."""
    found = REPRO_BLOCK.search(body or "")
    script = found.group(2).strip() if found is not None else ""
    if not script:
        return None
    patch = PATCH_BLOCK.search(body or "")
    if patch is not None and patch.group(2).strip():
        marker = "FORGE_REPRO_PATCH_END"
        text = patch.group(2).replace(marker, "")
        script = (
            f"forge_patch=$(mktemp)\ncat > \"$forge_patch\" <<'{marker}'\n{text}{marker}\n"
            f'git apply "$forge_patch" || {{ echo "forge: the report\'s repro-patch does not '
            f'apply here"; exit {CANNOT_TEST}; }}\n{script}'
        )
    return script[:MAX_SCRIPT] if len(script) <= MAX_SCRIPT else None


def latest_run(session: Session, issue: Issue) -> CiRun | None:
    return session.scalar(
        select(CiRun).where(CiRun.issue_id == issue.id).order_by(CiRun.id.desc()).limit(1)
    )


def verdict(run: CiRun | None) -> str | None:
    """What the issue says of its latest run: reproduced, not reproduced, or still going."""
    if run is None:
        return None
    if run.state == "failed" and run.jobs and run.jobs[0].exit_code == CANNOT_TEST:
        return "could not run"
    return {
        "failed": "reproduced",
        "timed_out": "reproduced",
        "passed": "not reproduced",
        "errored": "could not run",
        "cancelled": "cancelled",
        "waiting": "waiting for approval",
    }.get(run.state, "running")


def _held(session: Session, issue: Issue) -> bool:
    author = issue.author
    if can(session, author, "write", issue.repository):
        return False
    return not trust_edges.merged_here_by_trusted(session, issue.repository, author)


def request_repro(session: Session, issue: Issue, actor: User | None) -> CiRun | None:
    """Run the report's script on the default branch's tip (None: it has no script, or the
    repository no default branch yet)."""
    script = repro_script(issue.body)
    if script is None:
        return None
    repo = issue.repository
    ref = f"refs/heads/{repo.default_branch}"
    git = open_git(references.repos_dir_of(session), repo)
    try:
        sha = git_refs.current_value(git, ref)
    finally:
        git.close()
    if set(sha) == {"0"}:
        return None
    held = _held(session, issue)
    run = CiRun(
        repository_id=repo.id,
        sha=sha,
        ref=ref,
        event=EVENT,
        issue_id=issue.id,
        actor_id=actor.id if actor is not None else None,
        base_url=(session.info.get("forge.base_url") or "").rstrip("/"),
        state="waiting" if held else "queued",
    )
    run.repository = repo
    run.jobs.append(
        CiJob(
            name=JOB_NAME,
            script=script,
            definition=json.dumps(
                {
                    "timeout": TIMEOUT,
                    "env": {"FORGE_ISSUE": str(issue.number)},
                    "needs": [],
                    "network": False,
                    "limits": {},
                }
            ),  # fmt: skip
            state="waiting" if held else "queued",
            reason="waiting for approval by a maintainer" if held else "",
        )
    )
    session.add(run)
    session.flush()
    for job in run.jobs:
        job_status(session, job)
    _dispatch_after_commit(session)
    return run


def run_again(session: Session, issue: Issue, actor: User) -> CiRun:
    """A triager or the author asks for the script to run again on today's tip."""
    require(session, actor, "read", issue.repository)
    if actor.id != issue.author_id and not can(session, actor, "triage", issue.repository):
        raise Forbidden("only its author or a triager may run a report's repro again")
    run = request_repro(session, issue, actor)
    if run is None:
        raise Invalid("this report has no ```repro block to run")
    return run


# --- subscribers -------------------------------------------------------------------------------


def on_issue_changed(session: Session, event) -> None:
    """Subscriber of IssueChanged: a new report, or a new script, runs."""
    issue = event.issue
    if event.action == "opened":
        request_repro(session, issue, event.sender)
    elif event.action == "edited":
        before = (event.extra.get("changes") or {}).get("body", {}).get("from")
        if before is not None and repro_script(before) != repro_script(issue.body):
            request_repro(session, issue, event.sender)


def on_change_merged(session: Session, event) -> None:
    """Subscriber of ChangeMerged: the open reports it says it fixes that carry a script (the
    tracker left them open) run it again on the new tip; one that cannot run is closed as the
    tracker closes the others."""
    change = event.change
    for issue in references.closing_issues(session, change):
        if issue.state != "open" or repro_script(issue.body) is None:
            continue
        if request_repro(session, issue, event.sender) is None:
            _close_fixed(session, issue, change, event.sender)


def _close_fixed(session: Session, issue: Issue, fix: Change, actor: User | None) -> None:
    tracker.close_issue(session, issue, actor or fix.author, "completed", change=fix,
                        commit_id=fix.merge_commit_sha)  # fmt: skip


def _fixed_by(session: Session, issue: Issue) -> Change | None:
    return session.scalar(
        select(Change)
        .join(IssueReference, IssueReference.source_change_id == Change.id)
        .where(
            IssueReference.target_issue_id == issue.id,
            IssueReference.closes.is_(True),
            Change.state == "merged",
        )
        .order_by(Change.merged_at.desc())
        .limit(1)
    )


def on_run_finished(session: Session, event) -> None:
    """Subscriber of CiRunFinished: a repro run after a fix merged verifies the fix."""
    run = event.run
    if run.event != EVENT or run.issue_id is None:
        return
    issue = session.get(Issue, run.issue_id)
    if issue is None:
        return
    fix = _fixed_by(session, issue)
    if fix is None or fix.merged_at is None or run.created_at < fix.merged_at:
        return  # no fix to verify: the panel shows the result
    short, after = run.sha[:7], f"after #{fix.number} merged"
    result = verdict(run)
    if result == "not reproduced":
        _comment(session, issue, f"forge's CI ran this report's repro on {short} {after}: it "
                 "passes now (exit 0), so the bug is fixed.")  # fmt: skip
        if issue.state == "open":
            _close_fixed(session, issue, fix, run.actor)
    elif result == "reproduced":
        _comment(session, issue, f"forge's CI ran this report's repro on {short} {after}: it "
                 "still fails, so the report stays open.")  # fmt: skip
    elif issue.state == "open":
        # The script could not tell (errored, cancelled, a stale patch): the change's word
        # stands, as for a report without a script.
        _comment(session, issue, f"forge's CI could not run this report's repro on {short} "
                 f"{after} ({result}); closing it as the change says it fixes it.")  # fmt: skip
        _close_fixed(session, issue, fix, run.actor)


def _comment(session: Session, issue: Issue, text: str) -> None:
    """A comment by forge's CI account (it holds no role, so written here, not through the
    tracker's check of who may comment)."""
    bot = ci_voter(session)
    comment = IssueComment(issue_id=issue.id, issue=issue, author_id=bot.id, body=text)
    comment.author = bot
    session.add(comment)
    session.flush()
    events.publish(session, events.IssueCommented(issue=issue, comment=comment, sender=bot))
