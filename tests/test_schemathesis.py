"""schemathesis against the server's generated OpenAPI, over real HTTP on 127.0.0.1.

Deterministic and bounded: derandomized hypothesis with a small number of examples per
operation. Every response must be a declared status with a body matching its declared
schema, and no request may produce a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mlxk.server.app import ServerSettings
from mlxk.testing.fixtures import build_cache
from mlxk.testing.live_server import live_server


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    hub = tmp_path_factory.mktemp("schemathesis") / "hub"
    build_cache(hub, ["mlx-community/TinyLlama-Chat-4bit", "mlx-community/TinyLlama-Base"])
    with live_server(ServerSettings(hub_cache=hub)) as url:
        yield schemathesis.openapi.from_url(url + "/openapi.json")


def _operations(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5, "the OpenAPI lists too few operations"
    return operations


# spec: SRV-OPENAPI
def test_api_conforms_to_its_openapi(api_schema):
    # The schemathesis pytest plugin's lazy fixtures do not work with this pytest, so the
    # same check runs through its Python API: one bounded hypothesis run per operation.
    checked = []
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate()

        run()
        checked.append(operation.label)
    assert "POST /v1/chat/completions" in checked
