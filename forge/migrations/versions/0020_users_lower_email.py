"""e-mail addresses unique regardless of case through a users.lower_email column with a plain
unique index, instead of 0014's index on lower(email): SQLite cannot reflect an expression
index, so any later migration that rebuilds the users table (batch mode) silently dropped it

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 16:05:00.000000
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

log = logging.getLogger("forge.migrations")


def clear_duplicate_emails(connection) -> None:
    """As in 0014 (while its index was gone, duplicates could come back): the oldest account
    keeps an address, the others' are cleared and logged."""
    rows = connection.execute(
        sa.text("SELECT id, name, email FROM users WHERE email <> '' ORDER BY id")
    ).all()
    seen: dict[str, int] = {}
    for user_id, name, email in rows:
        key = email.lower()
        if key not in seen:
            seen[key] = user_id
            continue
        connection.execute(sa.text("UPDATE users SET email = '' WHERE id = :id"), {"id": user_id})
        log.warning(
            "the e-mail address %s of account %s (id %d) was also the address of the older "
            "account id %d: cleared, as addresses are unique now; %s must set a new one",
            email, name, user_id, seen[key], name,
        )  # fmt: skip


def upgrade():
    op.execute("DROP INDEX IF EXISTS ux_users_lower_email")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lower_email", sa.String(length=254), nullable=True))
    connection = op.get_bind()
    clear_duplicate_emails(connection)
    connection.execute(sa.text("UPDATE users SET lower_email = lower(email) WHERE email <> ''"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_lower_email", ["lower_email"], unique=True)


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_lower_email")
        batch_op.drop_column("lower_email")
    op.create_index(
        "ux_users_lower_email",
        "users",
        [sa.text("lower(email)")],
        unique=True,
        sqlite_where=sa.text("email <> ''"),
        postgresql_where=sa.text("email <> ''"),
    )
