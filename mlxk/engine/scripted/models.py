"""The catalogue of tiny scripted models and the code that turns one into files.

Each :class:`TinyModel` names an architecture, a tokenizer family (its special tokens
and chat template) and the *scripts* it follows under greedy decoding. Building one
gives the files of a real MLX model directory (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``tokenizer_config.json``, ``generation_config.json``, README with
front matter), ready to be laid into an HF cache by :mod:`mlxk.cache.layout`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

from mlxk.engine.scripted import templates
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
class Script:
    """Text the model emits after ``entry`` (a token) when the flag condition holds.

    ``entry=None`` means the script starts from any token without a rule of its own.
    ``when`` names a trigger; ``when_on`` says whether it must have been seen or not.
    """

    text: str
    entry: str | None = None
    when: str | None = None
    when_on: bool = True


@dataclass(frozen=True)
class Family:
    """A tokenizer family: special tokens, their roles and a chat template."""

    name: str
    special_tokens: tuple[str, ...]
    bos: str | None
    eos: str
    extra_eos: tuple[str, ...] = ()
    pad: str | None = None
    plain_added: tuple[str, ...] = ()
    post_bos: bool = False


LLAMA3 = Family(
    name="llama3",
    special_tokens=(
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    ),
    bos="<|begin_of_text|>",
    eos="<|eot_id|>",
    extra_eos=("<|end_of_text|>",),
    pad="<|end_of_text|>",
    plain_added=("\n\n",),
    post_bos=True,
)
CHATML = Family(
    name="chatml",
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"),
    bos=None,
    eos="<|im_end|>",
    extra_eos=("<|endoftext|>",),
    pad="<|endoftext|>",
    plain_added=("\n\n",),
)
HARMONY = Family(
    name="harmony",
    special_tokens=(
        "<|startoftext|>",
        "<|endoftext|>",
        "<|return|>",
        "<|start|>",
        "<|end|>",
        "<|message|>",
        "<|channel|>",
        "<|call|>",
    ),
    bos="<|startoftext|>",
    eos="<|return|>",
    extra_eos=("<|call|>", "<|endoftext|>"),
    pad="<|endoftext|>",
)


@dataclass(frozen=True)
class TinyModel:
    key: str
    architecture: str
    family: Family
    chat_template: str | None
    scripts: tuple[Script, ...]
    default_next: str
    triggers: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    context_length: int = 4096
    description: str = ""


CHAT_REPLY = "Hello! I am a tiny test model, happy to help."
CHAT_REPLY_AFTER_BANANA = "You mentioned the fruit earlier."
THINK_REASONING = "The user greets me so I answer briefly."
THINK_ANSWER = "Hi there, nice to meet you!"
HARMONY_REASONING = "The user says hello, so I reply kindly."
HARMONY_ANSWER = "Hello from the harmony model!"
COUNTING = " one two three four five six seven eight nine ten"
MARKUP_REPLY = "Some **bold** text: <script>alert(1)</script> and <img src=x onerror=alert(2)> end"

CATALOGUE: dict[str, TinyModel] = {
    m.key: m
    for m in (
        TinyModel(
            key="llama-chat",
            architecture="llama",
            family=LLAMA3,
            chat_template=templates.LLAMA3,
            scripts=(
                Script(
                    "\n\n" + CHAT_REPLY + "<|eot_id|>", entry="\n\n", when="banana", when_on=False
                ),
                Script(
                    "\n\n" + CHAT_REPLY_AFTER_BANANA + "<|eot_id|>", entry="\n\n", when="banana"
                ),
            ),
            default_next="Hello",
            triggers={"banana": ("seen", ("banana", " banana", "Banana", " Banana"))},
            description="Llama-3-style chat model; mentions of 'banana' change its reply.",
        ),
        TinyModel(
            key="llama-markup",
            architecture="llama",
            family=LLAMA3,
            chat_template=templates.LLAMA3,
            scripts=(Script("\n\n" + MARKUP_REPLY + "<|eot_id|>", entry="\n\n"),),
            default_next="Hello",
            # Repeated tokens (' <', '>', '(') need flags to tell their occurrences apart.
            triggers={
                "script_seen": ("seen", ("script",)),
                "closed": ("seen", (")</",)),
                "onerror_seen": ("seen", (" onerror",)),
            },
            description="Chat model whose reply carries Markdown and HTML (injection tests).",
        ),
        TinyModel(
            key="llama-base",
            architecture="llama",
            family=LLAMA3,
            chat_template=None,
            scripts=(Script(COUNTING.strip() + COUNTING + " one"),),
            default_next=" one",
            description="Base (non-chat) model that counts from one to ten, forever.",
        ),
        TinyModel(
            key="qwen3-think",
            architecture="qwen3",
            family=CHATML,
            chat_template=templates.CHATML,
            scripts=(
                Script(
                    f"\n<think>{THINK_REASONING}</think>\n\n{THINK_ANSWER}<|im_end|>",
                    entry="\n",
                ),
            ),
            default_next="<think>",
            description="Qwen3-style reasoning model: emits <think>…</think> then the answer.",
        ),
        TinyModel(
            key="qwen3-think-open",
            architecture="qwen3",
            family=CHATML,
            chat_template=templates.CHATML_OPEN_THINK,
            scripts=(
                Script(f"\n{THINK_REASONING}</think>\n\n{THINK_ANSWER}<|im_end|>", entry="\n"),
            ),
            default_next="The",
            description="Reasoning model whose template opens <think> in the prompt.",
        ),
        TinyModel(
            key="harmony",
            architecture="llama",
            family=HARMONY,
            chat_template=templates.HARMONY,
            scripts=(
                Script(
                    "assistant<|channel|>analysis<|message|>"
                    f"{HARMONY_REASONING}<|end|><|start|>assistant<|channel|>final<|message|>"
                    f"{HARMONY_ANSWER}<|return|>",
                    entry="assistant",
                ),
            ),
            default_next="<|channel|>",
            triggers={
                "analysis_seen": ("seen", ("analysis",)),
                "after_analysis": ("previous", ("analysis",)),
            },
            description="gpt-oss-style model speaking harmony channels (analysis, final).",
        ),
    )
}


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
        state = [script.when == n and script.when_on for n in names]
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
    for flag in range(n_flags):
        by_flag: dict[bool, set[int]] = {False: set(), True: set()}
        for state, nxt in outcomes.items():
            by_flag[state[flag]].add(nxt)
        if len(by_flag[False]) == 1 and len(by_flag[True]) == 1:
            return [
                Rule(cur, by_flag[False].pop(), flag, False),
                Rule(cur, by_flag[True].pop(), flag, True),
            ]
    raise ValueError(f"{key}: token {cur} has successors no trigger flag tells apart")


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
def build_files(key: str, quant: Quant | None = None, shards: int = 1) -> dict[str, bytes]:
    """All files of the model directory for ``key``, as ``{relative path: bytes}``."""
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


def _safetensors_files(mx, weights: dict, shards: int) -> dict[str, bytes]:
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


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()
