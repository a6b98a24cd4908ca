"""system hooks: a webhook without a repository receives every repository's events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 03:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("repository_id", existing_type=sa.Integer(), nullable=True)
    # The reconciler looks for deliveries still pending; most rows are long delivered.
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_status"), ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_status"))
    op.execute("DELETE FROM webhooks WHERE repository_id IS NULL")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("repository_id", existing_type=sa.Integer(), nullable=False)
