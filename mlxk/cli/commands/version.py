"""``mlxk version``."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

from mlxk import __version__
from mlxk.cli.parser import version_text
from mlxk.contract import JSON_API_SPEC_VERSION

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _human(data: dict) -> str:
    parts = [f"{name} {data[key] or 'not installed'}" for name, key in _SHOWN]
    return f"{version_text()} ({', '.join(parts)})"


_SHOWN = (("mlx", "mlx_version"), ("mlx-lm", "mlx_lm_version"), ("Python", "python_version"))


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    data = {
        "cli_version": __version__,
        "json_api_spec_version": JSON_API_SPEC_VERSION,
        "mlx_version": _installed("mlx"),
        "mlx_lm_version": _installed("mlx-lm"),
        "python_version": platform.python_version(),
    }
    sink.result("version", data, _human)
    return 0
