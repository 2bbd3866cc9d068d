"""Posts, their tags, comments and attachments.

The database enforces what the API promises, so a bug, a script or a hand-written INSERT
can't create a row the API would refuse: lengths and formats are CHECKs, a post is published
exactly when it has a `published_at`, counters can't go negative.

ON DELETE rules, chosen per relationship:

- A post's comments, attachments and tag links CASCADE with it: they mean nothing alone.
  (The attachment *bytes* live in blob storage; the service deletes them after the commit.)
- A tag's links CASCADE with the tag: deleting a tag untags posts, it never deletes them.
- Authors are RESTRICTed: a user who wrote posts or comments can't be hard-deleted by
  accident. Accounts are deactivated (`users.is_active`); erasing one is a deliberate job
  that deals with the content first.

Three columns are derived, the schema's only redundancy: `excerpt` and `search` are generated
columns the database computes from title and body, and `comment_count` is incremented in the
same transaction as every comment insert (a CHECK keeps it >= 0). They exist so the list
query reads neither the (possibly large, TOASTed) body nor the comments table.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Entity, Timestamped

if TYPE_CHECKING:
    from app.models.users import User

TITLE_MAX = 200
BODY_MAX = 100_000
EXCERPT_LENGTH = 200
TAG_MAX = 40
TAG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
COMMENT_MAX = 5_000
FILENAME_MAX = 255
CONTENT_TYPE_MAX = 100
# The text search configuration is spelled out (not the server's default) so the generated
# column and the queries can never disagree, and `to_tsvector(regconfig, text)` is immutable.
SEARCH_CONFIG = "english"


class PostStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Post(Entity, Base):
    """A blog post by one author.

    Nullable on purpose: `published_at` is NULL while the post is a draft and set when it is
    published (a CHECK ties it to `status`). No other column is nullable.

    `version` counts changes to the post's representation (edits and new comments); it is the
    ORM's optimistic lock (`version_id_col`: an UPDATE carries `WHERE version = <read>`) and
    the post's ETag.
    """

    __tablename__ = "posts"
    __table_args__ = (
        # `~ '\S'`: not empty and not only whitespace, as the API's stripped strings promise.
        CheckConstraint(r"title ~ '\S'", name="title_not_blank"),
        CheckConstraint(r"body ~ '\S'", name="body_not_blank"),
        CheckConstraint(f"char_length(body) <= {BODY_MAX}", name="body_length"),
        CheckConstraint("status IN ('draft', 'published')", name="status_known"),
        CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL)",
            name="published_iff_published_at",
        ),
        CheckConstraint("comment_count >= 0", name="comment_count_not_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        # Each index matches one keyset order of a listing (ORDER BY ... , id) so a page is
        # one index range scan; partial on `published` because that is all the public sees.
        Index(
            "ix_posts_published_feed",
            text("published_at DESC"),
            text("id DESC"),
            postgresql_where=text("status = 'published'"),
        ),
        Index(
            "ix_posts_published_title",
            "title",
            "id",
            postgresql_where=text("status = 'published'"),
        ),
        Index(
            "ix_posts_author_published_feed",
            "author_id",
            text("published_at DESC"),
            text("id DESC"),
            postgresql_where=text("status = 'published'"),
        ),
        # Not partial: it is also the index of the foreign key (a user's deletion checks it),
        # and it serves "all of my posts" (drafts, export) in creation order.
        Index("ix_posts_author_id_id", "author_id", "id"),
        Index("ix_posts_search", "search", postgresql_using="gin"),
    )

    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=PostStatus.DRAFT.value)
    published_at: Mapped[datetime | None] = mapped_column(
        doc="When the post was (last) published; NULL while it is a draft."
    )
    comment_count: Mapped[int] = mapped_column(
        Integer,
        server_default=text("0"),
        doc="Number of comments, kept in the transaction of each comment write.",
    )
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    excerpt: Mapped[str] = mapped_column(
        String(EXCERPT_LENGTH),
        Computed(
            rf"left(btrim(regexp_replace(body, '\s+', ' ', 'g')), {EXCERPT_LENGTH})",
            persisted=True,
        ),
        doc="The body's start, whitespace collapsed: what a list shows instead of the body.",
    )
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            f"setweight(to_tsvector('{SEARCH_CONFIG}', title), 'A') || "
            f"setweight(to_tsvector('{SEARCH_CONFIG}', body), 'B')",
            persisted=True,
        ),
        # Only ever used in WHERE clauses; loading it by accident raises.
        deferred=True,
        deferred_raiseload=True,
        # The migration raises this column's statistics target to 1000, so the planner's
        # estimate of a rare word is right and it picks the GIN index for selective searches.
        doc="Full-text document: title (weight A) and body (weight B).",
    )

    author: Mapped[User] = relationship(lazy="raise")
    tags: Mapped[list[Tag]] = relationship(
        secondary="post_tags", lazy="raise", order_by="Tag.name", passive_deletes=True
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="post", lazy="raise", passive_deletes=True
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="post", lazy="raise", passive_deletes=True, order_by="Attachment.id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read by SQLAlchemy


class Tag(Entity, Base):
    """A topic: a lower-case slug (`python`, `query-plans`), unique, shared by posts."""

    __tablename__ = "tags"
    __table_args__ = (
        CheckConstraint(f"name ~ '{TAG_PATTERN}'", name="name_slug"),
        CheckConstraint(f"char_length(name) <= {TAG_MAX}", name="name_length"),
    )

    name: Mapped[str] = mapped_column(String(TAG_MAX), unique=True)


class PostTag(Timestamped, Base):
    """Which tags a post has (many-to-many). The primary key (post_id, tag_id) indexes the
    post side; `ix_post_tags_tag_id_post_id` serves "posts with this tag"."""

    __tablename__ = "post_tags"
    __table_args__ = (Index("ix_post_tags_tag_id_post_id", "tag_id", "post_id"),)

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )


class Comment(Entity, Base):
    """A reader's comment on a published post. No column is nullable."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint(r"body ~ '\S'", name="body_not_blank"),
        CheckConstraint(f"char_length(body) <= {COMMENT_MAX}", name="body_length"),
        # A post's comments in creation order (UUIDv7 ids): the keyset of the comment list,
        # and the index of the foreign key.
        Index("ix_comments_post_id_id", "post_id", "id"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    body: Mapped[str] = mapped_column(Text)

    post: Mapped[Post] = relationship(back_populates="comments", lazy="raise")
    author: Mapped[User] = relationship(lazy="raise")


class Attachment(Entity, Base):
    """A file attached to a post. Only metadata lives here; the bytes are in blob storage
    under `storage_key` (`app.core.storage`). No column is nullable."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint(
            f"char_length(filename) BETWEEN 1 AND {FILENAME_MAX}", name="filename_length"
        ),
        CheckConstraint(
            "content_type ~ '^[a-z]+/[a-z0-9][a-z0-9.+-]*$'", name="content_type_format"
        ),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    content_type: Mapped[str] = mapped_column(String(CONTENT_TYPE_MAX))
    size: Mapped[int] = mapped_column(BigInteger, doc="Bytes.")
    sha256: Mapped[str] = mapped_column(String(64), doc="Hex SHA-256 of the bytes.")

    post: Mapped[Post] = relationship(back_populates="attachments", lazy="raise")
