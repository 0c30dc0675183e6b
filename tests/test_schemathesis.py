"""schemathesis against the server's generated OpenAPI, over real HTTP on 127.0.0.1.

Deterministic and bounded: derandomized hypothesis, a fixed number of examples per
operation, valid and invalid data alike, with every built-in check schemathesis has (a
declared status, a body and content type matching what is declared, no 5xx, invalid
data refused with a 4xx, valid data accepted), then a stateful run that follows the
OpenAPI links from the model list to each model.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from mlxk.server.app import ServerSettings
from mlxk.testing.embedders import BERT_NAME
from mlxk.testing.fixtures import build_cache
from mlxk.testing.live_server import live_server

HYPOTHESIS = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    hub = tmp_path_factory.mktemp("schemathesis") / "hub"
    build_cache(
        hub,
        ["mlx-community/TinyLlama-Chat-4bit", "mlx-community/TinyLlama-Base", BERT_NAME],
    )
    with live_server(ServerSettings(hub_cache=hub)) as url:
        yield schemathesis.openapi.from_url(url + "/openapi.json")


def _operations(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5, "the OpenAPI lists too few operations"
    return operations


def _strategy(operation):
    """Valid and invalid cases; an operation that takes nothing has no invalid ones."""
    takes = operation.path_parameters or operation.query or operation.headers or operation.body
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes else [])
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


# What a schema cannot say: /v1/embeddings refuses, with a 400, a model that is not an
# embedding model, a token id past the model's vocabulary and an input past its length,
# which schema-valid data is full of. Every other check still runs on it.
SCHEMA_CANNOT_SAY = {"POST /v1/embeddings": [checks.positive_data_acceptance]}


def _check(operation, excluded: list) -> None:
    @given(case=_strategy(operation))
    @settings(max_examples=60, **HYPOTHESIS)
    def run(case):
        case.call_and_validate(excluded_checks=excluded)  # every other built-in check

    run()


# spec: SRV-OPENAPI
def test_api_conforms_to_its_openapi(api_schema):
    # The schemathesis pytest plugin's lazy fixtures do not work with this pytest, so the
    # same check runs through its Python API: one bounded hypothesis run per operation.
    checked = []
    for operation in _operations(api_schema):
        _check(operation, SCHEMA_CANNOT_SAY.get(operation.label, []))
        checked.append(operation.label)
    assert "POST /v1/chat/completions" in checked
    assert "POST /v1/embeddings" in checked


# spec: SRV-OPENAPI
def test_api_holds_up_in_stateful_runs(api_schema):
    workflow = api_schema.as_state_machine()
    workflow.run(
        settings=settings(
            max_examples=15, stateful_step_count=4, phases=[Phase.generate], **HYPOTHESIS
        )
    )
