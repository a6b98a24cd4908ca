"""trust edges: the decisions trust flows along, and the gate's community quorum switch

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "trust_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("truster_id", sa.Integer(), nullable=False),
        sa.Column("trustee_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_trust_edges_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["truster_id"],
            ["users.id"],
            name=op.f("fk_trust_edges_truster_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trustee_id"],
            ["users.id"],
            name=op.f("fk_trust_edges_trustee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_trust_edges_change_id_changes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_edges")),
    )
    with op.batch_alter_table("trust_edges", schema=None) as batch_op:
        batch_op.create_index("ix_trust_edges_repository_id", ["repository_id"], unique=False)
        batch_op.create_index(
            "ix_trust_edges_once",
            ["repository_id", "truster_id", "trustee_id", "kind", "change_id"],
            unique=True,
        )
    with op.batch_alter_table("quality_gates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("community_quorum", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("quality_gates", schema=None) as batch_op:
        batch_op.drop_column("community_quorum")
    with op.batch_alter_table("trust_edges", schema=None) as batch_op:
        batch_op.drop_index("ix_trust_edges_once")
        batch_op.drop_index("ix_trust_edges_repository_id")
    op.drop_table("trust_edges")
