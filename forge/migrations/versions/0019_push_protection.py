"""push protection: a repository's own switch (NULL: the site's FORGE_PUSH_PROTECTION), and
the secrets its pushers allowed through it, with who, why and where

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 16:25:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_protection", sa.Boolean(), nullable=True))
    op.create_table(
        "secret_bypasses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("commit_sha", sa.String(length=40), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_secret_bypasses_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_secret_bypasses_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_bypasses")),
        sa.UniqueConstraint(
            "repository_id",
            "fingerprint",
            name=op.f("uq_secret_bypasses_repository_id_fingerprint"),
        ),
    )


def downgrade():
    op.drop_table("secret_bypasses")
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("push_protection")
