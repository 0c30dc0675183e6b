"""A server's settings, and the one table of ``mlxk serve`` options they come from.

Each option is listed once, in :data:`OPTIONS`: the argument parser is built from it, the
supervisor's child command line is rendered from it, and :func:`from_args` turns parsed
options into :class:`ServerSettings`, which the app and the model manager read. Cheap to
import (no FastAPI): the parser uses it for every command.
"""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError, Namespace
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxk.cache.markers import ReasoningMarkers, parse_flag
from mlxk.errors import UsageError
from mlxk.settings import parse_bytes

MAX_CONCURRENCY = 4
QUEUE_SIZE = 32
BATCH_WINDOW_MS = 3.0
PROMPT_CACHE = "256MB"


@dataclass(frozen=True)
class ServerSettings:
    hub_cache: Path
    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None
    max_tokens: int | None = None
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names beyond localhost and the bound host
    keepalive_seconds: float = 10.0
    max_concurrency: int = MAX_CONCURRENCY
    queue_size: int = QUEUE_SIZE
    batch_window: float = BATCH_WINDOW_MS / 1000  # seconds
    prompt_cache_bytes: int = field(default_factory=lambda: parse_bytes(PROMPT_CACHE) or 0)
    idle_unload: float | None = None
    memory_limit: int | None = None  # MLXK_MEMORY_LIMIT: the bound when no budget is set
    max_models: int = 1  # chat models resident at once
    memory_budget: int | None = None  # bytes the resident models may take together
    metrics: bool = False
    log_json: bool = False
    reasoning_format: str = "separate"
    model_dirs: tuple[Path, ...] = ()  # model folders may be served from under these
    reasoning_tokens: ReasoningMarkers | None = None  # --reasoning-tokens, for --model
    cpu_float32: str = "auto"  # on a CPU: run a float32 copy of quantized weights
    config_home: Path = Path("~/.config").expanduser()  # where mlxk/models.toml is
    hosts: str | None = None  # --hosts: the hostfile of a distributed group
    backend: str | None = None  # its MLX backend
    sharding: str | None = None  # tensor | pipeline
    group_port: int = 32323
    group_timeout: float = 120.0  # a step waiting longer on the other ranks ends the group


GROUP_OPTIONS = ("hosts", "backend", "sharding", "group_port")  # run takes them too


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text} is not a port number") from None
    if not 0 < value < 65536:
        raise ArgumentTypeError(f"{text} is not between 1 and 65535")
    return value


