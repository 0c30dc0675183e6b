"""ollama's ``keep_alive``, as mlxk takes it on every generation request: how long the
model stays loaded after the request (seconds, or a Go-style duration), read once into
seconds by the request bodies' validation."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

# ollama's keep_alive strings: seconds ("300", "-1") or Go-style durations ("5m", "1h30m")
KEEP_ALIVE_PATTERN = r"^-?(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h))+)$"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_KEEP_ALIVE_FORM = 'keep_alive is seconds (a number) or a duration such as "5m" or "1h30m"'


def keep_alive_seconds(value: Any) -> float | None:
    """ollama's ``keep_alive`` as seconds: a number, or a duration (``"5m"``, ``"1h30m"``,
    ``"-1"``); 0 unloads the model after the request, a negative value keeps it loaded
    (infinity)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(_KEEP_ALIVE_FORM)
    if isinstance(value, str):
        if not re.fullmatch(KEEP_ALIVE_PATTERN, value):
            raise ValueError(_KEEP_ALIVE_FORM)
        parts = _DURATION_PART.findall(value.lstrip("-"))
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
        seconds = -seconds if value.startswith("-") else seconds
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float: as long as can be
            seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(_KEEP_ALIVE_FORM)
    return math.inf if seconds < 0 else seconds


KeepAlive = Annotated[
    float | None,
    BeforeValidator(keep_alive_seconds),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": KEEP_ALIVE_PATTERN},
                {"type": "null"},
            ],
            "description": "mlxk extension (ollama's): how long the model stays loaded after"
            ' this request: seconds or a duration ("5m"); 0 unloads it after the request, -1'
            " keeps it loaded (overrides --idle-unload for this model).",
        }
    ),
]
