"""/posts, /tags, /attachments and a user's posts: the read-heavy domain.

Public GETs answer with an ETag and Cache-Control (304 on a matching `If-None-Match`). The
list routes return the JSON bytes the service's single query was serialized to, once; their
`response_model` documents the shape without validating the same data a second time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from app.auth.dependencies import CurrentPrincipal, OptionalPrincipal, Public
from app.core.cache import CacheDep
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import problem_responses
from app.core.pagination import DEFAULT_LIMIT, Cursor, CursorCodecDep, Limit, Page
from app.core.responses import NOT_MODIFIED, ConditionalGetDep, json_bytes, version_etag
from app.core.storage import CHUNK_BYTES, BlobStorageDep
from app.models import PostStatus
from app.posts import service
from app.posts.dependencies import (
    UPLOAD_BODY,
    AttachmentSettingsDep,
    Commenter,
    DeletablePost,
    EditablePost,
    IfMatch,
    PostAuthor,
    SearchParam,
    SortParam,
    StatusParam,
    TagParam,
    viewer_of,
)
from app.posts.errors import InvalidAttachment
from app.posts.schemas import (
    AttachmentRead,
    CommentCreate,
    CommentRead,
    ExportFormat,
    PostCreate,
    PostListItem,
    PostRead,
    PostSort,
    PostUpdate,
    TagRead,
)

router = APIRouter(tags=["posts"])


@router.get(
    "/posts",
    response_model=Page[PostListItem],
    responses={**NOT_MODIFIED, **problem_responses(401, 422)},
    summary="List posts (keyset-paginated, filterable, searchable)",
)
async def list_posts(
    *,
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    codec: CursorCodecDep,
    conditional: ConditionalGetDep,
    status: StatusParam = PostStatus.PUBLISHED,
    author_id: uuid.UUID | None = None,
    tag: TagParam = None,
    q: SearchParam = None,
    sort: SortParam = PostSort.NEWEST,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    # The hot path: the service's one query becomes plain dicts, serialized once to bytes
    # (which also give the ETag). Returning a Response skips FastAPI's validation and second
    # serialization of the same data; `response_model` still documents the shape, and
    # tests/posts/test_router.py validates real responses against it.
    query = service.PostQuery(
        status=status, author_id=author_id, tag=tag, q=q, sort=sort, cursor=cursor, limit=limit
    )
    listing = await service.list_posts(session, codec, viewer=viewer_of(principal), query=query)
    return conditional.respond(json_bytes(listing.page), public=listing.public)


@router.post(
    "/posts",
    status_code=201,
    response_model=PostRead,
    responses=problem_responses(401, 403, 422),
    summary="Write a post (a draft unless `status` is `published`)",
)
async def create_post(
    *,
    body: PostCreate,
    author: PostAuthor,
    session: SessionDep,
    cache: CacheDep,
    response: Response,
) -> PostRead:
    post = await service.create_post(
        session,
        cache,
        author_id=author.user_id,
        title=body.title,
        body=body.body,
        tags=body.tags,
        status=body.status,
    )
    response.headers["Location"] = f"/api/v1/posts/{post.id}"
    response.headers["ETag"] = version_etag(post.version)
    return PostRead.model_validate(post)


@router.get(
    "/posts/{post_id}",
    response_model=PostRead,
    responses={**NOT_MODIFIED, **problem_responses(404, 422)},
    summary="Read a post (cached; ETag and If-None-Match)",
)
async def read_post(
    *,
    post_id: uuid.UUID,
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    cache: CacheDep,
    conditional: ConditionalGetDep,
) -> Response:
    document = await service.get_post_document(
        session, cache, post_id=post_id, viewer=viewer_of(principal)
    )
    return conditional.respond(document.body, public=document.public, etag=document.etag)


@router.patch(
    "/posts/{post_id}",  # noqa: FAST003 - post_id is resolved by the EditablePost loader
    response_model=PostRead,
    responses=problem_responses(401, 403, 404, 412, 422, 428),
    summary="Edit a post (If-Match required: optimistic concurrency)",
)
async def update_post(
    *,
    body: PostUpdate,
    post: EditablePost,
    session: SessionDep,
    cache: CacheDep,
    response: Response,
    if_match: IfMatch = None,
) -> PostRead:
    updated = await service.update_post(
        session, cache, post, if_match=if_match, changes=body.changes()
    )
    response.headers["ETag"] = version_etag(updated.version)
    return PostRead.model_validate(updated)


@router.delete(
    "/posts/{post_id}",  # noqa: FAST003 - post_id is resolved by the DeletablePost loader
    status_code=204,
    responses=problem_responses(401, 403, 404, 412, 422),
    summary="Delete a post with its comments and attachments",
)
async def delete_post(
    *,
    post: DeletablePost,
    session: SessionDep,
    cache: CacheDep,
    storage: BlobStorageDep,
    if_match: IfMatch = None,
) -> None:
    await service.delete_post(session, cache, storage, post, if_match=if_match)


@router.get(
    "/posts/{post_id}/comments",
    response_model=Page[CommentRead],
    responses={**NOT_MODIFIED, **problem_responses(404, 422)},
    summary="A post's comments, oldest first (keyset-paginated)",
)
async def list_comments(
    *,
    post_id: uuid.UUID,
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    codec: CursorCodecDep,
    conditional: ConditionalGetDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    listing = await service.list_comments(
        session, codec, post_id=post_id, viewer=viewer_of(principal), cursor=cursor, limit=limit
    )
    return conditional.respond(json_bytes(listing.page), public=listing.public)


@router.post(
    "/posts/{post_id}/comments",
    status_code=201,
    response_model=CommentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Comment on a published post",
)
async def add_comment(
    *,
    post_id: uuid.UUID,
    body: CommentCreate,
    commenter: Commenter,
    session: SessionDep,
    cache: CacheDep,
) -> CommentRead:
    comment = await service.add_comment(
        session, cache, post_id=post_id, viewer=viewer_of(commenter), body=body.body
    )
    return CommentRead.model_validate(comment)


@router.post(
    "/posts/{post_id}/attachments",  # noqa: FAST003 - resolved by the EditablePost loader
    status_code=201,
    response_model=AttachmentRead,
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
    openapi_extra=UPLOAD_BODY,
    summary="Attach a file (multipart field `file`; size and type are limited)",
)
async def upload_attachment(
    *,
    post: EditablePost,
    request: Request,
    session: SessionDep,
    cache: CacheDep,
    storage: BlobStorageDep,
    settings: AttachmentSettingsDep,
    response: Response,
) -> AttachmentRead:
    # The body is parsed here, after the policy dependencies ran (a declared `UploadFile`
    # parameter would be parsed first): an unauthorized caller can't make the server spool
    # an upload. Starlette spools the file to disk past 1 MiB; it is then streamed to storage.
    async with request.form(max_files=1, max_fields=0) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidAttachment("Send the file as the multipart/form-data field `file`.")
        attachment = await service.add_attachment(
            session,
            cache,
            storage,
            settings,
            post,
            filename=upload.filename,
            content_type=upload.content_type,
            chunks=_chunks(upload),
        )
    response.headers["Location"] = f"/api/v1/attachments/{attachment.id}"
    return AttachmentRead.model_validate(attachment)


@router.get(
    "/attachments/{attachment_id}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        **NOT_MODIFIED,
        **problem_responses(404, 422),
    },
    summary="Download an attachment (streamed from storage)",
)
async def download_attachment(
    *,
    attachment_id: uuid.UUID,
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    storage: BlobStorageDep,
    conditional: ConditionalGetDep,
) -> Response:
    download = await service.find_download(
        session, attachment_id=attachment_id, viewer=viewer_of(principal)
    )
    headers = {
        "ETag": download.etag,
        "Cache-Control": conditional.cache_control(public=download.public),
        "Content-Disposition": download.content_disposition,
        "X-Content-Type-Options": "nosniff",
    }
    if conditional.not_modified(download.etag):
        return Response(status_code=304, headers=headers)
    content = await service.open_content(storage, download.attachment)
    headers["Content-Length"] = str(download.attachment.size)
    return StreamingResponse(content, media_type=download.attachment.content_type, headers=headers)


@router.get(
    "/tags",
    response_model=list[TagRead],
    dependencies=[Public],
    responses=NOT_MODIFIED,
    summary="The 100 most used tags with their published post counts (cached)",
)
async def list_tags(
    *, session: ReadSessionDep, cache: CacheDep, conditional: ConditionalGetDep
) -> Response:
    return conditional.respond(await service.popular_tags(session, cache), public=True)


@router.get(
    "/users/{user_id}/posts",
    response_model=Page[PostListItem],
    dependencies=[Public],
    responses={**NOT_MODIFIED, **problem_responses(404, 422)},
    tags=["users"],
    summary="A user's published posts",
)
async def list_user_posts(
    *,
    user_id: uuid.UUID,
    session: ReadSessionDep,
    codec: CursorCodecDep,
    conditional: ConditionalGetDep,
    sort: SortParam = PostSort.NEWEST,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    listing = await service.list_user_posts(
        session,
        codec,
        user_id=user_id,
        query=service.PostQuery(sort=sort, cursor=cursor, limit=limit),
    )
    return conditional.respond(json_bytes(listing.page), public=listing.public)


@router.get(
    "/users/me/posts/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {media_type: {} for media_type in service.MEDIA_TYPES.values()},
            "description": "Every post of yours, drafts included, oldest first.",
        },
        **problem_responses(401, 422),
    },
    tags=["users"],
    summary="Export all your posts as NDJSON or CSV (streamed)",
)
async def export_my_posts(
    *,
    principal: CurrentPrincipal,
    request: Request,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.NDJSON,
) -> StreamingResponse:
    # The request's session commits before the body streams, so the export opens its own
    # session from the app's sessionmaker for as long as the stream lasts.
    chunks = service.export_posts(
        request.app.state.sessionmaker, author_id=principal.user_id, fmt=fmt
    )
    return StreamingResponse(
        chunks,
        media_type=service.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="posts.{fmt.value}"'},
    )


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK_BYTES):
        yield chunk
