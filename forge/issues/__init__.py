"""The issue tracker (GitHub's model): issues sharing the number sequence with changes,
comments, labels, milestones, assignees, locking, edit history, reactions, cross-references
and closing keywords; crowdsourced triage builds on it. Models in forge.models.issues."""
