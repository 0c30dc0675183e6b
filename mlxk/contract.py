"""The JSON contract: load the schemas in ``schemas/`` and validate payloads against them.

Installed from a wheel, the schemas live in ``mlxk/schemas``; in a source checkout they
are read from the repository's top-level ``schemas/`` folder. Either way there is one
copy of the contract, and the code reads it from there.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

JSON_API_SPEC_VERSION = "1.0.0"
API_VERSION = f"json-{JSON_API_SPEC_VERSION}"


class ContractError(AssertionError):
    """A payload does not match its schema (raised by tests and debug checks)."""


def schema_root() -> Path:
    packaged = Path(__file__).parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "schemas"


def schema_names() -> list[str]:
    root = schema_root()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json"))


@cache
def load_schema(name: str) -> dict:
    return json.loads((schema_root() / name).read_text())


@cache
def _validator(name: str):
    from jsonschema import Draft202012Validator, FormatChecker

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(name: str, payload: Any) -> None:
    errors = sorted(_validator(name).iter_errors(payload), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]]
        raise ContractError(f"payload does not match {name}:\n  " + "\n  ".join(lines))


def validate_envelope(payload: dict) -> None:
    """Check a CLI ``--json`` envelope, and its ``data`` for a successful command."""
    validate("cli/envelope.json", payload)
    command = payload.get("command")
    if payload.get("status") == "success" and command:
        data_schema = f"cli/{command}.json"
        if (schema_root() / data_schema).exists():
            validate(data_schema, payload["data"])
