"""crowdsourced triage: peers' confirmations of issues, claims on the triage queue, the
repository's confirmation threshold, CI runs that reproduce an issue, reputation events about
an issue

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 16:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "issue_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reproducible", sa.Boolean(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_confirmations_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_issue_confirmations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_confirmations")),
        sa.UniqueConstraint(
            "issue_id", "user_id", name=op.f("uq_issue_confirmations_issue_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_issue_confirmations_issue_id"), "issue_confirmations", ["issue_id"], unique=False
    )
    op.create_table(
        "issue_triage_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_triage_claims_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_issue_triage_claims_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_triage_claims")),
        sa.UniqueConstraint("issue_id", name=op.f("uq_issue_triage_claims_issue_id")),
    )
    with op.batch_alter_table("quality_gates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triage_threshold", sa.Float(), nullable=True))
    with op.batch_alter_table("ci_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ci_runs_issue_id_issues"),
            "issues",
            ["issue_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_ci_runs_issue_id"), ["issue_id"], unique=False)
    with op.batch_alter_table("reputation_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_reputation_events_issue_id_issues"),
            "issues",
            ["issue_id"],
            ["id"],
            ondelete="SET NULL",
        )
        # One settlement per (user, kind, issue), as per change.
        batch_op.create_index(
            "ix_reputation_events_once_per_issue", ["user_id", "kind", "issue_id"], unique=True
        )


def downgrade():
    with op.batch_alter_table("reputation_events", schema=None) as batch_op:
        batch_op.drop_index("ix_reputation_events_once_per_issue")
        batch_op.drop_constraint(
            batch_op.f("fk_reputation_events_issue_id_issues"), type_="foreignkey"
        )
        batch_op.drop_column("issue_id")
    with op.batch_alter_table("ci_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ci_runs_issue_id"))
        batch_op.drop_constraint(batch_op.f("fk_ci_runs_issue_id_issues"), type_="foreignkey")
        batch_op.drop_column("issue_id")
    with op.batch_alter_table("quality_gates", schema=None) as batch_op:
        batch_op.drop_column("triage_threshold")
    op.drop_table("issue_triage_claims")
    op.drop_index(op.f("ix_issue_confirmations_issue_id"), table_name="issue_confirmations")
    op.drop_table("issue_confirmations")
