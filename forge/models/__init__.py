"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from forge.models.accounts import AccessToken, LoginFailure, SiteSetting, User
from forge.models.branches import BranchProtection
from forge.models.changes import (
    Change,
    ChangeComment,
    ChangeEvent,
    Notification,
    PatchSet,
    Review,
    ReviewComment,
)
from forge.models.ci import CiJob, CiRun
from forge.models.hooks import Webhook, WebhookAttempt, WebhookDelivery
from forge.models.pushes import PushEvent
from forge.models.repos import Collaborator, Repository
from forge.models.statuses import CommitStatus

__all__ = [
    "AccessToken",
    "BranchProtection",
    "Change",
    "ChangeComment",
    "ChangeEvent",
    "CiJob",
    "CiRun",
    "Collaborator",
    "CommitStatus",
    "LoginFailure",
    "Notification",
    "PatchSet",
    "PushEvent",
    "Repository",
    "Review",
    "ReviewComment",
    "SiteSetting",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
