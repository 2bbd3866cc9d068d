"""The posts domain's rules: reading (cached, paginated), writing (versioned), comments,
attachments and export. Takes a session and plain values, flushes but never commits, raises
`app.posts.errors`; cache invalidation and blob deletion run after the commit (`on_commit`).

Other domains use posts only through this package.
"""

from app.posts.service.access import Viewer
from app.posts.service.attachments import (
    Download,
    add_attachment,
    find_download,
    open_content,
)
from app.posts.service.comments import add_comment, list_comments
from app.posts.service.export import MEDIA_TYPES, export_posts
from app.posts.service.posts import (
    Listing,
    PostDocument,
    PostQuery,
    create_post,
    delete_post,
    get_for_write,
    get_post_document,
    list_posts,
    list_user_posts,
    popular_tags,
    update_post,
)

__all__ = [
    "MEDIA_TYPES",
    "Download",
    "Listing",
    "PostDocument",
    "PostQuery",
    "Viewer",
    "add_attachment",
    "add_comment",
    "create_post",
    "delete_post",
    "export_posts",
    "find_download",
    "get_for_write",
    "get_post_document",
    "list_comments",
    "list_posts",
    "list_user_posts",
    "open_content",
    "popular_tags",
    "update_post",
]
