"""schemathesis over the server's OpenAPI description: no 5xx from any endpoint.

Bounded and deterministic (``derandomize``, a fixed number of examples per
operation); runs against the ASGI app in-process, as a staff user (who may
reach every branch), with a stored result so generated ids can meet real rows.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from server_helpers import signed

EXAMPLES = 30

pytestmark = pytest.mark.integration  # about half a minute


def test_no_operation_answers_5xx(app, client, actors, subunit_body):
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = actors["staff"].headers
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case) -> None:
            answer = case.call(headers=headers)
            if answer.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query or ''} "
                    f"-> {answer.status_code}: {answer.text[:300]}"
                )

        no_server_error()
    assert not failures, "\n".join(dict.fromkeys(failures))
