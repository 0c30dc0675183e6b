"""The one output path: a result goes out as a JSON envelope or as human text.

JSON goes to stdout as a single document; human text to stdout; diagnostics and
human-mode errors to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from mlxk.contract import API_VERSION
from mlxk.errors import MlxkError


def envelope(command: str | None, data: Any, error: dict | None = None) -> dict:
    return {
        "status": "error" if error else "success",
        "command": command,
        "data": data,
        "error": error,
        "api_version": API_VERSION,
    }


@dataclass
class Sink:
    json_mode: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def result(self, command: str, data: Any, render: Callable[[dict], str] | None = None) -> None:
        if self.json_mode:
            self._write_json(envelope(command, data))
        elif render is not None:
            text = render(data)
            if text:
                self.out.write(text if text.endswith("\n") else text + "\n")
                self.out.flush()

    def error(self, command: str | None, error: MlxkError, data: Any = None) -> None:
        if self.json_mode:
            self._write_json(envelope(command, data, error.to_dict()))
        else:
            prefix = f"mlxk {command}: " if command else "mlxk: "
            self.err.write(prefix + _one_line(error.message) + "\n")
            self.err.flush()

    def stream(self, text: str) -> None:
        """Streamed human text (tokens as they arrive)."""
        self.out.write(text)
        self.out.flush()

    def note(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def _write_json(self, payload: dict) -> None:
        self.out.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        self.out.flush()


def _one_line(message: str) -> str:
    return " ".join(message.split())
