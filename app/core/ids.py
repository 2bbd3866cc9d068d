"""Primary keys: UUIDv7 (RFC 9562), generated in the application.

Time-ordered, so new rows land at the right-hand edge of the primary-key index like a sequence
would (no random page splits), yet not guessable or countable in URLs the way integers are.
PostgreSQL only gains a native `uuidv7()` in version 18, so the application generates them.
See docs/adr/0002-uuidv7-primary-keys.md.
"""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7 as _uuid7


def new_id() -> uuid.UUID:
    return _uuid7()
