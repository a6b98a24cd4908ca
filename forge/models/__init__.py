"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from forge.models.accounts import AccessToken, LoginFailure, SiteSetting, User
from forge.models.branches import BranchProtection
from forge.models.changes import (
    Change,
    ChangeComment,
    ChangeEvent,
    ChangeReviewer,
    Notification,
    PatchSet,
    Review,
    ReviewComment,
)
from forge.models.ci import CiJob, CiRun
from forge.models.hooks import Webhook, WebhookAttempt, WebhookDelivery
from forge.models.outbox import OutboxMessage
from forge.models.pushes import PushEvent
from forge.models.quality import (
    Audit,
    Label,
    MergeQueueEntry,
    QualityGate,
    ReputationEvent,
    ReviewClaim,
    TrustEdge,
    Vote,
)
from forge.models.repos import Collaborator, Repository
from forge.models.statuses import CommitStatus

__all__ = [
    "AccessToken",
    "Audit",
    "BranchProtection",
    "Change",
    "ChangeComment",
    "ChangeEvent",
    "ChangeReviewer",
    "CiJob",
    "CiRun",
    "Collaborator",
    "CommitStatus",
    "Label",
    "LoginFailure",
    "MergeQueueEntry",
    "Notification",
    "OutboxMessage",
    "PatchSet",
    "PushEvent",
    "QualityGate",
    "Repository",
    "ReputationEvent",
    "Review",
    "ReviewClaim",
    "ReviewComment",
    "SiteSetting",
    "User",
    "TrustEdge",
    "Vote",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
