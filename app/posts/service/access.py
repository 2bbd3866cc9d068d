"""Who may see and change a post: the rules every posts service applies the same way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.models import PostStatus


@dataclass(frozen=True)
class Viewer:
    """The caller, reduced to what the posts rules need (built from the request's principal
    in `app/posts/dependencies.py`). The default is an anonymous reader."""

    user_id: uuid.UUID | None = None
    # posts:update:any (moderators): may read and edit anyone's posts, drafts included.
    may_edit_any: bool = False
    # posts:delete:any
    may_delete_any: bool = False

    def can_see(self, *, status: str, author_id: uuid.UUID) -> bool:
        """Published posts are public; a draft is seen by its author and moderators only."""
        return (
            status == PostStatus.PUBLISHED.value
            or (self.user_id is not None and author_id == self.user_id)
            or self.may_edit_any
        )

    def is_author(self, author_id: uuid.UUID) -> bool:
        return self.user_id is not None and author_id == self.user_id
