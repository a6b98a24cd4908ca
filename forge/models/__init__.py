"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from forge.models.accounts import (
    AccessToken,
    AccountLink,
    LoginFailure,
    MailMessage,
    RecoveryCode,
    SiteSetting,
    User,
)
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
from forge.models.issues import (
    Issue,
    IssueComment,
    IssueEdit,
    IssueEvent,
    IssueLabel,
    IssueReference,
    IssueSubscription,
    Milestone,
    Reaction,
)
from forge.models.orgs import Organization, OrgMembership, Team, TeamMember, TeamRepository
from forge.models.outbox import OutboxMessage
from forge.models.pushes import PushEvent, SecretBypass
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
from forge.models.releases import Release, ReleaseAsset, Star
from forge.models.repos import Collaborator, Repository, Watch
from forge.models.statuses import CommitStatus
from forge.models.triage import IssueConfirmation, IssueTriageClaim

__all__ = [
    "AccessToken",
    "AccountLink",
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
    "Issue",
    "IssueComment",
    "IssueConfirmation",
    "IssueEdit",
    "IssueEvent",
    "IssueLabel",
    "IssueReference",
    "IssueSubscription",
    "IssueTriageClaim",
    "Label",
    "LoginFailure",
    "MailMessage",
    "MergeQueueEntry",
    "Milestone",
    "Notification",
    "OutboxMessage",
    "Organization",
    "OrgMembership",
    "PatchSet",
    "PushEvent",
    "SecretBypass",
    "QualityGate",
    "Release",
    "ReleaseAsset",
    "RecoveryCode",
    "Reaction",
    "Repository",
    "ReputationEvent",
    "Review",
    "ReviewClaim",
    "ReviewComment",
    "SiteSetting",
    "Team",
    "TeamMember",
    "TeamRepository",
    "Star",
    "User",
    "TrustEdge",
    "Vote",
    "Watch",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
