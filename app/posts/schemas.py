"""Request and response bodies of the posts routes.

A list item carries what a feed shows and nothing more (no body: no overfetching); the detail
adds the body, the status, the version and the attachments. Every nullable field says when
and why it is null.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.schemas import RequestBody, ResponseBody
from app.models.posts import (
    BODY_MAX,
    COMMENT_MAX,
    TAG_MAX,
    TAG_PATTERN,
    TITLE_MAX,
    PostStatus,
)

MAX_TAGS_PER_POST = 10


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _unique_sorted(tags: list[str]) -> list[str]:
    return sorted(set(tags))


TagName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TAG_MAX, pattern=TAG_PATTERN),
    # After the constraints in this list, so it wraps them: it runs first (and, unlike
    # before them, keeps the pattern in the JSON schema).
    BeforeValidator(_lower),
    Field(description="A lower-case slug: letters, digits and single hyphens.", examples=["sql"]),
]
TagList = Annotated[
    list[TagName],
    Field(max_length=MAX_TAGS_PER_POST, description=f"At most {MAX_TAGS_PER_POST} tags."),
    AfterValidator(_unique_sorted),
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX)]
Body = Annotated[
    str,
    StringConstraints(min_length=1, max_length=BODY_MAX),
    Field(description="Plain text or Markdown."),
]
CommentBody = Annotated[str, StringConstraints(min_length=1, max_length=COMMENT_MAX)]


class PostSort(StrEnum):
    """The orders a post list can be read in; each has an index that matches it."""

    NEWEST = "-published_at"
    OLDEST = "published_at"
    TITLE = "title"
    TITLE_DESC = "-title"


class ExportFormat(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"


class AuthorRef(ResponseBody):
    id: uuid.UUID
    full_name: str


class PostListItem(ResponseBody):
    """A post as a list shows it: no body (see `excerpt`)."""

    id: uuid.UUID
    title: str
    excerpt: str = Field(description="The first 200 characters of the body, whitespace collapsed.")
    author: AuthorRef
    tags: list[str]
    comment_count: int
    published_at: datetime | None = Field(
        description="When the post was published; null for a draft (only its author sees it)."
    )


class AttachmentRead(ResponseBody):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex SHA-256 of the content.")
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented usage
    @property
    def url(self) -> str:
        return f"/api/v1/attachments/{self.id}"


class PostRead(PostListItem):
    """A post in full. Its `ETag` is `"<version>"`; send it as `If-Match` to edit."""

    body: str
    status: PostStatus
    version: int = Field(description="Increments on every change (an edit, a new comment).")
    attachments: list[AttachmentRead]
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, tags: list[Any]) -> list[Any]:
        return [getattr(tag, "name", tag) for tag in tags]


class PostCreate(RequestBody):
    title: Title
    body: Body
    tags: TagList = Field(default_factory=list)
    status: PostStatus = Field(
        default=PostStatus.DRAFT, description="`published` publishes at once."
    )


class PostUpdate(RequestBody):
    """Only the fields sent change. `status: published` publishes a draft (now); `draft`
    unpublishes. Null is not a value of any field."""

    # `SkipJsonSchema[None]`: None means "not sent" here, so the schema doesn't offer null.
    title: Title | SkipJsonSchema[None] = None
    body: Body | SkipJsonSchema[None] = None
    tags: TagList | SkipJsonSchema[None] = Field(
        default=None, description="The complete new set of tags."
    )
    status: PostStatus | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _sent_fields_are_not_null(self) -> PostUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of title, body, tags, status")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class CommentCreate(RequestBody):
    body: CommentBody


class CommentRead(ResponseBody):
    id: uuid.UUID
    author: AuthorRef
    body: str
    created_at: datetime


class TagRead(ResponseBody):
    name: str
    post_count: int = Field(description="Published posts with this tag.")
