"""repository watches: who watches a repository (news of every change in it) and who ignores
it (no news from it at all), as GitHub's repository subscriptions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 16:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

from forge.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("ignored", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "repository_id"),
    )
    op.create_index("ix_watches_repository_id", "watches", ["repository_id"])


def downgrade():
    op.drop_index("ix_watches_repository_id", table_name="watches")
    op.drop_table("watches")
