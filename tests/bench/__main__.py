"""`make bench`: the service under load, next to the raw ceiling of its stack.

    make bench                      # BENCH_SECONDS=15 per scenario by default

1. PostgreSQL and Redis: BENCH_DATABASE_URL / BENCH_REDIS_URL if set, else the embedded
   servers `make run` uses (data under .data/bench/).
2. A fresh `bench` database, migrated, with the data set of `tests/bench/dataset.py`.
3. The service as in production (uvicorn, one process, no reload, APP_ENV=prod, JSON access
   log) and the raw baseline (`tests/bench/raw_app.py`) on loopback ports.
4. locust, headless, 32 concurrent users, closed loop, per scenario: a warm-up, then
   BENCH_SECONDS measured; SQL statements per request from the service's own counter.
5. The results (machine, versions, date) into docs/performance.md between its markers, and
   .data/bench/results.json.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from app.devstack.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from app.devstack.migrate import upgrade_to_head
from tests.bench import dataset

ROOT = Path(__file__).resolve().parents[2]
WORKDIR = ROOT / ".data" / "bench"
REPORT = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
USERS = 32
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
WARMUP_SECONDS = 4


def say(line: str) -> None:
    print(f"bench | {line}", flush=True)  # noqa: T201


@dataclass
class Result:
    scenario: str
    target: str
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    failures: int
    queries_per_request: float | None
    server_cpu_ms: float | None = None


# --- servers -----------------------------------------------------------------------------------


def _servers(stack: ExitStack) -> tuple[str, str]:
    database = os.environ.get("BENCH_DATABASE_URL")
    redis = os.environ.get("BENCH_REDIS_URL")
    if database is None:
        postgres = stack.enter_context(EmbeddedPostgres(WORKDIR / "postgres", database="postgres"))
        database = postgres.url("postgres")
    if redis is None:
        redis = stack.enter_context(EmbeddedRedis(WORKDIR / "redis", persist=False)).url
    return database, redis


async def _fresh_database(server_url: str) -> str:
    url = make_url(server_url)
    admin = await asyncpg.connect(_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        await admin.execute('DROP DATABASE IF EXISTS "bench" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "bench"')
    finally:
        await admin.close()
    return url.set(database="bench").render_as_string(hide_password=False)


def _dsn(sqlalchemy_url: str) -> str:
    """The plain libpq URL asyncpg takes (no +asyncpg driver suffix)."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _service_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    key = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "APP_ENV": "prod",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": "bench:",
        "SECRET_KEY": key,
        "AUTH_JWT_KEYS": json.dumps({"bench-1": key}),
        "AUTH_JWT_ACTIVE_KID": "bench-1",
        "AUTH_API_KEY_PEPPER": key,
        "PAYMENTS_BASE_URL": "https://payments.bench.invalid",
        "PAYMENTS_API_KEY": key,
        "PAYMENTS_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(32),
        "WEBHOOKS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "METRICS_TOKEN": "bench-metrics-token",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "INFO",
    }
    env.update(overrides)
    return env


@dataclass
class Server:
    url: str
    process: psutil.Process

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)


