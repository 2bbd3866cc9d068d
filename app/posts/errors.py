"""Failures of the posts domain, as problems."""

from __future__ import annotations

from app.core.errors import AppError, Conflict, Forbidden, NotFound, Unauthorized


class PostNotFound(NotFound):
    """Also for a post the caller may not see (another user's draft): 404, never 403, so a
    draft's existence doesn't leak."""

    def __init__(self) -> None:
        super().__init__("No such post.")


class AttachmentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such attachment.")


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such user.")


class NotPostAuthor(Forbidden):
    title = "Not the author"
    slug = "not-the-author"


class DraftsNeedSignIn(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Sign in to list your drafts.")


class PostNotPublished(Conflict):
    title = "Post not published"
    slug = "post-not-published"


class PreconditionRequired(AppError):
    """A write without `If-Match`: it could silently overwrite someone else's change."""

    status = 428
    title = "Precondition required"
    slug = "precondition-required"


class PreconditionFailed(AppError):
    """`If-Match` names a version that is no longer current: fetch, merge, retry."""

    status = 412
    title = "Precondition failed"
    slug = "precondition-failed"


class AttachmentTooLarge(AppError):
    status = 413
    title = "Attachment too large"
    slug = "attachment-too-large"


class UnsupportedAttachmentType(AppError):
    status = 415
    title = "Unsupported attachment type"
    slug = "unsupported-attachment-type"


class InvalidAttachment(AppError):
    status = 422
    title = "Invalid attachment"
    slug = "invalid-attachment"
