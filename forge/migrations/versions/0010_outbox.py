"""outbox: jobs that must follow a committed change, written in its transaction

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=16), nullable=False),
        sa.Column("func", sa.String(length=200), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_messages_created_at", ["created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_created_at")
    op.drop_table("outbox_messages")
