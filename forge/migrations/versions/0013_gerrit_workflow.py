"""gerrit workflow: a repository's require_change_id; a change's work-in-progress, private,
hashtags and the change it depends on (a chain); a patch set's message; reviewers and CCs
added to a change

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:55:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("require_change_id", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("work_in_progress", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("hashtags", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("depends_on_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_changes_depends_on_id_changes"),
            "changes",
            ["depends_on_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_changes_change_id_lookup",
            ["repository_id", "base_branch", "gerrit_change_id"],
            unique=False,
        )
        batch_op.create_index("ix_changes_topic", ["repository_id", "topic"], unique=False)
    with op.batch_alter_table("patch_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "change_reviewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_change_reviewers_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_change_reviewers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_reviewers")),
        sa.UniqueConstraint(
            "change_id", "user_id", name=op.f("uq_change_reviewers_change_id_user_id")
        ),
    )
    with op.batch_alter_table("change_reviewers", schema=None) as batch_op:
        batch_op.create_index("ix_change_reviewers_user_id", ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("change_reviewers", schema=None) as batch_op:
        batch_op.drop_index("ix_change_reviewers_user_id")
    op.drop_table("change_reviewers")
    with op.batch_alter_table("patch_sets", schema=None) as batch_op:
        batch_op.drop_column("message")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index("ix_changes_topic")
        batch_op.drop_index("ix_changes_change_id_lookup")
        batch_op.drop_constraint(batch_op.f("fk_changes_depends_on_id_changes"), type_="foreignkey")
        batch_op.drop_column("depends_on_id")
        batch_op.drop_column("hashtags")
        batch_op.drop_column("private")
        batch_op.drop_column("work_in_progress")
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("require_change_id")
