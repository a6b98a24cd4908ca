"""search: one document per repository, change and default-branch file, and the database's
own full-text index over them (FTS5 on SQLite, tsvector + GIN on PostgreSQL); where each
repository's code index stands

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import forge.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The same words on both engines: runs of letters and digits, as FTS5's unicode61 splits
# them (PostgreSQL's parser would keep `alice/vault` or `src/app.py` whole as a file path, and
# `url_for` too); a title (a repository's name, a change's title, a file's path) counts above
# the body; 'simple' keeps code's words as they are (no stemming).
PG_WORDS = "regexp_replace(coalesce({0}, ''), '[^[:alnum:]]+', ' ', 'g')"
PG_VECTOR = (
    f"setweight(to_tsvector('simple', {PG_WORDS.format('title')}), 'A') || "
    f"setweight(to_tsvector('simple', {PG_WORDS.format('body')}), 'B')"
)

SQLITE_SYNC = (
    """CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
         INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
       END""",
    """CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
         INSERT INTO search_fts(search_fts, rowid, title, body)
         VALUES ('delete', old.id, old.title, old.body);
       END""",
    """CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN
         INSERT INTO search_fts(search_fts, rowid, title, body)
         VALUES ('delete', old.id, old.title, old.body);
         INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
       END""",
)


def upgrade():
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=40), nullable=False),
        sa.Column("blob_sha", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_search_documents_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint(
            "kind", "repository_id", "key", name=op.f("uq_search_documents_kind_repository_id_key")
        ),
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_documents_repository_id"), ["repository_id"], unique=False
        )
        batch_op.create_index("ix_search_documents_target", ["kind", "target_id"], unique=False)
    op.create_table(
        "search_code_states",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit_sha", sa.String(length=40), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("skipped_large", sa.Integer(), nullable=False),
        sa.Column("skipped_binary", sa.Integer(), nullable=False),
        sa.Column("skipped_over_cap", sa.Integer(), nullable=False),
        sa.Column("updated_at", forge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_search_code_states_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_search_code_states")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE search_documents ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({PG_VECTOR}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_search_documents_vector ON search_documents USING gin (search_vector)"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, "
            "content='search_documents', content_rowid='id')"
        )
        for statement in SQLITE_SYNC:
            op.execute(statement)
    # What existed before search did: every repository and change becomes findable at once
    # (a repository's code is indexed at its next push, or by `forge search reindex`).
    op.execute(
        "INSERT INTO search_documents (kind, repository_id, key, target_id, title, body, "
        "language, blob_sha, size, updated_at) "
        "SELECT 'repository', r.id, '', r.id, u.name || '/' || r.name, r.description, '', '', "
        "0, r.updated_at FROM repositories r JOIN users u ON u.id = r.owner_id"
    )
    op.execute(
        "INSERT INTO search_documents (kind, repository_id, key, target_id, title, body, "
        "language, blob_sha, size, updated_at) "
        "SELECT 'change', c.repository_id, CAST(c.id AS VARCHAR(20)), c.id, c.title, "
        "c.description, '', '', 0, c.updated_at FROM changes c"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS search_documents_{trigger}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_code_states")
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_search_documents_target")
        batch_op.drop_index(batch_op.f("ix_search_documents_repository_id"))
    op.drop_table("search_documents")
