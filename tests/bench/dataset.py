"""The benchmark's data set, inserted by SQL in bulk: 10 000 users, 100 000 posts (about 5%
drafts) with 0-3 of 50 tags and 0-4 comments each, 1 000 products.

Every user has the same real argon2id password hash (production parameters), so sign-in
costs what it costs in production.
"""

from __future__ import annotations

import asyncpg

from app.auth.passwords import PasswordHasher
from app.core.config import AuthSettings

USERS = 10_000
POSTS = 100_000
TAGS = 50
PRODUCTS = 1_000
PASSWORD = "bench-password-1234"

WORDS = [
    "index",
    "query",
    "plan",
    "cache",
    "latency",
    "throughput",
    "request",
    "response",
    "database",
    "postgres",
    "redis",
    "worker",
    "queue",
    "retry",
    "timeout",
    "circuit",
    "breaker",
    "outbox",
    "idempotent",
    "transaction",
    "commit",
    "rollback",
    "isolation",
    "lock",
    "row",
    "table",
    "column",
    "schema",
    "migration",
    "rollout",
    "deploy",
    "release",
    "version",
    "api",
    "endpoint",
    "resource",
    "cursor",
    "page",
    "keyset",
    "offset",
    "filter",
    "sort",
    "search",
    "token",
    "session",
    "password",
    "hash",
    "argon",
    "bcrypt",
    "scope",
    "role",
    "permission",
    "owner",
    "admin",
    "member",
    "moderator",
    "order",
    "product",
    "stock",
    "price",
    "payment",
    "webhook",
    "signature",
    "event",
    "replay",
    "consistent",
    "eventual",
    "partition",
    "replica",
    "primary",
    "failover",
    "backup",
    "restore",
    "vacuum",
    "analyze",
    "statistics",
    "planner",
    "estimate",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "at",
    "by",
    "from",
    "this",
    "be",
    "are",
    "was",
    "were",
    "not",
    "we",
    "you",
    "they",
    "our",
    "your",
    "their",
    "about",
    "into",
    "over",
    "under",
    "after",
    "before",
    "between",
    "during",
    "without",
    "fast",
    "slow",
    "small",
    "large",
    "simple",
    "careful",
    "honest",
    "clear",
    "real",
    "every",
    "each",
    "some",
    "many",
    "few",
]

# A UUIDv7 for a timestamp, in SQL (PostgreSQL 16 has no uuidv7()): 48 bits of milliseconds,
# version 7, then random bits with the RFC 9562 variant.
UUID7 = (
    "(lpad(to_hex(floor(extract(epoch from {ts}) * 1000)::bigint), 12, '0') || '7' "
    "|| substr(md5(random()::text || {salt}), 1, 3) || '8' "
    "|| substr(md5(random()::text || {salt}), 1, 15))::uuid"
)


def _uuid7(ts: str, salt: str) -> str:
    return UUID7.format(ts=ts, salt=salt)


