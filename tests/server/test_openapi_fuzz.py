"""schemathesis over the server's OpenAPI description: no 5xx, for any caller, on either database.

Bounded and deterministic (``derandomize``, a fixed number of examples per
operation), against the ASGI app in-process, with a stored result so
generated ids can meet real rows.  Each operation is fuzzed as three callers:
anonymous, a vendor (whose upload bodies are signed with its registered key,
so generated bodies reach ingest and storage, not only the signature check)
and staff (who may reach every branch); on SQLite and on PostgreSQL.
Every answer must be below 500, and a 2xx answer must match its documented
schema and content type.  At least :data:`MIN_CASES` cases per caller and
database, so more than 2000 in all.
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from server_helpers import signed

EXAMPLES = 25
MIN_CASES = 340  # x 3 callers x 2 databases > 2000
SIGNED_UPLOADS = {"/v1/results", "/v1/tcup/results"}

pytestmark = [
    pytest.mark.integration,  # 381 cases in a few seconds per caller and database
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]


def _signed_upload(client, case, key):
    """Send the generated upload exactly as generated, signed with ``key`` over its bytes."""
    body = case.body
    if case.media_type == "multipart/form-data" and isinstance(body, dict):
        files = {
            name: (name, value if isinstance(value, bytes) else str(value).encode())
            for name, value in body.items()
        }
        prepared = requests.Request("POST", "http://x/", files=files).prepare()
        data = prepared.body or b""
        content_type = prepared.headers.get("Content-Type", "multipart/form-data")
    elif isinstance(body, bytes):
        data, content_type = body, case.media_type or "application/octet-stream"
    else:
        data, content_type = json.dumps(body).encode(), "application/json"
    headers = {**dict(case.headers or {}), **signed(data, key), "Content-Type": content_type}
    return client.request(
        case.method, case.formatted_path, params=case.query, headers=headers, content=data
    )


@pytest.mark.parametrize("role", ["anonymous", "vendor_a", "staff"])
def test_no_operation_answers_5xx(app, client, actors, subunit_body, role):
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201, response.text
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    actor = actors[role]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    cases = 0

    def fuzz(operation, sign: bool) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case) -> None:
            nonlocal cases
            cases += 1
            if sign:
                answer = _signed_upload(client, case, actor.key)
            else:
                answer = case.call(headers=actor.headers)
            where = f"{role}: {case.method} {case.formatted_path} {case.query or ''}"
            if answer.status_code >= 500:
                failures.append(f"{where} -> {answer.status_code}: {answer.text[:300]}")
            elif answer.status_code < 300:
                try:
                    case.validate_response(
                        answer, checks=[response_schema_conformance, content_type_conformance]
                    )
                except Exception as exc:  # noqa: BLE001 - collect every failure, report all
                    failures.append(f"{where} -> {answer.status_code}: {str(exc)[:300]}")

        no_server_error()

    for operation in operations:
        upload = operation.method.upper() == "POST" and operation.path in SIGNED_UPLOADS
        fuzz(operation, sign=upload and actor.key is not None)
    print(f"{role}: {cases} cases over {len(operations)} operations")  # shown with -s
    assert not failures, "\n".join(dict.fromkeys(failures))
    assert cases >= MIN_CASES, f"only {cases} cases for {role}"
