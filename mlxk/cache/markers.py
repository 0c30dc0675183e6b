"""Which markers open and close a model's reasoning, and where that choice came from.

Built-in families are recognised from the tokenizer's special tokens (``<think>`` …
``</think>``, gpt-oss harmony). A model with other markers is configured, first match
wins:

1. ``--reasoning-tokens START,END`` on ``run``/``serve`` (for the model named there);
2. the user's ``models.toml`` (``$XDG_CONFIG_HOME/mlxk/models.toml``), a table per model
   named by its cache name or folder path: ``["org/name"] reasoning_tokens = [S, E]``;
3. ``mlxk.json`` in the model's folder: ``{"reasoning_tokens": [S, E]}``.

Reading only files, this module checks shape and spelling; the engine checks at load
that each marker is one token of the model's tokenizer.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxk.cache.detect import read_json
from mlxk.errors import InvalidConfig, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FLAG = "--reasoning-tokens"
FOLDER_FILE = "mlxk.json"
KEYS = ("reasoning_tokens",)
THINK = ("<think>", "</think>")
HARMONY = ("<|channel|>", "<|message|>")
# Paired tags that mark tool calls and their results, not reasoning.
_NOT_REASONING = {"tool_call", "tool_response", "tools", "tool", "function", "functions", "code"}
_TAG = re.compile(r"^<([A-Za-z_][\w-]*)>$")


@dataclass(frozen=True)
class ReasoningMarkers:
    """A configured start and end marker, and where they were set."""

    start: str
    end: str
    source: str  # "--reasoning-tokens" | "models.toml" | "mlxk.json"
    where: str  # for messages: the flag, or the file (and its table)
    file: str | None = None  # the file that set them


def parse_flag(text: str) -> ReasoningMarkers:
    """``--reasoning-tokens START,END``."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise UsageError(f"{FLAG} takes START,END (e.g. '<reflect>,</reflect>'), not {text!r}")
    return _pair([p.strip() for p in parts], FLAG, FLAG)


def user_config(config_home: Path) -> Path:
    return config_home / "mlxk" / "models.toml"


def read_user_config(path: Path) -> dict[str, ReasoningMarkers]:
    """The models.toml entries by model name; an absent file has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidConfig(f"{path}: cannot be read ({error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidConfig(f"{path}: not valid TOML: {error}") from None
    entries = {}
    for name, table in data.items():
        where = f'{path}: ["{name}"]'
        if not isinstance(table, dict):
            raise InvalidConfig(f'{path}: {name} must be a table, ["org/name"], of settings')
        markers = _settings(table, "models.toml", where, path)
        if markers is not None:
            entries[name] = markers
    return entries


def read_folder_config(folder: Path) -> ReasoningMarkers | None:
    """The markers a model folder's mlxk.json names, if it has one."""
    path = folder / FOLDER_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InvalidConfig(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise InvalidConfig(f"{path}: must hold a JSON object")
    return _settings(data, FOLDER_FILE, str(path), path)


def _settings(
    table: dict[str, Any], source: str, where: str, file: Path
) -> ReasoningMarkers | None:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise InvalidConfig(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(KEYS)})")
    value = table.get("reasoning_tokens")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidConfig(f"{where}: reasoning_tokens must be two strings, [START, END]")
    return _pair(value, source, where, InvalidConfig, file)


def _pair(
    values: list,
    source: str,
    where: str,
    error: type[Exception] = UsageError,
    file: Path | None = None,
) -> ReasoningMarkers:
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise error(f"{where}: reasoning markers must be non-empty strings")
    start, end = values
    if start == end:
        raise error(f"{where}: the start and end markers must differ")
    return ReasoningMarkers(start, end, source, where, str(file) if file else None)


def configured(
    name: str,
    folder: Path,
    *,
    config_home: Path,
    flag: ReasoningMarkers | None = None,
) -> ReasoningMarkers | None:
    """The markers configured for the model ``name`` (its files in ``folder``), if any."""
    if flag is not None:
        return flag
    path = user_config(config_home)
    entries = read_user_config(path)
    for key, markers in entries.items():
        if _names(key, name, folder):
            return markers
    return read_folder_config(folder)


def _names(key: str, name: str, folder: Path) -> bool:
    """True if a models.toml table named ``key`` is for the model ``name`` (in ``folder``):
    its cache name or the part after the organisation (any case), or its folder's path
    (``~`` and links resolved)."""
    if key.lower() in (name.lower(), name.rsplit("/", 1)[-1].lower()):
        return True
    if key.startswith(("/", "~", ".")):
        try:
            return Path(key).expanduser().resolve() == folder.resolve()
        except OSError:
            return False
    return False


def builtin(special_tokens: set[str]) -> tuple[str, str] | None:
    """The built-in family's markers a tokenizer has, as (start, end)."""
    for pair in (HARMONY, THINK):
        if set(pair) <= special_tokens:
            return pair
    return None


def candidate_pairs(added_tokens: set[str]) -> list[tuple[str, str]]:
    """``<x>``/``</x>`` pairs among a tokenizer's added tokens that could mark reasoning
    (what ``show`` suggests configuring when no markers are known)."""
    pairs = []
    for token in sorted(added_tokens):
        match = _TAG.match(token)
        if (
            match
            and match.group(1) not in _NOT_REASONING
            and f"</{match.group(1)}>" in added_tokens
        ):
            pairs.append((token, f"</{match.group(1)}>"))
    return pairs


def _tokenizer_tokens(snapshot: Path) -> tuple[set[str], set[str]] | None:
    """Every token a snapshot's tokenizer.json spells (vocabulary and added tokens) and
    the added ones alone; None when there is no tokenizer.json to read."""
    data = read_json(snapshot / "tokenizer.json")
    if data is None:
        return None
    entries = data.get("added_tokens") or []
    added = {str(t.get("content")) for t in entries if isinstance(t, dict)}
    vocab = (data.get("model") or {}).get("vocab")
    if isinstance(vocab, dict):
        return added | set(vocab), added
    if isinstance(vocab, list):  # Unigram: [piece, score] pairs
        return added | {str(v[0]) for v in vocab if isinstance(v, list) and v}, added
    return added, added


def report(name: str, snapshot: Path, special_tokens: set[str], config_home: Path) -> dict:
    """What ``show`` says of a model's reasoning markers: which, from where, and a problem
    or a hint (an unconfigured ``<x>``/``</x>`` pair the tokenizer has)."""
    chosen = configured(name, snapshot, config_home=config_home)
    tokens = _tokenizer_tokens(snapshot)
    result: dict = {"start": None, "end": None, "source": None, "file": None}
    result |= {"problem": None, "hint": None}
    if chosen is not None:
        result |= {"start": chosen.start, "end": chosen.end, "source": chosen.source}
        result["file"] = chosen.file
        missing = [
            m for m in (chosen.start, chosen.end) if tokens is not None and m not in tokens[0]
        ]
        if missing:
            result["problem"] = f"{missing[0]!r} is not one token in this model's tokenizer"
        return result
    pair = builtin(special_tokens)
    if pair is not None:
        return result | {"start": pair[0], "end": pair[1], "source": "tokenizer"}
    pairs = candidate_pairs(tokens[1]) if tokens is not None else []
    if pairs:
        start, end = pairs[0]
        result["hint"] = (
            f"the tokenizer has {start} and {end}; if they mark reasoning, name them:"
            f" --reasoning-tokens '{start},{end}' or {user_config(config_home)}"
        )
    return result
