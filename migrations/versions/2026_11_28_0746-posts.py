"""Posts: posts, tags (many-to-many through post_tags), comments and attachment metadata.

Generated columns keep the excerpt and the full-text document next to the body; partial
composite indexes match the keyset order of each listing (see app/models/posts.py).

Revision ID: 0002_posts
Revises: 0001_identity
Create Date: 2026-11-28 07:46:47.369472
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_posts"
down_revision: str | Sequence[str] | None = "0001_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("name ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name=op.f("ck_tags_name_slug")),
        sa.CheckConstraint("char_length(name) <= 40", name=op.f("ck_tags_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "posts",
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "excerpt",
            sa.String(length=200),
            sa.Computed("left(btrim(regexp_replace(body, '\\s+', ' ', 'g')), 200)", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english', title), 'A') || "
                "setweight(to_tsvector('english', body), 'B')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL)",
            name=op.f("ck_posts_published_iff_published_at"),
        ),
        sa.CheckConstraint("body ~ '\\S'", name=op.f("ck_posts_body_not_blank")),
        sa.CheckConstraint("status IN ('draft', 'published')", name=op.f("ck_posts_status_known")),
        sa.CheckConstraint("title ~ '\\S'", name=op.f("ck_posts_title_not_blank")),
        sa.CheckConstraint("char_length(body) <= 100000", name=op.f("ck_posts_body_length")),
        sa.CheckConstraint("comment_count >= 0", name=op.f("ck_posts_comment_count_not_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_posts_version_positive")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_posts_author_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    op.create_index("ix_posts_author_id_id", "posts", ["author_id", "id"], unique=False)
    op.create_index(
        "ix_posts_author_published_feed",
        "posts",
        ["author_id", sa.literal_column("published_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_index(
        "ix_posts_published_feed",
        "posts",
        [sa.literal_column("published_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_index(
        "ix_posts_published_title",
        "posts",
        ["title", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_index("ix_posts_search", "posts", ["search"], unique=False, postgresql_using="gin")
    # Ten times the default statistics for the search column: ANALYZE then tracks 10 000
    # lexemes instead of 1 000, so a rare search word is estimated as rare and the planner
    # reads the GIN index, instead of walking the whole feed filtering every row (see
    # docs/guides/indexing-query-plans.md). Not in the model: SQLAlchemy can't express it.
    op.execute("ALTER TABLE posts ALTER COLUMN search SET STATISTICS 1000")
    op.create_table(
        "attachments",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "content_type ~ '^[a-z]+/[a-z0-9][a-z0-9.+-]*$'",
            name=op.f("ck_attachments_content_type_format"),
        ),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_attachments_sha256_hex")),
        sa.CheckConstraint(
            "char_length(filename) BETWEEN 1 AND 255", name=op.f("ck_attachments_filename_length")
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_attachments_size_positive")),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_attachments_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_attachments_storage_key")),
    )
    op.create_index(op.f("ix_attachments_post_id"), "attachments", ["post_id"], unique=False)
    op.create_table(
        "comments",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("body ~ '\\S'", name=op.f("ck_comments_body_not_blank")),
        sa.CheckConstraint("char_length(body) <= 5000", name=op.f("ck_comments_body_length")),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_comments_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_comments_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(op.f("ix_comments_author_id"), "comments", ["author_id"], unique=False)
    op.create_index("ix_comments_post_id_id", "comments", ["post_id", "id"], unique=False)
    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_tags_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_post_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", "tag_id", name=op.f("pk_post_tags")),
    )
    op.create_index("ix_post_tags_tag_id_post_id", "post_tags", ["tag_id", "post_id"], unique=False)


def downgrade() -> None:
    # Every migration is reversible; a test runs upgrade -> downgrade -> upgrade on real data.
    op.drop_index("ix_post_tags_tag_id_post_id", table_name="post_tags")
    op.drop_table("post_tags")
    op.drop_index("ix_comments_post_id_id", table_name="comments")
    op.drop_index(op.f("ix_comments_author_id"), table_name="comments")
    op.drop_table("comments")
    op.drop_index(op.f("ix_attachments_post_id"), table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_posts_search", table_name="posts", postgresql_using="gin")
    op.drop_index(
        "ix_posts_published_title",
        table_name="posts",
        postgresql_where=sa.text("status = 'published'"),
    )
    op.drop_index(
        "ix_posts_published_feed",
        table_name="posts",
        postgresql_where=sa.text("status = 'published'"),
    )
    op.drop_index(
        "ix_posts_author_published_feed",
        table_name="posts",
        postgresql_where=sa.text("status = 'published'"),
    )
    op.drop_index("ix_posts_author_id_id", table_name="posts")
    op.drop_table("posts")
    op.drop_table("tags")