async def seed(url: str) -> dict[str, object]:
    """Creates the data set; returns what the load scenarios need (ids, accounts)."""
    password_hash = await PasswordHasher(AuthSettings()).hash(PASSWORD)
    connection = await asyncpg.connect(url)
    try:
        words = WORDS
        await connection.execute("SET synchronous_commit = off")
        await connection.execute(
            f"""
            INSERT INTO users (id, email, full_name, password_hash, created_at, updated_at)
            SELECT {_uuid7("now() - interval '3 years' + i * interval '2 hours'", "i")},
                   'user' || i || '@bench.example',
                   initcap(($1::text[])[1 + (i * 7) % cardinality($1::text[])]) || ' ' ||
                   initcap(($1::text[])[1 + (i * 13) % cardinality($1::text[])]),
                   $2, now(), now()
            FROM generate_series(1, {USERS}) AS i
            """,
            words,
            password_hash,
        )
        await connection.execute(
            "INSERT INTO user_roles (user_id, role_id) "
            "SELECT u.id, r.id FROM users u, roles r WHERE r.name = 'member'"
        )
        await connection.execute(
            f"""
            INSERT INTO tags (id, name)
            SELECT {_uuid7("now()", "i")}, ($1::text[])[i] || '-' || i
            FROM generate_series(1, {TAGS}) AS i
            """,
            words,
        )
        await connection.execute(
            f"""
            WITH authors AS (SELECT array_agg(id) AS ids FROM users)
            INSERT INTO posts (id, author_id, title, body, status, published_at, created_at,
                               updated_at)
            SELECT {_uuid7("t.at", "i")},
                   authors.ids[1 + floor(random() * {USERS})::int],
                   initcap(array_to_string(ARRAY(
                       SELECT ($1::text[])[1 + floor(random() * cardinality($1::text[]))::int]
                       FROM generate_series(1, 4 + i % 5) WHERE i > 0), ' ')),
                   array_to_string(ARRAY(
                       SELECT ($1::text[])[1 + floor(random() * cardinality($1::text[]))::int]
                       FROM generate_series(1, 60 + i % 120) WHERE i > 0), ' '),
                   CASE WHEN i % 20 = 0 THEN 'draft' ELSE 'published' END,
                   CASE WHEN i % 20 = 0 THEN NULL ELSE t.at END,
                   t.at, t.at
            FROM generate_series(1, {POSTS}) AS i, authors,
                 LATERAL (SELECT now() - (random() * interval '730 days') AS at) AS t
            """,
            words,
        )
        await connection.execute(
            """
            INSERT INTO post_tags (post_id, tag_id)
            SELECT p.id, t.id
            FROM posts p
            CROSS JOIN LATERAL (
                SELECT id FROM tags WHERE p.id IS NOT NULL
                ORDER BY random() LIMIT abs(hashtext(p.id::text)) % 4
            ) AS t
            """
        )
        await connection.execute(
            f"""
            WITH authors AS (SELECT array_agg(id) AS ids FROM users)
            INSERT INTO comments (id, post_id, author_id, body)
            SELECT {_uuid7("now()", "p.id::text || n")}, p.id,
                   authors.ids[1 + floor(random() * {USERS})::int],
                   'Thanks, ' || ($1::text[])[1 + (n * 11) % cardinality($1::text[])] || ' helps.'
            FROM posts p, authors,
                 LATERAL generate_series(1, abs(hashtext(p.id::text || 'c')) % 5) AS n
            WHERE p.status = 'published'
            """,
            words,
        )
        await connection.execute(
            "UPDATE posts SET comment_count = c.n "
            "FROM (SELECT post_id, count(*) AS n FROM comments GROUP BY post_id) AS c "
            "WHERE posts.id = c.post_id"
        )
        await connection.execute(
            f"""
            INSERT INTO products (id, sku, name, price_amount, currency, stock, is_active)
            SELECT {_uuid7("now()", "i")}, 'BENCH-' || lpad(i::text, 5, '0'),
                   initcap(($1::text[])[1 + i % cardinality($1::text[])]) || ' ' || i,
                   100 + (i * 37) % 10000, 'EUR', 1000000, true
            FROM generate_series(1, {PRODUCTS}) AS i
            """,
            words,
        )
        # Vacuum and checkpoint now, not during a scenario: left to autovacuum (a minute after
        # the inserts) and the checkpointer, both land on one of the measurements and stall it.
        await connection.execute("VACUUM (ANALYZE)")
        await connection.execute("CHECKPOINT")
        post_ids = await connection.fetch(
            "SELECT id FROM posts WHERE status = 'published' ORDER BY random() LIMIT 20000"
        )
        products = await connection.fetch("SELECT id FROM products")
        emails = await connection.fetch("SELECT email FROM users ORDER BY random() LIMIT 200")
    finally:
        await connection.close()
    return {
        "post_ids": [str(row["id"]) for row in post_ids],
        "hot_post_ids": [str(row["id"]) for row in post_ids[:20]],
        "product_ids": [str(row["id"]) for row in products],
        "accounts": [{"email": row["email"], "password": PASSWORD} for row in emails],
    }
