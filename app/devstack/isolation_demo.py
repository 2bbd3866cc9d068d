"""Two customers buy the last mug at the same moment: what each isolation strategy does.

    make isolation-demo          (or: uv run python -m app.devstack isolation-demo)

Runs three races against a scratch product with stock 1, on two real connections whose steps
are interleaved deterministically, and prints what happened:

1. READ COMMITTED, read-modify-write in application code: both read stock 1, both write 0,
   both sell. A lost update: two mugs sold, one in stock.
2. READ COMMITTED with `SELECT ... FOR UPDATE` (what `app/orders/repository.py::lock_products`
   does): the second reader waits for the first to commit, then reads 0 and refuses.
3. SERIALIZABLE without locks, retried on serialization failure: PostgreSQL aborts the second
   transaction (SQLSTATE 40001); its retry reads 0 and refuses.

The walkthrough is docs/guides/isolation-levels.md; tests/devstack/test_isolation_demo.py runs
this script and checks every outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

READ = "SELECT stock FROM products WHERE id = $1"
READ_FOR_UPDATE = "SELECT stock FROM products WHERE id = $1 FOR UPDATE"
WRITE = "UPDATE products SET stock = $2 WHERE id = $1"


@dataclass
class Outcome:
    strategy: str
    sold: int
    stock_left: int
    retries: int

    @property
    def oversold(self) -> bool:
        return self.sold > 1

    def line(self) -> str:
        verdict = "LOST UPDATE: sold more than there was" if self.oversold else "correct"
        return (
            f"{self.strategy:<38} sold {self.sold}, stock left {self.stock_left}, "
            f"retries {self.retries}: {verdict}"
        )


Buy = Callable[[asyncpg.Connection, uuid.UUID, asyncio.Event, asyncio.Event], Awaitable[bool]]


async def _race(dsn: str, product_id: uuid.UUID, buy: Buy) -> tuple[int, int]:
    """Customer A reads first and writes after B has read; returns (sold, retries)."""
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    a_read, b_read = asyncio.Event(), asyncio.Event()
    retries = 0

    async def customer(
        connection: asyncpg.Connection, mine: asyncio.Event, other: asyncio.Event
    ) -> bool:
        nonlocal retries
        for _attempt in range(3):
            try:
                return await buy(connection, product_id, mine, other)
            except asyncpg.SerializationError:
                retries += 1
                mine.set()  # on retry, don't wait for the other customer again
                other.set()
        return False

    try:
        results = await asyncio.gather(customer(a, a_read, b_read), customer(b, b_read, a_read))
    finally:
        await a.close()
        await b.close()
    return sum(results), retries


def _read_modify_write(read_sql: str, isolation: str) -> Buy:
    async def buy(
        connection: asyncpg.Connection,
        product_id: uuid.UUID,
        mine: asyncio.Event,
        other: asyncio.Event,
    ) -> bool:
        async with connection.transaction(isolation=isolation):
            stock = await connection.fetchval(read_sql, product_id)
            mine.set()
            if read_sql == READ:
                # Both customers have read before either writes: the race, made certain.
                await asyncio.wait_for(other.wait(), 5)
            if stock < 1:
                return False
            await connection.execute(WRITE, product_id, stock - 1)
            return True

    return buy


async def run_demo(dsn: str) -> list[Outcome]:
    """Runs the three races on a scratch product and removes it; returns the outcomes."""
    setup = await asyncpg.connect(dsn)
    outcomes = []
    try:
        strategies = [
            ("read committed, read then write", _read_modify_write(READ, "read_committed")),
            (
                "read committed, SELECT ... FOR UPDATE",
                _read_modify_write(READ_FOR_UPDATE, "read_committed"),
            ),
            ("serializable, retried on 40001", _read_modify_write(READ, "serializable")),
        ]
        for name, buy in strategies:
            product_id = uuid.uuid4()
            await setup.execute(
                "INSERT INTO products (id, sku, name, price_amount, currency, stock) "
                "VALUES ($1, $2, 'Last mug', 1200, 'EUR', 1)",
                product_id,
                f"ISOLATION-DEMO-{product_id.hex[:8].upper()}",
            )
            try:
                sold, retries = await _race(dsn, product_id, buy)
                stock = await setup.fetchval(READ, product_id)
                outcomes.append(
                    Outcome(strategy=name, sold=sold, stock_left=stock, retries=retries)
                )
            finally:
                await setup.execute("DELETE FROM products WHERE id = $1", product_id)
    finally:
        await setup.close()
    return outcomes


def main(dsn: str) -> int:
    print("Two customers, one mug in stock, the same instant:")  # noqa: T201 - a console demo
    for outcome in asyncio.run(run_demo(dsn)):
        print("  " + outcome.line())  # noqa: T201 - a console demo
    return 0
