"""releases and their uploaded assets; stars

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 16:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("tag_name", sa.String(length=255), nullable=False),
        sa.Column("target_commitish", sa.String(length=255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("draft", sa.Boolean(), nullable=False),
        sa.Column("prerelease", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("published_at", forge.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_releases_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_releases_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint(
            "repository_id", "tag_name", name=op.f("uq_releases_repository_id_tag_name")
        ),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_releases_repository_id"), ["repository_id"])
    op.create_table(
        "release_assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.Column("uploader_id", sa.Integer(), nullable=True),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_release_assets_release_id_releases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["users.id"],
            name=op.f("fk_release_assets_uploader_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_assets")),
        sa.UniqueConstraint("release_id", "name", name=op.f("uq_release_assets_release_id_name")),
    )
    with op.batch_alter_table("release_assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_assets_release_id"), ["release_id"])
    op.create_table(
        "stars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("created_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_stars_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_stars_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stars")),
        sa.UniqueConstraint(
            "user_id", "repository_id", name=op.f("uq_stars_user_id_repository_id")
        ),
    )
    with op.batch_alter_table("stars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stars_repository_id"), ["repository_id"])


def downgrade():
    with op.batch_alter_table("stars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stars_repository_id"))
    op.drop_table("stars")
    with op.batch_alter_table("release_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_assets_release_id"))
    op.drop_table("release_assets")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_releases_repository_id"))
    op.drop_table("releases")
