"""The posts routes' parameters, who may call them, and the loaders that fetch a post the caller
may change."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from app.auth.dependencies import CurrentPrincipal, Perm, Principal, require
from app.core.config import AttachmentSettings
from app.core.db import SessionDep
from app.models import Post, PostStatus
from app.models.posts import TAG_MAX, TAG_PATTERN
from app.posts import service
from app.posts.schemas import PostSort

# --- parameters -------------------------------------------------------------------------

IfMatch = Annotated[
    str | None,
    Header(description="The post's ETag as you read it; the write fails (412) if it changed."),
]
SortParam = Annotated[
    PostSort,
    Query(description="Order of the list; drafts order by creation instead of publication."),
]
TagParam = Annotated[
    str | None,
    Query(pattern=TAG_PATTERN, max_length=TAG_MAX, description="Only posts with this tag."),
]
SearchParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description='Full-text search (web syntax: words, "a phrase", -without, or); '
        "results keep the chosen sort order.",
    ),
]
StatusParam = Annotated[
    PostStatus,
    Query(description="`draft` lists your own drafts (sign in); `published` is public."),
]
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


# --- policies and loaders ----------------------------------------------------------------

PostAuthor = Annotated[Principal, Depends(require(Perm.POSTS_CREATE))]
Commenter = Annotated[Principal, Depends(require(Perm.COMMENTS_CREATE))]


def viewer_of(principal: Principal | None) -> service.Viewer:
    """The caller as the posts rules see them (anonymous if None)."""
    if principal is None:
        return service.Viewer()
    return service.Viewer(
        user_id=principal.user_id,
        may_edit_any=principal.can(Perm.POSTS_UPDATE_ANY),
        may_delete_any=principal.can(Perm.POSTS_DELETE_ANY),
    )


async def editable_post(
    post_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> Post:
    """The post, if the caller may edit it (its author, or posts:update:any).
    404 if they can't see it (another user's draft), 403 if they see it but may not edit."""
    return await service.get_for_write(
        session, post_id=post_id, viewer=viewer_of(principal), action="update"
    )


async def deletable_post(
    post_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> Post:
    """The post, if the caller may delete it (its author, or posts:delete:any); 404 / 403
    as for editing."""
    return await service.get_for_write(
        session, post_id=post_id, viewer=viewer_of(principal), action="delete"
    )


EditablePost = Annotated[Post, Depends(editable_post)]
DeletablePost = Annotated[Post, Depends(deletable_post)]


async def get_attachment_settings(request: Request) -> AttachmentSettings:
    settings: AttachmentSettings = request.app.state.settings.attachments
    return settings


AttachmentSettingsDep = Annotated[AttachmentSettings, Depends(get_attachment_settings)]
