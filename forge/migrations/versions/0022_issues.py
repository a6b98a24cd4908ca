"""issues: the tracker (issues sharing changes' numbers, comments, labels with colours,
milestones, assignees, timeline events, cross-references, reactions, edit history,
subscriptions); notifications may point at an issue instead of a change

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 16:35:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "issue_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("lower_name", sa.String(length=100), nullable=False),
        sa.Column("color", sa.String(length=6), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_issue_labels_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_labels")),
        sa.UniqueConstraint(
            "repository_id", "lower_name", name=op.f("uq_issue_labels_repository_id_lower_name")
        ),
    )
    with op.batch_alter_table("issue_labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issue_labels_repository_id"), ["repository_id"], unique=False
        )
    op.create_table(
        "milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("due_on", forge.db.UTCDateTime(), nullable=True),
        sa.Column("creator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", forge.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["users.id"],
            name=op.f("fk_milestones_creator_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_milestones_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestones")),
        sa.UniqueConstraint(
            "repository_id", "number", name=op.f("uq_milestones_repository_id_number")
        ),
        sa.UniqueConstraint(
            "repository_id", "title", name=op.f("uq_milestones_repository_id_title")
        ),
    )
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_milestones_repository_id"), ["repository_id"], unique=False
        )
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("state_reason", sa.String(length=16), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("locked", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("lock_reason", sa.String(length=16), nullable=True),
        sa.Column("milestone_id", sa.Integer(), nullable=True),
        sa.Column("triage_state", sa.String(length=16), nullable=True),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", forge.db.UTCDateTime(), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_issues_author_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["users.id"],
            name=op.f("fk_issues_closed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["issues.id"],
            name=op.f("fk_issues_duplicate_of_id_issues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["milestones.id"],
            name=op.f("fk_issues_milestone_id_milestones"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_issues_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
        sa.UniqueConstraint("repository_id", "number", name=op.f("uq_issues_repository_id_number")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index("ix_issues_author_id", ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_issues_milestone_id"), ["milestone_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_issues_repository_id"), ["repository_id"], unique=False
        )
        batch_op.create_index(
            "ix_issues_repository_id_state", ["repository_id", "state"], unique=False
        )
    op.create_table(
        "issue_assignees",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_assignees_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_issue_assignees_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", "user_id", name=op.f("pk_issue_assignees")),
    )
    op.create_table(
        "issue_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_issue_comments_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_comments_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_comments")),
    )
    with op.batch_alter_table("issue_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_comments_issue_id"), ["issue_id"], unique=False)
    op.create_table(
        "issue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("label_name", sa.String(length=100), nullable=True),
        sa.Column("label_color", sa.String(length=6), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("milestone_title", sa.String(length=255), nullable=True),
        sa.Column("rename_from", sa.String(length=256), nullable=True),
        sa.Column("rename_to", sa.String(length=256), nullable=True),
        sa.Column("lock_reason", sa.String(length=16), nullable=True),
        sa.Column("state_reason", sa.String(length=16), nullable=True),
        sa.Column("commit_id", sa.String(length=40), nullable=True),
        sa.Column("source_issue_id", sa.Integer(), nullable=True),
        sa.Column("source_change_id", sa.Integer(), nullable=True),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_issue_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_issue_events_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_events_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_change_id"],
            ["changes.id"],
            name=op.f("fk_issue_events_source_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_events_source_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_events")),
    )
    with op.batch_alter_table("issue_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_events_issue_id"), ["issue_id"], unique=False)
    op.create_table(
        "issue_label_links",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_label_links_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["issue_labels.id"],
            name=op.f("fk_issue_label_links_label_id_issue_labels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", "label_id", name=op.f("pk_issue_label_links")),
    )
    op.create_table(
        "issue_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_issue_id", sa.Integer(), nullable=True),
        sa.Column("source_change_id", sa.Integer(), nullable=True),
        sa.Column("target_issue_id", sa.Integer(), nullable=True),
        sa.Column("target_change_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("closes", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_issue_references_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_change_id"],
            ["changes.id"],
            name=op.f("fk_issue_references_source_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_references_source_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_change_id"],
            ["changes.id"],
            name=op.f("fk_issue_references_target_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_references_target_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_references")),
    )
    with op.batch_alter_table("issue_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issue_references_source_change_id"), ["source_change_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_issue_references_source_issue_id"), ["source_issue_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_issue_references_target_change_id"), ["target_change_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_issue_references_target_issue_id"), ["target_issue_id"], unique=False
        )
    op.create_table(
        "issue_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_subscriptions_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_issue_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_subscriptions")),
        sa.UniqueConstraint(
            "issue_id", "user_id", name=op.f("uq_issue_subscriptions_issue_id_user_id")
        ),
    )
    with op.batch_alter_table("issue_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issue_subscriptions_issue_id"), ["issue_id"], unique=False
        )
    op.create_table(
        "issue_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("editor_id", sa.Integer(), nullable=True),
        sa.Column("previous_title", sa.String(length=256), nullable=True),
        sa.Column("previous_body", sa.Text(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["issue_comments.id"],
            name=op.f("fk_issue_edits_comment_id_issue_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["users.id"],
            name=op.f("fk_issue_edits_editor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_edits_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_edits")),
    )
    with op.batch_alter_table("issue_edits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_edits_issue_id"), ["issue_id"], unique=False)
    op.create_table(
        "reactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.String(length=16), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["issue_comments.id"],
            name=op.f("fk_reactions_comment_id_issue_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_reactions_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reactions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reactions")),
        sa.UniqueConstraint(
            "user_id",
            "issue_id",
            "comment_id",
            "content",
            name=op.f("uq_reactions_user_id_issue_id_comment_id_content"),
        ),
    )
    with op.batch_alter_table("reactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reactions_comment_id"), ["comment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reactions_issue_id"), ["issue_id"], unique=False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_id", sa.Integer(), nullable=True))
        batch_op.alter_column("change_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f("ix_notifications_issue_id"), ["issue_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_issue_id_issues"),
            "issues",
            ["issue_id"],
            ["id"],
            ondelete="CASCADE",
        )

    # ### end Alembic commands ###


def downgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notifications_issue_id_issues"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notifications_issue_id"))
        batch_op.alter_column("change_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("issue_id")
    with op.batch_alter_table("reactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reactions_issue_id"))
        batch_op.drop_index(batch_op.f("ix_reactions_comment_id"))
    op.drop_table("reactions")
    with op.batch_alter_table("issue_edits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_edits_issue_id"))
    op.drop_table("issue_edits")
    with op.batch_alter_table("issue_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_subscriptions_issue_id"))
    op.drop_table("issue_subscriptions")
    with op.batch_alter_table("issue_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_references_target_issue_id"))
        batch_op.drop_index(batch_op.f("ix_issue_references_target_change_id"))
        batch_op.drop_index(batch_op.f("ix_issue_references_source_issue_id"))
        batch_op.drop_index(batch_op.f("ix_issue_references_source_change_id"))
    op.drop_table("issue_references")
    op.drop_table("issue_label_links")
    with op.batch_alter_table("issue_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_events_issue_id"))
    op.drop_table("issue_events")
    with op.batch_alter_table("issue_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_comments_issue_id"))
    op.drop_table("issue_comments")
    op.drop_table("issue_assignees")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("ix_issues_repository_id_state")
        batch_op.drop_index(batch_op.f("ix_issues_repository_id"))
        batch_op.drop_index(batch_op.f("ix_issues_milestone_id"))
        batch_op.drop_index("ix_issues_author_id")
    op.drop_table("issues")
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_milestones_repository_id"))
    op.drop_table("milestones")
    with op.batch_alter_table("issue_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_labels_repository_id"))
    op.drop_table("issue_labels")
    # ### end Alembic commands ###
