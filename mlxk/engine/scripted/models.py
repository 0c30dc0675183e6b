"""Building a scripted model into files: its tokenizer, its hand-set weights, its config.

Building one from :mod:`mlxk.engine.scripted.catalogue` gives the files of a real MLX
model directory (``config.json``, ``model.safetensors``, ``tokenizer.json``,
``tokenizer_config.json``, ``generation_config.json``), ready to be laid into an HF cache
by :mod:`mlxk.cache.layout`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from mlxk.engine.scripted.catalogue import CATALOGUE, Family, TinyModel
from mlxk.engine.scripted.tokenizer import tokenizer_config, train_tokenizer_json
from mlxk.engine.scripted.weights import (
    Rule,
    Trigger,
    build_weights,
    model_config,
    quantize,
    unquantized,
)


@dataclass(frozen=True)
class Tokens:
    """The trained tokenizer of a family plus string <-> id helpers."""

    tokenizer_json: dict
    ids: dict[str, int]

    def encode(self, text: str) -> list[int]:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(json.dumps(self.tokenizer_json))
        return tok.encode(text, add_special_tokens=False).ids

    @property
    def vocab_size(self) -> int:
        return max(self.ids.values()) + 1


def _corpus() -> list[str]:
    texts = []
    for model in CATALOGUE.values():
        texts += [s.text for s in model.scripts]
        for _kind, words in model.triggers.values():
            texts += list(words)
    return texts


@cache
def family_tokens(family: Family) -> Tokens:
    tokenizer_json = train_tokenizer_json(
        _corpus(), list(family.special_tokens), list(family.plain_added)
    )
    if family.post_bos:
        bos_id = tokenizer_json["model"]["vocab"][family.bos]
        tokenizer_json["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": family.bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": family.bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {
                family.bos: {"id": family.bos, "ids": [bos_id], "tokens": [family.bos]}
            },
        }
    ids = dict(tokenizer_json["model"]["vocab"])
    for added in tokenizer_json["added_tokens"]:
        ids[added["content"]] = added["id"]
    return Tokens(tokenizer_json, ids)


def _single_token(tokens: Tokens, text: str) -> int:
    if text in tokens.ids and text in {a["content"] for a in tokens.tokenizer_json["added_tokens"]}:
        return tokens.ids[text]
    ids = tokens.encode(text)
    if len(ids) != 1:
        raise ValueError(f"{text!r} is not a single token: {ids}")
    return ids[0]


def compile_rules(model: TinyModel, tokens: Tokens) -> tuple[list[Rule], int, list[Trigger]]:
    """Turn scripts into successor rules; fail loudly on a script the weights cannot follow.

    A token with one successor gets a plain rule. A token met twice with different
    successors (harmony's second ``<|channel|>``) must be told apart by a trigger flag
    that differs between the two occurrences.
    """
    names = list(model.triggers)
    triggers = [
        Trigger(tuple(_single_token(tokens, w) for w in words), kind)
        for kind, words in (model.triggers[n] for n in names)
    ]
    seen_by_token: dict[int, dict[tuple[bool, ...], int]] = {}
    for script in model.scripts:
        ids = tokens.encode(script.text)
        if script.entry is not None and ids[0] != _single_token(tokens, script.entry):
            raise ValueError(f"script of {model.key} must start with its entry token")
        state = [n in script.flags_at_start() for n in names]
        prev = None
        for cur, nxt in zip(ids, ids[1:], strict=False):
            state = [
                (on or cur in t.token_ids) if t.kind == "seen" else prev in t.token_ids
                for on, t in zip(state, triggers, strict=True)
            ]
            prev = cur
            outcomes = seen_by_token.setdefault(cur, {})
            if outcomes.get(tuple(state), nxt) != nxt:
                raise ValueError(f"{model.key}: token {cur} has two successors in one state")
            outcomes[tuple(state)] = nxt
    rules: list[Rule] = []
    for cur, outcomes in seen_by_token.items():
        successors = set(outcomes.values())
        if len(successors) == 1:
            rules.append(Rule(cur, successors.pop()))
            continue
        rules.extend(_flag_rules(model.key, cur, outcomes, len(names)))
    return rules, _single_token(tokens, model.default_next), triggers


def _flag_rules(key: str, cur: int, outcomes: dict, n_flags: int) -> list[Rule]:
    """Rules telling a token's successors apart by the fewest trigger flags: for each
    successor, the smallest set of flag values its states share that no state leading
    to another successor has."""
    from itertools import combinations

    by_next: dict[int, list[tuple[bool, ...]]] = {}
    for state, nxt in outcomes.items():
        by_next.setdefault(nxt, []).append(state)
    rules = []
    for nxt, states in by_next.items():
        shared = [f for f in range(n_flags) if len({s[f] for s in states}) == 1]
        others = [s for s, n in outcomes.items() if n != nxt]
        found = None
        for size in range(1, len(shared) + 1):
            for flags in combinations(shared, size):
                literal = tuple((f, states[0][f]) for f in flags)
                if all(any(s[f] != on for f, on in literal) for s in others):
                    found = literal
                    break
            if found:
                break
        if found is None:
            raise ValueError(f"{key}: token {cur} has successors no trigger flags tell apart")
        rules.append(Rule(cur, nxt, found))
    return rules


@dataclass(frozen=True)
class Quant:
    bits: int
    group_size: int
    mode: str = "affine"

    @property
    def label(self) -> str:
        return self.mode if self.mode != "affine" else f"{self.bits}bit"


def mxfp4_supported() -> bool:
    import mlx.core as mx

    try:
        mx.quantize(mx.zeros((32, 32)), group_size=32, bits=4, mode="mxfp4")
    except (ValueError, TypeError, RuntimeError):
        return False
    return True


@cache
def build_files(
    key: str, quant: Quant | None = None, shards: int = 1, dtype: str | None = None
) -> dict[str, bytes]:
    """All files of the model directory for ``key``, as ``{relative path: bytes}``;
    ``dtype`` (``bfloat16``, ``float16``) stores unquantized weights in half precision."""
    import mlx.core as mx

    model = CATALOGUE[key]
    tokens = family_tokens(model.family)
    rules, default_next, triggers = compile_rules(model, tokens)
    eos_ids = [tokens.ids[model.family.eos]] + [tokens.ids[t] for t in model.family.extra_eos]
    config = model_config(
        model.architecture,
        tokens.vocab_size,
        len(triggers),
        context_length=model.context_length,
        eos_token_id=eos_ids if len(eos_ids) > 1 else eos_ids[0],
        bos_token_id=tokens.ids.get(model.family.bos) if model.family.bos else None,
    )
    mlx_model = build_weights(config, rules, default_next, triggers)
    if quant is None:
        weights = unquantized(mlx_model)
        if dtype is not None:
            weights = {k: v.astype(getattr(mx, dtype)) for k, v in weights.items()}
            config["torch_dtype"] = dtype
    else:
        weights, config = quantize(
            mlx_model, config, bits=quant.bits, group_size=quant.group_size, mode=quant.mode
        )
        config["quantization_config"] = config["quantization"]
    files = {
        "config.json": _json(config),
        "generation_config.json": _json(
            {
                "eos_token_id": eos_ids,
                "do_sample": False,
                "bos_token_id": config.get("bos_token_id"),
            }
        ),
        "tokenizer.json": _json(tokens.tokenizer_json),
        "tokenizer_config.json": _json(
            tokenizer_config(
                bos_token=model.family.bos,
                eos_token=model.family.eos,
                pad_token=model.family.pad,
                chat_template=model.chat_template,
                special_tokens=list(model.family.special_tokens),
                token_ids=tokens.ids,
            )
        ),
        "special_tokens_map.json": _json(
            {
                k: v
                for k, v in (
                    ("bos_token", model.family.bos),
                    ("eos_token", model.family.eos),
                    ("pad_token", model.family.pad),
                )
                if v
            }
        ),
    }
    files.update(_safetensors_files(mx, weights, shards))
    return files


def _safetensors_files(mx: Any, weights: dict, shards: int) -> dict[str, bytes]:
    import tempfile
    from pathlib import Path

    names = sorted(weights)
    if shards == 1:
        groups = {"model.safetensors": names}
    else:
        groups = {
            f"model-{i + 1:05d}-of-{shards:05d}.safetensors": names[i::shards]
            for i in range(shards)
        }
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for filename, keys in groups.items():
            path = Path(tmp) / filename
            mx.save_safetensors(
                str(path), {k: weights[k] for k in keys}, metadata={"format": "mlx"}
            )
            out[filename] = path.read_bytes()
    if shards > 1:
        total = sum(weights[k].nbytes for k in names)
        weight_map = {k: f for f, keys in groups.items() for k in keys}
        out["model.safetensors.index.json"] = _json(
            {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        )
    return out


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()
