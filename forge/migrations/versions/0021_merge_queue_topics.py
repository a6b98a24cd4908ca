"""merge queue topics: the entries a topic's submission put in the queue together share a
batch (the id of its first entry), so they land as one ref update or leave together

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 16:15:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merge_queue_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("merge_queue_entries", schema=None) as batch_op:
        batch_op.drop_column("batch_id")
