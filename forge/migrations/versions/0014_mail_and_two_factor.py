"""mail and two-factor sign-in: verified e-mail addresses, unique regardless of case (older
duplicates cleared), links mailed to accounts, recovery codes, the mail forge sends, and each
account's TOTP secret

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 16:10:00.000000
"""

import logging

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

log = logging.getLogger("forge.migrations")


def clear_duplicate_emails(connection) -> list[tuple[int, str]]:
    """Addresses held by more than one account (regardless of case) stay with the oldest
    account; the others' are cleared (they set a new one in their settings) and logged.
    Returns the (user id, address) pairs cleared."""
    rows = connection.execute(
        sa.text("SELECT id, name, email FROM users WHERE email <> '' ORDER BY id")
    ).all()
    seen: dict[str, int] = {}
    cleared = []
    for user_id, name, email in rows:
        key = email.lower()
        if key not in seen:
            seen[key] = user_id
            continue
        connection.execute(sa.text("UPDATE users SET email = '' WHERE id = :id"), {"id": user_id})
        cleared.append((user_id, email))
        log.warning(
            "the e-mail address %s of account %s (id %d) was also the address of the older "
            "account id %d: cleared, as addresses are unique now; %s must set a new one",
            email, name, user_id, seen[key], name,
        )  # fmt: skip
    return cleared


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("two_factor_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("two_factor_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("two_factor_last_step", sa.Integer(), server_default="0", nullable=False)
        )
    clear_duplicate_emails(op.get_bind())
    op.create_index(
        "ux_users_lower_email",
        "users",
        [sa.text("lower(email)")],
        unique=True,
        sqlite_where=sa.text("email <> ''"),
        postgresql_where=sa.text("email <> ''"),
    )
    op.create_table(
        "account_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", forge.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_links_user_id_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_links_token_hash")),
    )
    with op.batch_alter_table("account_links", schema=None) as batch_op:
        batch_op.create_index("ix_account_links_user_id", ["user_id"], unique=False)
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", forge.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_codes_user_id", ["user_id"], unique=False)
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", forge.db.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
    )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.create_index("ix_mail_messages_created_at", ["created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_messages_created_at")
    op.drop_table("mail_messages")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_codes_user_id")
    op.drop_table("recovery_codes")
    with op.batch_alter_table("account_links", schema=None) as batch_op:
        batch_op.drop_index("ix_account_links_user_id")
    op.drop_table("account_links")
    op.drop_index("ux_users_lower_email", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("two_factor_last_step")
        batch_op.drop_column("two_factor_enabled")
        batch_op.drop_column("two_factor_secret")
        batch_op.drop_column("email_verified")
