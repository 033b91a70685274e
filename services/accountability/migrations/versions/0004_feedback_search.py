"""Feedback search: full text over `acct_feedback.text`, and indexes for the evidence filters and triage.

PostgreSQL: a stored, generated `search_doc tsvector` column (the `simple` configuration: no language's stemming,
since feedback comes in many languages; accents folded, as `search.fold` folds the query) with a GIN index. SQLite: an FTS5 table over the same text, kept in step
by triggers (insert, delete, and the text update of the retention job or an erasure).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from services.accountability.search import FOLD_FROM, FOLD_TO

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEXES = {
    # Newest first, the default order of every list: (occurred_at, id) is the keyset.
    "ix_acct_feedback_occurred_id": ["occurred_at", "id"],
    "ix_acct_feedback_source_occurred": ["source", "occurred_at"],
    "ix_acct_feedback_channel_occurred": ["channel", "occurred_at"],
    "ix_acct_feedback_severity_occurred": ["severity", "occurred_at"],
    "ix_acct_feedback_customer_occurred": ["customer_id", "occurred_at"],
    # The triage queue: least confident first, over all stages or one.
    "ix_acct_feedback_confidence_id": ["confidence", "id"],
    "ix_acct_feedback_stage_confidence": ["stage", "confidence"],
}


def upgrade() -> None:
    for name, cols in _INDEXES.items():
        op.create_index(name, "acct_feedback", cols)
    if op.get_bind().dialect.name == "postgresql":
        folded = f"translate(lower(coalesce(text, '')), '{FOLD_FROM}', '{FOLD_TO}')"
        op.execute(
            "ALTER TABLE acct_feedback ADD COLUMN search_doc tsvector "
            f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {folded})) STORED"
        )
        op.execute("CREATE INDEX ix_acct_feedback_search ON acct_feedback USING gin (search_doc)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE acct_feedback_fts USING fts5("
        "text, content='acct_feedback', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER acct_feedback_fts_insert AFTER INSERT ON acct_feedback BEGIN "
        "INSERT INTO acct_feedback_fts(rowid, text) VALUES (new.rowid, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER acct_feedback_fts_delete AFTER DELETE ON acct_feedback BEGIN "
        "INSERT INTO acct_feedback_fts(acct_feedback_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END"
    )
    op.execute(
        "CREATE TRIGGER acct_feedback_fts_update AFTER UPDATE OF text ON acct_feedback BEGIN "
        "INSERT INTO acct_feedback_fts(acct_feedback_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
        "INSERT INTO acct_feedback_fts(rowid, text) VALUES (new.rowid, new.text); END"
    )
    op.execute("INSERT INTO acct_feedback_fts(acct_feedback_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_acct_feedback_search")
        op.execute("ALTER TABLE acct_feedback DROP COLUMN IF EXISTS search_doc")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS acct_feedback_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS acct_feedback_fts")
    for name in _INDEXES:
        op.drop_index(name, table_name="acct_feedback")
