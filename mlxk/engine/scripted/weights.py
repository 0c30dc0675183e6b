"""Hand-set transformer weights that make greedy decoding follow a script.

How the weights encode a script (hidden size H > vocabulary V):

* ``embed[t] = onehot(t) + onehot(CONST)``: the residual stream carries the current
  token and a constant 1 (a bias the bias-free llama layers otherwise lack).
* One attention head per *trigger*: its query reads CONST, its key reads the trigger
  tokens, its value writes 1 into a flag dimension. With a large score, the flag is ~1
  when a trigger token occurs anywhere in the context and ~0 otherwise (uniform
  attention over value-less tokens). Query and key sit in the lowest-frequency RoPE
  pair, so position does not matter. All MLPs are zero.
* ``lm_head`` scores ``20`` for the successor of the current token; a successor that
  depends on a flag scores ``10`` plus ``5`` from the flag (or from CONST when the flag
  must be off). After the final RMSNorm the margins are large enough to survive 4-bit
  quantization.

The weights go through mlx-lm's own model classes and quantizer, so what is saved is
exactly what ``mlx_lm.load`` expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ARCH_DEFAULTS: dict[str, dict] = {
    "llama": {"architectures": ["LlamaForCausalLM"], "rope_theta": 1_000_000.0},
    "qwen3": {"architectures": ["Qwen3ForCausalLM"], "rope_theta": 1_000_000.0},
}

HEAD_DIM = 64
_SCORE = 20.0
_SPLIT = 10.0
_FLAG = 5.0
_SEEN_SCORE = 50.0
_PREVIOUS_PAIRS = 8
_PREVIOUS_MARGIN_SCORE = 25.0


@dataclass(frozen=True)
class Trigger:
    """A flag: ``seen`` = a token of the group occurs in the context so far;
    ``previous`` = the token just before the current one is of the group."""

    token_ids: tuple[int, ...]
    kind: str = "seen"


def _previous_gain(freqs: Any, context_length: int) -> float:
    """Scale so that one-back beats every other distance in the context by a wide margin."""
    import numpy as np

    distance = np.arange(context_length)
    scores = np.cos(np.outer(distance - 1, freqs)).sum(axis=1)
    others = np.delete(scores, 1)
    margin = scores[1] - others.max()
    if margin < 0.3:
        raise ValueError(f"previous-token head too weak for context {context_length}")
    # q . k / sqrt(HEAD_DIM) = gain * sum(cos) / sqrt(HEAD_DIM)
    return _PREVIOUS_MARGIN_SCORE * HEAD_DIM**0.5 / margin


@dataclass(frozen=True)
class Rule:
    """``cur -> nxt``; with ``conditions``, only when each ``(flag, on)`` holds."""

    cur: int
    nxt: int
    conditions: tuple[tuple[int, bool], ...] = ()


def hidden_size_for(vocab_size: int, n_triggers: int) -> int:
    needed = vocab_size + 1 + n_triggers
    return ((needed + HEAD_DIM - 1) // HEAD_DIM) * HEAD_DIM


def model_config(
    architecture: str,
    vocab_size: int,
    n_triggers: int,
    *,
    context_length: int,
    eos_token_id: int | list[int],
    bos_token_id: int | None,
) -> dict:
    hidden = hidden_size_for(vocab_size, n_triggers)
    config = {
        "model_type": architecture,
        "hidden_size": hidden,
        "intermediate_size": HEAD_DIM,
        "num_hidden_layers": 1,
        "num_attention_heads": hidden // HEAD_DIM,
        "num_key_value_heads": hidden // HEAD_DIM,
        "head_dim": HEAD_DIM,
        "rms_norm_eps": 1e-6,
        "vocab_size": vocab_size,
        "max_position_embeddings": context_length,
        "tie_word_embeddings": False,
        "eos_token_id": eos_token_id,
        "torch_dtype": "float32",
        **ARCH_DEFAULTS[architecture],
    }
    if bos_token_id is not None:
        config["bos_token_id"] = bos_token_id
    return config


def build_weights(
    config: dict,
    rules: list[Rule],
    default_next: int,
    triggers: list[Trigger],
) -> dict:
    """Return an unquantized mlx-lm model whose greedy decoding follows ``rules``."""
    import mlx.core as mx
    import numpy as np

    from mlxk.engine.compat import model_classes

    model_class, args_class = model_classes(config)
    model = model_class(args_class.from_dict(config))
    shapes = {k: v.shape for k, v in _flat(model.parameters())}

    vocab = config["vocab_size"]
    hidden = config["hidden_size"]
    const = vocab
    flag_dims = [vocab + 1 + i for i in range(len(triggers))]

    arrays = {k: np.zeros(s, dtype=np.float32) for k, s in shapes.items()}
    for key, arr in arrays.items():
        if key.endswith("norm.weight"):
            arr[...] = 1.0

    embed = arrays["model.embed_tokens.weight"]
    embed[np.arange(vocab), np.arange(vocab)] = 1.0
    embed[:, const] = 1.0

    # Input to the attention is RMSNorm(embed) = embed * sqrt(hidden / 2).
    scale_in = (hidden / 2) ** 0.5
    if triggers and "model.layers.0.self_attn.q_norm.weight" in arrays:
        raise ValueError("trigger flags are only built for llama-style attention")
    freqs = config["rope_theta"] ** (-np.arange(HEAD_DIM // 2) * 2 / HEAD_DIM)
    for head, trigger in enumerate(triggers):
        base = head * HEAD_DIM
        q = arrays["model.layers.0.self_attn.q_proj.weight"]
        k = arrays["model.layers.0.self_attn.k_proj.weight"]
        if trigger.kind == "seen":
            # Slowest rotary pair: the score does not depend on distance.
            slot = HEAD_DIM // 2 - 1
            q[base + slot, const] = 1.0
            for tid in trigger.token_ids:
                k[base + slot, tid] = _SEEN_SCORE * HEAD_DIM**0.5 / scale_in**2
        else:
            # Fast rotary pairs, key phase-shifted by one position: the score peaks
            # exactly one token back, so the value read is the previous token's.
            pairs = np.arange(_PREVIOUS_PAIRS)
            q[base + pairs, const] = 1.0
            gain = _previous_gain(freqs[:_PREVIOUS_PAIRS], config["max_position_embeddings"])
            k[base + pairs, const] = gain * np.cos(freqs[:_PREVIOUS_PAIRS]) / scale_in**2
            k[base + pairs + HEAD_DIM // 2, const] = (
                gain * np.sin(freqs[:_PREVIOUS_PAIRS]) / scale_in**2
            )
        for tid in trigger.token_ids:
            arrays["model.layers.0.self_attn.v_proj.weight"][base, tid] = 1.0 / scale_in
        arrays["model.layers.0.self_attn.o_proj.weight"][flag_dims[head], base] = 1.0

    head_w = arrays["lm_head.weight"]
    ruled = {r.cur for r in rules}
    for tid in range(vocab):
        if tid not in ruled:
            head_w[default_next, tid] = _SCORE
    for rule in rules:
        if not rule.conditions:
            head_w[rule.nxt, rule.cur] = _SCORE
            continue
        # Each condition met adds _FLAG; all met scores _SPLIT + _FLAG, each one missed
        # costs _FLAG (one condition: 10 + 5 * flag, or 10 + 5 * (1 - flag)). The flag
        # and CONST columns are per successor, shared by every rule leading to it, so
        # they are set, not summed; the offset for several conditions is the rule's own.
        head_w[rule.nxt, rule.cur] = _SPLIT - _FLAG * (len(rule.conditions) - 1)
        for flag, on in rule.conditions:
            if on:
                head_w[rule.nxt, flag_dims[flag]] = _FLAG
            else:
                head_w[rule.nxt, const] = _FLAG
                head_w[rule.nxt, flag_dims[flag]] = -_FLAG

    model.load_weights([(k, mx.array(v)) for k, v in arrays.items()])
    return model


def quantize(model: Any, config: dict, *, bits: int, group_size: int, mode: str = "affine") -> Any:
    """Quantize through mlx-lm; returns the weights dict and the updated config."""
    import contextlib
    import io

    from mlx.utils import tree_flatten
    from mlx_lm.utils import quantize_model

    # quantize_model prints a progress line on stdout, which would corrupt --json output.
    with contextlib.redirect_stdout(io.StringIO()):
        model, config = quantize_model(model, dict(config), group_size, bits, mode=mode)
    return dict(tree_flatten(model.parameters())), config


def unquantized(model: Any) -> dict:
    from mlx.utils import tree_flatten

    return dict(tree_flatten(model.parameters()))


def _flat(tree: Any) -> list:
    """``mlx.utils.tree_flatten`` of parameters: (dotted name, array) pairs."""
    from mlx.utils import tree_flatten

    return list(tree_flatten(tree))