@contextmanager
def _uvicorn(target: str, env: dict[str, str], *, factory: bool) -> Any:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1",
               "--port", str(port), "--no-server-header"]  # fmt: skip
    if factory:
        command.append("--factory")
    log = (WORKDIR / f"{target.split(':', maxsplit=1)[0]}.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{target} exited; see {log.name}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield Server(url=url, process=psutil.Process(process.pid))
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


# --- load --------------------------------------------------------------------------------------


def _statements(url: str) -> float | None:
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        f"{url}/metrics", headers={"Authorization": "Bearer bench-metrics-token"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            text = response.read().decode()
    except OSError:
        return None
    match = re.search(r"^db_statements_total ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else None


def _locust(url: str, classes: list[str], scenario: str, data: dict[str, Any], seconds: int,
            extra_env: dict[str, str] | None = None) -> dict[str, dict[str, str]]:  # fmt: skip
    prefix = WORKDIR / ("locust-" + re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-"))
    data_file = WORKDIR / "scenario-data.json"
    data_file.write_text(json.dumps(data))
    env = {**os.environ, "BENCH_DATA_FILE": str(data_file), **(extra_env or {})}
    # locust exits 1 when any request failed; failures are counted and reported, not fatal.
    subprocess.run(  # noqa: S603, PLW1510 - a fixed command line; the exit code is not the result
        [sys.executable, "-m", "locust", "-f", str(ROOT / "tests/bench/locustfile.py"),
         "--headless", "-u", str(USERS), "-r", str(USERS), "-t", f"{seconds}s",
         "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
         *classes],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(WORKDIR / "locust.log").open("a"),
    )  # fmt: skip
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def run_scenario(
    scenario: str,
    server: Server,
    classes: list[str],
    data: dict[str, Any],
    *,
    report: list[str],
    target: str = "service",
    extra_env: dict[str, str] | None = None,
) -> list[Result]:
    url = server.url
    say(f"{scenario}: warming up")
    _locust(url, classes, scenario, data, WARMUP_SECONDS, extra_env)
    before = _statements(url) if target == "service" else None
    say(f"{scenario}: measuring {SECONDS} s at {USERS} users")
    cpu_before = server.cpu_seconds()
    stats = _locust(url, classes, scenario, data, SECONDS, extra_env)
    cpu = server.cpu_seconds() - cpu_before
    after = _statements(url) if target == "service" else None
    total = sum(int(stats[name]["Request Count"]) for name in report) or 1
    results = []
    for name in report:
        row = stats[name]
        count = int(row["Request Count"])
        queries = None
        if before is not None and after is not None and len(report) == 1 and count:
            queries = (after - before) / count
        if target == "raw":
            queries = 1.0  # one hand-written query per request, by construction
        results.append(
            Result(
                scenario=scenario,
                target=target,
                requests_per_second=float(row["Requests/s"]),
                p50_ms=float(row["50%"]),
                p95_ms=float(row["95%"]),
                p99_ms=float(row["99%"]),
                requests=count,
                failures=int(row["Failure Count"]),
                queries_per_request=queries,
                # The server's CPU time per request (all its requests, if several kinds).
                server_cpu_ms=cpu * 1000 / total,
            )
        )
    for result in results:
        say(
            f"  {result.scenario} [{report[results.index(result)]}]: "
            f"{result.requests_per_second:.0f} req/s, p99 {result.p99_ms:.0f} ms, "
            f"{result.failures} failures, {result.server_cpu_ms:.2f} ms server CPU/request"
        )
    return results


async def _tokens(url: str, data: dict[str, Any], count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tokens = []
        for account in data["accounts"][:count]:
            response = await client.post(
                "/api/v1/auth/token",
                data={"username": account["email"], "password": account["password"]},
            )
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
        return tokens


# --- report -------------------------------------------------------------------------------------


def _machine(database_url: str, redis_url: str) -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = match.group(1).strip() if match else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"MemTotal:\s*(\d+)", meminfo.read_text())
        memory = f"{int(match.group(1)) // 1024 // 1024} GiB" if match else ""

    async def server_versions() -> tuple[str, str]:
        connection = await asyncpg.connect(_dsn(database_url))
        try:
            postgres = await connection.fetchval("SHOW server_version")
        finally:
            await connection.close()
        import redis.asyncio as aioredis  # noqa: PLC0415

        client = aioredis.Redis.from_url(redis_url)
        try:
            info = await client.info("server")
        finally:
            await client.aclose()
        return str(postgres), str(info.get("redis_version"))

    postgres, redis = asyncio.run(server_versions())
    packages = ["fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "pydantic",
                "orjson", "limits", "locust"]  # fmt: skip
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "redis": redis,
        "packages": ", ".join(f"{name} {version(name)}" for name in packages),
    }


def _table(results: list[Result], baseline: float) -> str:
    lines = [
        "| Scenario | Target | req/s | p50 ms | p95 ms | p99 ms | Requests | Failures "
        "| SQL/request | server CPU ms/request | vs raw |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        queries = f"{r.queries_per_request:.2f}" if r.queries_per_request is not None else "—"
        ratio = f"{r.requests_per_second / baseline:.0%}" if r.scenario.startswith("list") else ""
        lines.append(
            f"| {r.scenario} | {r.target} | {r.requests_per_second:.0f} | {r.p50_ms:.0f} | "
            f"{r.p95_ms:.0f} | {r.p99_ms:.0f} | {r.requests} | {r.failures} | {queries} | "
            f"{r.server_cpu_ms or 0:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def write_report(results: list[Result], machine: dict[str, str]) -> None:
    by_name = {(r.scenario, r.target): r for r in results}
    raw = by_name[("list posts (raw baseline)", "raw")]
    first = by_name[("list posts", "service")]
    again = by_name.get(("list posts, again", "service"), first)
    service_rps = (first.requests_per_second + again.requests_per_second) / 2
    service = first
    limited = by_name.get(("list posts, rate limiter on", "service"))
    burst = by_name.get(("list posts during a login burst", "service"))
    ratio = service_rps / raw.requests_per_second
    checks = [
        ("list posts >= 40% of the raw baseline", ratio >= 0.40, f"{ratio:.0%}"),
        ("list posts p99 < 100 ms", max(first.p99_ms, again.p99_ms) < 100,
         f"{first.p99_ms:.0f} / {again.p99_ms:.0f} ms"),
        ("constant SQL per list request", service.queries_per_request is not None
         and abs(service.queries_per_request - 1) < 0.05,
         f"{service.queries_per_request:.2f}" if service.queries_per_request else "?"),
    ]  # fmt: skip
    if limited:
        cost = 1 - limited.requests_per_second / service_rps
        checks.append(("rate limiter costs <= 10% of list throughput", cost <= 0.10, f"{cost:.0%}"))
    if burst:
        checks.append(
            ("list p99 during a login burst < 100 ms", burst.p99_ms < 100, f"{burst.p99_ms:.0f} ms")
        )
    lines = [
        BEGIN,
        f"Measured {machine['date']} on {machine['cpu']}, {machine['memory']} ({machine['os']}); "
        f"Python {machine['python']}, PostgreSQL {machine['postgresql']}, Redis "
        f"{machine['redis']}; {machine['packages']}.",
        "",
        f"Data: {dataset.USERS:,} users, {dataset.POSTS:,} posts (5% drafts) with 0-3 of "
        f"{dataset.TAGS} tags and 0-4 comments, {dataset.PRODUCTS:,} products. Load: locust, "
        f"{USERS} concurrent users in a closed loop, {SECONDS} s per scenario after a "
        f"{WARMUP_SECONDS} s warm-up; the service and the load generator share the machine.",
        "",
        _table(results, raw.requests_per_second),
        "",
        "| Target | Result | |",
        "|---|---|---|",
        *(f"| {name} | {value} | {'met' if ok else '**not met**'} |" for name, ok, value in checks),
        END,
    ]
    text = REPORT.read_text() if REPORT.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    REPORT.write_text(before + "\n".join(lines) + after)
    (WORKDIR / "results.json").write_text(
        json.dumps({"machine": machine, "results": [asdict(r) for r in results]}, indent=2)
    )


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    WORKDIR.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    with ExitStack() as stack:
        server_url, redis_url = _servers(stack)
        database_url = asyncio.run(_fresh_database(server_url))
        say("migrating")
        upgrade_to_head(database_url)
        say("seeding (takes a minute)")
        started = time.monotonic()
        data = asyncio.run(dataset.seed(_dsn(database_url)))
        say(f"seeded in {time.monotonic() - started:.0f} s")
        machine = _machine(database_url, redis_url)

        raw_env = {**os.environ, "RAW_DATABASE_URL": _dsn(database_url)}
        with _uvicorn("tests.bench.raw_app:app", raw_env, factory=False) as server:
            results += run_scenario("list posts (raw baseline)", server, ["ListPosts"], data,
                                    report=["list posts"], target="raw",
                                    extra_env={"BENCH_SCENARIO": "raw"})  # fmt: skip

        env = _service_env(database_url, redis_url)
        with _uvicorn("app.main:create_app", env, factory=True) as server:
            data["tokens"] = asyncio.run(_tokens(server.url, data, USERS))
            results += run_scenario(
                "list posts", server, ["ListPosts"], data, report=["list posts"]
            )
            results += run_scenario("list posts, signed in", server, ["ListPosts"], data,
                                    report=["list posts"],
                                    extra_env={"BENCH_SCENARIO": "signed_in"})  # fmt: skip
            results += run_scenario("post detail, cached", server, ["PostDetail"],
                                    data, report=["post detail"],
                                    extra_env={"BENCH_SCENARIO": "detail_cached"})  # fmt: skip
            results += run_scenario("post detail, uncached", server, ["PostDetail"], data,
                                    report=["post detail"],
                                    extra_env={"BENCH_SCENARIO": "detail_uncached"})  # fmt: skip
            results += run_scenario("login", server, ["Login"], data, report=["login"])
            results += run_scenario("list posts during a login burst", server,
                                    ["ListPosts", "Login"], data, report=["list posts"],
                                    extra_env={"BENCH_LIST_USERS": "24",
                                               "BENCH_LOGIN_USERS": "8"})  # fmt: skip
            results += run_scenario("place order", server, ["PlaceOrder"], data,
                                    report=["place order"])  # fmt: skip

        limited_env = _service_env(database_url, redis_url, RATE_LIMIT_ENABLED="true",
                                   RATE_LIMIT_DEFAULT="100000000/minute")  # fmt: skip
        with _uvicorn("app.main:create_app", limited_env, factory=True) as server:
            results += run_scenario("list posts, rate limiter on", server, ["ListPosts"], data,
                                    report=["list posts"])  # fmt: skip
        # The same run once more, limiter off, after everything else: on a shared machine one
        # run's noise is ~10%, so ratios use the mean of the two.
        with _uvicorn("app.main:create_app", env, factory=True) as server:
            results += run_scenario("list posts, again", server, ["ListPosts"], data,
                                    report=["list posts"])  # fmt: skip

        write_report(results, machine)
    say(f"results written to {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
