"""organizations and teams: users.is_organization, an organization's settings, its
memberships, its teams, their members and their roles on repositories

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _fk(table, column, target, ondelete="CASCADE"):
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_organization", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_repository_permission", sa.String(length=16), nullable=False),
        sa.Column("members_can_create_repositories", sa.Boolean(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        _fk("organizations", "id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "org_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        _fk("org_memberships", "org_id", "users"),
        _fk("org_memberships", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_memberships")),
        sa.UniqueConstraint("org_id", "user_id", name=op.f("uq_org_memberships_org_id_user_id")),
    )
    op.create_index("ix_org_memberships_org_id", "org_memberships", ["org_id"])
    op.create_index("ix_org_memberships_user_id", "org_memberships", ["user_id"])
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("privacy", sa.String(length=16), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        _fk("teams", "org_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("org_id", "slug", name=op.f("uq_teams_org_id_slug")),
    )
    op.create_index("ix_teams_org_id", "teams", ["org_id"])
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _fk("team_members", "team_id", "teams"),
        _fk("team_members", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint("team_id", "user_id", name=op.f("uq_team_members_team_id_user_id")),
    )
    op.create_index("ix_team_members_team_id", "team_members", ["team_id"])
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"])
    op.create_table(
        "team_repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _fk("team_repositories", "team_id", "teams"),
        _fk("team_repositories", "repository_id", "repositories"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_repositories")),
        sa.UniqueConstraint(
            "team_id", "repository_id", name=op.f("uq_team_repositories_team_id_repository_id")
        ),
    )
    op.create_index("ix_team_repositories_team_id", "team_repositories", ["team_id"])
    op.create_index("ix_team_repositories_repository_id", "team_repositories", ["repository_id"])


def downgrade():
    op.drop_table("team_repositories")
    op.drop_table("team_members")
    op.drop_table("teams")
    op.drop_table("org_memberships")
    op.drop_table("organizations")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_organization")
