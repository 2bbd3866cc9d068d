"""Demo content for `make run`: a few hundred posts with tags and comments by the demo accounts.

Generated from a fixed random seed (the same data on every machine) out of short texts about
the topics this service is built from, so the feed, the tag filter and the search have
something real to show. Inserted in bulk (one multi-row INSERT per table): a second or less.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.ids import new_id
from app.models import Comment, Post, PostStatus, PostTag, Tag

DEMO_POSTS = 240
DRAFT_SHARE = 0.1
MAX_COMMENTS = 9
RANDOM_SEED = 20261128


@dataclass(frozen=True)
class Topic:
    subjects: tuple[str, ...]
    tags: tuple[str, ...]
    sentences: tuple[str, ...]


TOPICS = (
    Topic(
        ("keyset pagination", "cursor-based pagination", "deep pages"),
        ("pagination", "sql", "api-design"),
        (
            "OFFSET makes the database read and throw away every row before the page.",
            "A keyset page starts where the last one ended: page 500 costs what page 1 costs.",
            "The cursor carries the sort key of the last item, signed so clients can't forge it.",
            "Rows inserted between two requests no longer shift items onto the next page.",
            "Every sort order needs an index whose columns match the ORDER BY, id last.",
        ),
    ),
    Topic(
        ("query plans", "EXPLAIN ANALYZE", "composite indexes"),
        ("indexes", "postgres", "performance"),
        (
            "A sequential scan is fine on a small table and a disaster on a large one.",
            "EXPLAIN shows the plan; EXPLAIN ANALYZE runs it and shows what really happened.",
            "Compare the estimated rows with the actual rows: a large gap means stale statistics.",
            "A partial index covers only the rows a query can match, so it stays small.",
            "An index on a foreign key makes deleting the parent row cheap.",
        ),
    ),
    Topic(
        ("cache stampedes", "cache invalidation", "Redis caching"),
        ("caching", "redis", "performance"),
        (
            "Cache-aside reads the cache first and fills it from the database on a miss.",
            "When a hot key expires, a hundred requests can recompute it at once.",
            "A short lock lets one request recompute while the others serve the stale copy.",
            "Invalidate after the commit, never before, or readers refill the old value.",
            "If Redis is down, answer from the database and log it: the cache is an optimisation.",
        ),
    ),
    Topic(
        ("N+1 queries", "eager loading", "lazy loading"),
        ("orm", "sql", "performance"),
        (
            "Ten rows, eleven queries: the classic N+1 hides in a template loop.",
            "Making every relationship raise on lazy load turns the bug into a test failure.",
            "Select only the columns the page shows, aggregated in the same query.",
            "Count the statements a request sends and assert the number stays constant.",
            "selectinload issues one extra query per relationship, whatever the number of rows.",
        ),
    ),
    Topic(
        ("transactions", "optimistic locking", "lost updates"),
        ("transactions", "postgres", "concurrency"),
        (
            "Two editors read version 3; the second save must fail instead of winning silently.",
            "An If-Match header turns a lost update into a 412 the client can handle.",
            "A counter updated with count = count + 1 stays exact under concurrency.",
            "Commit before the response is sent, so a failed commit is never a 200.",
            "Side effects that must follow a commit go through an outbox table.",
        ),
    ),
    Topic(
        ("background jobs", "Celery workers", "retries with backoff"),
        ("queues", "celery", "reliability"),
        (
            "A task acknowledged late is redelivered if its worker dies halfway.",
            "Redelivery means every task must be safe to run twice.",
            "Exponential backoff with jitter keeps retries from arriving in waves.",
            "Heavy work belongs in a worker, not in the request that waits for it.",
            "A dead-letter queue keeps the messages that failed too many times.",
        ),
    ),
    Topic(
        ("API versioning", "error responses", "problem details"),
        ("api-design", "http", "rest"),
        (
            "Every error has the same shape, so clients write one error handler.",
            "A 422 lists every invalid field without echoing the value back.",
            "A breaking change gets a new version; the old one keeps working until its sunset.",
            "201 with a Location header tells the client where the new resource lives.",
            "ETags let clients revalidate instead of downloading the same bytes again.",
        ),
    ),
    Topic(
        ("password hashing", "API keys", "token rotation"),
        ("security", "auth", "api-design"),
        (
            "Store a slow, salted hash of the password, never the password.",
            "A refresh token used twice means two parties hold it: end the whole session.",
            "Only a keyed hash of an API key is stored; the key is shown once.",
            "Logs are the most common place credentials leak from.",
            "Rotating a key should leave a grace period for deployments to switch over.",
        ),
    ),
    Topic(
        ("connection pools", "timeouts", "circuit breakers"),
        ("reliability", "postgres", "performance"),
        (
            "A pool sized by defaults is a pool nobody sized.",
            "Waiting forever for a connection turns a slow database into a full outage.",
            "A circuit breaker stops calling a provider that is clearly down.",
            "Every outbound call needs a timeout, and every retry a budget.",
            "Pre-ping on checkout costs a round trip and saves a failed request after a restart.",
        ),
    ),
)
ANGLES = (
    "{subject}, explained",
    "{subject} in practice",
    "What we got wrong about {subject}",
    "A checklist for {subject}",
    "{subject}: lessons from production",
    "Testing {subject}",
    "Measuring {subject}",
    "{subject} without surprises",
    "A short guide to {subject}",
    "Getting {subject} right",
)
COMMENTS = (
    "This saved me an afternoon, thank you.",
    "We hit exactly this last month. The EXPLAIN output was an eye-opener.",
    "Could you write a follow-up about the edge cases?",
    "How does this behave with a read replica?",
    "Great write-up. The test that counts queries is a neat trick.",
    "I'd add a note about monitoring this in production.",
    "We do something similar, but with a shorter TTL.",
    "Clear and to the point. Bookmarked.",
    "Does this still hold at ten times the traffic?",
    "The part about invalidating after the commit was new to me.",
)


@dataclass
class DemoContent:
    posts: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


def generate(author_ids: list[uuid.UUID], *, now: datetime, count: int = DEMO_POSTS) -> DemoContent:
    """`count` posts by `author_ids` (every tenth or so a draft), tagged by topic, with up to
    nine comments each from the other authors. Deterministic for the same inputs."""
    rng = random.Random(RANDOM_SEED)  # noqa: S311 - demo text, not cryptography
    titles = [
        (topic, angle.format(subject=subject))
        for topic in TOPICS
        for subject in topic.subjects
        for angle in ANGLES
    ]
    content = DemoContent()
    for topic, title in rng.sample(titles, k=min(count, len(titles))):
        post_id, author_id = new_id(), rng.choice(author_ids)
        draft = rng.random() < DRAFT_SHARE
        created = now - timedelta(days=rng.uniform(1, 365))
        published = None if draft else created + timedelta(hours=rng.uniform(1, 48))
        comment_count = 0 if draft else rng.randint(0, MAX_COMMENTS)
        content.posts.append(
            {
                "id": post_id,
                "author_id": author_id,
                "title": title[0].upper() + title[1:],
                "body": _body(rng, topic),
                "status": PostStatus.DRAFT.value if draft else PostStatus.PUBLISHED.value,
                "published_at": published,
                "comment_count": comment_count,
                "created_at": created,
                "updated_at": published or created,
            }
        )
        tags = {*rng.sample(topic.tags, k=2), *([rng.choice(TOPICS).tags[0]] * rng.randint(0, 1))}
        content.links += [(post_id, tag) for tag in sorted(tags)]
        for _ in range(comment_count):
            assert published is not None  # noqa: S101 - drafts have no comments (count is 0)
            commenter = rng.choice([user for user in author_ids if user != author_id] or author_ids)
            at = min(published + timedelta(hours=rng.uniform(0.5, 24 * 30)), now)
            content.comments.append(
                {
                    "id": new_id(),
                    "post_id": post_id,
                    "author_id": commenter,
                    "body": rng.choice(COMMENTS),
                    "created_at": at,
                    "updated_at": at,
                }
            )
    return content


def _body(rng: random.Random, topic: Topic) -> str:
    paragraphs = []
    for _ in range(rng.randint(3, 6)):
        sentences = rng.sample(topic.sentences, k=rng.randint(2, 4))
        if rng.random() < 0.3:
            sentences.append(rng.choice(rng.choice(TOPICS).sentences))
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


async def seed_demo_posts(session: AsyncSession, author_ids: list[uuid.UUID]) -> DemoContent | None:
    """Inserts the demo content unless these authors already have posts (idempotent).
    Flushes; the caller commits."""
    if await session.scalar(select(exists().where(Post.author_id.in_(author_ids)))):
        return None
    content = generate(author_ids, now=datetime.now(UTC))
    names = sorted({tag for _, tag in content.links})
    await session.execute(
        pg_insert(Tag)
        .values([{"id": new_id(), "name": name} for name in names])
        .on_conflict_do_nothing(index_elements=[Tag.name])
    )
    rows = await session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))
    tag_ids: dict[str, uuid.UUID] = dict(rows.all())
    await session.execute(insert(Post), content.posts)
    await session.execute(
        insert(PostTag), [{"post_id": post, "tag_id": tag_ids[tag]} for post, tag in content.links]
    )
    if content.comments:
        await session.execute(insert(Comment), content.comments)
    return content
