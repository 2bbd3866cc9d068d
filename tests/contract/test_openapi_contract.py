"""Property-based contract tests: schemathesis generates requests for every operation of our
own OpenAPI document, as a member and as an admin, and checks every response against it: no
server errors, only declared status codes and content types, bodies matching their schemas.

The number of generated cases is printed at the end of the run (see docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ServiceUrls, make_settings
from tests.contract.server import ContractServer

CASES: dict[str, int] = {}
MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_server(services: ServiceUrls) -> Iterator[ContractServer]:
    with ContractServer(make_settings(services)) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(contract_server: ContractServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(contract_server.app.openapi())


schema = schemathesis.pytest.from_fixture("api_schema")


HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MARKS = pytest.mark.checklist(
    "api.validation", "api.error-format", "api.http-methods-status", "anti.sec.no-input-validation"
)
# One test function runs every operation's cases (over 2 000 requests), so the
# suite-wide 120 s per test is too tight for it on a loaded 2-core CI machine. A single hung
# request still fails the test: each call has its own 30 s timeout.
BUDGET = pytest.mark.timeout(600)


def _call_and_validate(case: schemathesis.Case, server: ContractServer, role: str) -> None:
    account = server.accounts[role]
    with server.isolated():
        case.call_and_validate(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {account.access_token}"},
            checks=CHECKS,
            timeout=30,
        )
    CASES[case.operation.label] = CASES.get(case.operation.label, 0) + 1


@MARKS
@BUDGET
@schema.parametrize()
@HYPOTHESIS
def test_every_operation_honours_its_contract_as_a_member(
    case: schemathesis.Case, contract_server: ContractServer
) -> None:
    _call_and_validate(case, contract_server, "member")


@MARKS
@BUDGET
@schema.parametrize()
@HYPOTHESIS
def test_every_operation_honours_its_contract_as_an_admin(
    case: schemathesis.Case, contract_server: ContractServer
) -> None:
    _call_and_validate(case, contract_server, "admin")


def teardown_module() -> None:
    total = sum(CASES.values())
    print(f"\nschemathesis: {total} generated cases over {len(CASES)} operations")  # noqa: T201
