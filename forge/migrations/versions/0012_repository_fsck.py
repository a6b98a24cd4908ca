"""repository fsck settings: a repository's own severities of the pushed-object checks, by
git's msg-id (`receive.fsck.<msg-id>`), as "msgId=severity,..."

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fsck", sa.Text(), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("fsck")
