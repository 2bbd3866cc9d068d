"""Closed-loop load for `make bench` (locust headless): each user sends its next request as
soon as the previous one answered. `tests/bench/__main__.py` picks the user classes of each
scenario on the command line; BENCH_SCENARIO and BENCH_DATA tell them what to request."""

from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

SCENARIO = os.environ.get("BENCH_SCENARIO", "list")
DATA = json.loads(Path(os.environ["BENCH_DATA_FILE"]).read_text())


class ListPosts(FastHttpUser):
    """The feed, 50 items with authors and tags, first page."""

    wait_time = constant(0)
    fixed_count = int(os.environ.get("BENCH_LIST_USERS", "0"))

    def on_start(self) -> None:
        # "signed_in": the same feed with a bearer token, which adds the session lookup.
        self.headers = {}
        if SCENARIO == "signed_in":
            self.headers = {"Authorization": f"Bearer {random.choice(DATA['tokens'])}"}

    @task
    def feed(self) -> None:
        path = "/posts?limit=50" if SCENARIO == "raw" else "/api/v1/posts?limit=50"
        self.client.get(path, headers=self.headers, name="list posts")


class PostDetail(FastHttpUser):
    wait_time = constant(0)

    @task
    def detail(self) -> None:
        ids = DATA["hot_post_ids"] if SCENARIO == "detail_cached" else DATA["post_ids"]
        self.client.get(f"/api/v1/posts/{random.choice(ids)}", name="post detail")


class Login(FastHttpUser):
    wait_time = constant(0)
    fixed_count = int(os.environ.get("BENCH_LOGIN_USERS", "0"))

    @task
    def login(self) -> None:
        account = random.choice(DATA["accounts"])
        self.client.post(
            "/api/v1/auth/token",
            data={"username": account["email"], "password": account["password"]},
            name="login",
        )


class PlaceOrder(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.token = random.choice(DATA["tokens"])

    @task
    def order(self) -> None:
        product = random.choice(DATA["product_ids"])
        self.client.post(
            "/api/v1/orders",
            json={"items": [{"product_id": product, "quantity": 1}]},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex},
            name="place order",
        )