def window_ms(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1000:  # also refuses nan
        raise ArgumentTypeError(f"{text} is not between 0 and 1000 ms")
    return value


def whole_number(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no less than ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ArgumentTypeError(f"{text} is not a whole number") from None
        if value < least:
            raise ArgumentTypeError(f"{text} is not {least} or more")
        return value

    return parse


positive_int, non_negative_int = whole_number(1), whole_number(0)


def model_dir(text: str) -> Path:
    """A ``--model-dir``: an existing directory, absolute and with its links resolved."""
    import os

    path = Path(os.path.expanduser(text))
    if not path.is_dir():
        raise UsageError(f"--model-dir {text} is not a directory")
    return path.resolve()


def byte_size(text: str) -> str:
    if text.strip() != "0" and parse_bytes(text) is None:
        raise ArgumentTypeError(f"{text} is not a size (e.g. 256MB, 1GiB, 0)")
    return text


def memory_budget(text: str) -> str:
    """A ``--memory-budget``: bytes (``12GB``) or a fraction of the machine's RAM (``0.5``)."""
    try:
        fraction = float(text)
    except ValueError:
        fraction = None
    if fraction is not None and "." in text:
        if not 0 < fraction <= 1:
            raise ArgumentTypeError(f"{text} is not a fraction of RAM between 0 and 1")
        return text
    if not parse_bytes(text):
        raise ArgumentTypeError(f"{text} is not a size (e.g. 12GB) or a fraction of RAM (0.5)")
    return text


def budget_bytes(text: str | None) -> int | None:
    """What ``--memory-budget`` allows, in bytes."""
    import os

    if text is None:
        return None
    if "." in text and text.replace(".", "", 1).isdigit():
        return int(float(text) * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return parse_bytes(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"{text} is not a number of seconds") from None
    if not value > 0:
        raise ArgumentTypeError(f"{text} is not more than 0 seconds")
    return value


@dataclass(frozen=True)
class Option:
    """One ``serve`` option: how it is parsed, passed to the child, and set."""

    flags: tuple[str, ...]
    help: str
    default: Any = None
    type: Callable | None = None
    action: str | None = None  # store_true, append
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    setting: str | None = None  # the ServerSettings field it sets
    convert: Callable[[Any], Any] = lambda value: value
    child: bool = True  # passed on to the supervised child's command line

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(("--host",), "address to listen on (default 127.0.0.1)", "127.0.0.1", setting="host"),
    Option(("--port",), "port to listen on (default 8000)", 8000, port, setting="port"),
    Option(("--model",), "load this model at start", metavar="MODEL", setting="model"),
    Option(
        ("--model-dir",),
        "also serve model folders under DIR, named by path in a request's model field"
        " (repeatable; default: none, only the cache)",
        [],
        action="append",
        metavar="DIR",
        setting="model_dirs",
        convert=lambda dirs: tuple(model_dir(d) for d in dirs),
    ),
    Option(
        ("--max-tokens",),
        "default max_tokens of a request that sets none (default: half the context)",
        None,
        positive_int,
        metavar="N",
        setting="max_tokens",
    ),
    Option(
        ("--api-key",),
        "require Authorization: Bearer KEY (or x-api-key) on /v1; visible in ps, so prefer"
        " --api-key-file or the MLXK_API_KEY environment variable",
        metavar="KEY",
        child=False,  # the child gets it by environment
    ),
    Option(("--api-key-file",), "read the API key from this file", metavar="FILE", child=False),
    Option(
        ("--cors-origin",),
        "let a browser app at this origin call the API (repeatable; default: none)",
        [],
        action="append",
        metavar="URL",
        setting="cors_origins",
        convert=tuple,
    ),
    Option(
        ("--allowed-host",),
        "also answer requests whose Host is NAME (repeatable; '*' = any). By default only"
        " localhost, IP addresses and --host are accepted, which keeps web pages from"
        " reaching the server through DNS rebinding",
        [],
        action="append",
        metavar="NAME",
        setting="allowed_hosts",
        convert=tuple,
    ),
    Option(
        ("--log-level",),
        "log level (default info)",
        "info",
        choices=("debug", "info", "warning", "error"),
    ),
    Option(
        ("--log-json",),
        "one JSON log line per request",
        False,
        action="store_true",
        setting="log_json",
    ),
    Option(
        ("--reasoning-format",),
        "reasoning in message.reasoning (separate, default), dropped (hidden), or inlined"
        " in the content (inline)",
        "separate",
        choices=("separate", "hidden", "inline"),
        setting="reasoning_format",
    ),
    Option(
        ("--reasoning-tokens",),
        "the markers around --model's reasoning, when its tokenizer does not say"
        " (other models: ~/.config/mlxk/models.toml or the folder's mlxk.json)",
        metavar="START,END",
        setting="reasoning_tokens",
        convert=lambda text: parse_flag(text) if text else None,
    ),
    Option(
        ("--max-concurrency",),
        f"requests decoded together in one batch (default {MAX_CONCURRENCY})",
        MAX_CONCURRENCY,
        positive_int,
        metavar="N",
        setting="max_concurrency",
    ),
    Option(
        ("--batch-window",),
        "an idle server gathers requests arriving this close together into one prefill"
        f" (default {BATCH_WINDOW_MS:g} ms; 0 = off)",
        BATCH_WINDOW_MS,
        window_ms,
        metavar="MS",
        setting="batch_window",
        convert=lambda ms: ms / 1000,
    ),
    Option(
        ("--queue-size",),
        f"requests that may wait beyond those; more get a 503 (default {QUEUE_SIZE})",
        QUEUE_SIZE,
        non_negative_int,
        metavar="N",
        setting="queue_size",
    ),
    Option(
        ("--prompt-cache",),
        f"bytes of KV cache kept for shared prefixes (default {PROMPT_CACHE}; 0 = off)",
        PROMPT_CACHE,
        byte_size,
        metavar="SIZE",
        setting="prompt_cache_bytes",
        convert=lambda text: parse_bytes(text) or 0,
    ),
    Option(
        ("--idle-unload",),
        "free a model after this many seconds without requests (default: never;"
        " a request's keep_alive overrides it for its model)",
        None,
        seconds,
        metavar="SECONDS",
        setting="idle_unload",
    ),
    Option(
        ("--cpu-float32",),
        "on a CPU, run quantized or half-precision models from a float32 copy through the"
        " fast BLAS: when it fits in half the free memory (auto, default), always, never",
        "auto",
        choices=("auto", "always", "never"),
        setting="cpu_float32",
    ),
    Option(
        ("--hosts",),
        "shard --model over the hosts of this mlx.launch hostfile (JSON); the first host is"
        " this machine, which serves",
        metavar="HOSTFILE",
        setting="hosts",
    ),
    Option(
        ("--backend",),
        "MLX distributed backend for --hosts (default: the hostfile's, else ring)",
        choices=("ring", "mpi", "jaccl"),
        setting="backend",
    ),
    Option(
        ("--sharding",),
        "how --hosts splits the model (default: tensor where mlx-lm can, else pipeline)",
        choices=("tensor", "pipeline"),
        setting="sharding",
    ),
    Option(
        ("--group-timeout",),
        "seconds a step may wait on the other ranks before the group is given up and"
        " started again (default 120)",
        120.0,
        seconds,
        metavar="SECONDS",
        setting="group_timeout",
    ),
    Option(
        ("--group-port",),
        "first port of the ring backend's connections, one per rank (default 32323)",
        32323,
        port,
        metavar="PORT",
        setting="group_port",
    ),
    Option(
        ("--max-models",),
        "chat models kept loaded at once, each with its own batch (default 1: swap)",
        1,
        positive_int,
        metavar="N",
        setting="max_models",
    ),
    Option(
        ("--memory-budget",),
        "bytes (12GB) or fraction of RAM (0.6) the loaded models may take together;"
        " the least recently used idle model is unloaded to stay within it"
        " (default: what is free when a model loads)",
        None,
        memory_budget,
        metavar="SIZE",
        setting="memory_budget",
        convert=budget_bytes,
    ),
    Option(
        ("--metrics",),
        "serve GET /metrics (Prometheus)",
        False,
        action="store_true",
        setting="metrics",
    ),
)


def add_options(parser: ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Every serve option (or those whose settings are ``only``), on ``parser``."""
    for option in OPTIONS:
        if only is not None and option.setting not in only:
            continue
        kwargs: dict[str, Any] = {"help": option.help, "default": option.default}
        if option.action:
            kwargs["action"] = option.action
        if option.type:
            kwargs["type"] = option.type
        if option.choices:
            kwargs["choices"] = option.choices
        if option.metavar:
            kwargs["metavar"] = option.metavar
        if option.action == "append":
            kwargs["default"] = []
        parser.add_argument(*option.flags, **kwargs)


def child_argv(args: Namespace) -> list[str]:
    """The options a supervised child is started with (the same server, unsupervised)."""
    argv = ["serve", "--no-supervise"]
    for option in OPTIONS:
        value = getattr(args, option.dest)
        if not option.child or value is None or value is False:
            continue
        if option.action == "store_true":
            argv.append(option.flags[0])
        elif option.action == "append":
            for item in value:
                argv += [option.flags[0], str(item)]
        else:
            argv += [option.flags[0], str(value)]
    return argv


def from_args(args: Namespace, **given: Any) -> ServerSettings:
    """ServerSettings from parsed options, plus what does not come from them (``given``)."""
    values = {
        option.setting: option.convert(getattr(args, option.dest))
        for option in OPTIONS
        if option.setting
    }
    return ServerSettings(**values, **given)
