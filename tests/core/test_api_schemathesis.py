"""Property-based conformance of the running API to its own OpenAPI document (schemathesis).

Bounded: a fixed number of examples per operation and mode, with a deadline, so it belongs in
the suite. Every response must be documented (status, content type, headers, body schema) and no
request, valid or not, may cause a 5xx. Not checked: that every schema-valid request is accepted,
since rules across items (a repeated id, an unknown customer) and the email/phone syntax are
the validator's and not expressed in JSON Schema; such requests get a documented 422.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES_PER_OPERATION = 25


@pytest.mark.slow  # a fuzzing run of every operation
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_its_documentation(api, api_key, db, mode):
    # Some orders must find their customer, or every generated order would be a 422.
    db.customers.insert_many([{"customer_id": cid} for cid in ("0", "a", "C-1001")])
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /api/v1/customers",
        "POST /api/v1/orders",
        "GET /api/v1/customers/{customer_id}",
        "GET /healthz",
    }
    headers = {"Authorization": f"Bearer {api_key}"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
            continue  # nothing to get wrong (GET /healthz)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=10_000, database=None, suppress_health_check=list(HealthCheck)
        )
        def conforms(case):
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        conforms()


def _has_inputs(operation) -> bool:
    return bool(list(operation.iter_parameters()) or operation.get_request_payload_content_types())
