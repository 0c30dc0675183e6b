"""Constrained decoding: a token mask from llguidance, per sequence, inside the batch.

A :class:`Grammar` is compiled once per model and schema (a JSON schema, or a Lark
grammar for tool calls) and cached; each sequence that uses it gets a copy of its
matcher in a :class:`GrammarProcessor`, a logits processor like mlx-lm's penalties, so
constrained and free sequences share one batch. The mask is computed on the CPU from
the tokens the sequence has sampled so far, and applied with ``mx.where``.

llguidance was chosen over xgrammar: it depends on nothing else (xgrammar needs torch,
and triton on Linux), and compiles a schema in well under a millisecond on the tiny
models (``benchmarks/constrained.py`` prints it).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mlxk.errors import InvalidRequest

# Compact JSON: with flexible white space a weak model can fill its whole budget with
# spaces and never close the object.
JSON_OPTIONS: Any = {"whitespace_flexible": False}
_CACHE_SIZE = 64


@dataclass(frozen=True)
class Grammar:
    """A compiled grammar: copy :attr:`matcher` for each sequence (it is never advanced)."""

    matcher: Any  # llguidance.LLMatcher in its start state
    vocab_size: int


class GrammarCompiler:
    """Compiles grammars for one loaded model and remembers the last ones compiled."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos_token_ids: list[int]):
        self._hf_tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._eos = eos_token_ids
        self._ll_tokenizer: Any = None
        self._compiled: OrderedDict[str, Grammar] = OrderedDict()
        self._lock = threading.Lock()  # routes compile on pool threads

    def _tokenizer(self) -> Any:
        if self._ll_tokenizer is None:
            import llguidance.hf

            self._ll_tokenizer = llguidance.hf.from_tokenizer(
                self._hf_tokenizer, n_vocab=self._vocab_size, eos_token=self._eos
            )
        return self._ll_tokenizer

    def json_schema(self, schema: dict, param: str) -> Grammar:
        """A grammar for JSON documents valid against ``schema`` (``{}``: any object)."""
        from llguidance import LLMatcher

        key = "json:" + json.dumps(schema, sort_keys=True)
        try:
            grammar = LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS)
        except ValueError as error:
            raise InvalidRequest(f"the JSON schema is not valid: {error}", param=param) from None
        return self._compile(key, grammar, param)

    def lark(self, source: str, param: str) -> Grammar:
        from llguidance import LLMatcher

        return self._compile("lark:" + source, LLMatcher.grammar_from_lark(source), param)

    def _compile(self, key: str, grammar: str, param: str) -> Grammar:
        from llguidance import LLMatcher

        with self._lock:
            found = self._compiled.get(key)
            if found is not None:
                self._compiled.move_to_end(key)
                return found
            tokenizer = self._tokenizer()
        matcher = LLMatcher(tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise InvalidRequest(_explain(matcher.get_error()), param=param)
        compiled = Grammar(matcher, self._vocab_size)
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled


def _explain(error: str) -> str:
    """llguidance's message, first line only, as a client can act on it."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    detail = "; ".join(lines[:3]) if lines else "unknown error"
    return f"the schema cannot be enforced: {detail}"


class GrammarProcessor:
    """A logits processor that masks every token the grammar does not allow next.

    It reads the tokens the sequence has sampled from the context it is given (mlx-lm
    passes the prompt and the tokens so far), so it follows the sequence whatever path
    decodes it (the batch's prefill, the lone path, mlx-lm's generator).
    """

    def __init__(self, grammar: Grammar):
        import numpy as np

        self.matcher = grammar.matcher.deep_copy()
        self.vocab_size = grammar.vocab_size
        self._known: int | None = None  # context length already accounted for
        self._bits = np.zeros(((self.vocab_size + 31) // 32,), dtype=np.int32)

    def __call__(self, context: Any, logits: Any) -> Any:
        import mlx.core as mx
        import numpy as np

        length = 0 if context is None else int(context.size)
        if self._known is None:
            self._known = length  # the prompt: nothing sampled yet
        elif length > self._known:
            new = context[self._known :].tolist()
            self._known = length
            self.matcher.consume_tokens([int(t) for t in new])
        # (a matcher in error, which the mask prevents, allows only the end of sequence)
        self.matcher.unsafe_compute_mask_ptr(self._bits.ctypes.data, self._bits.nbytes)
        allowed = np.unpackbits(self._bits.view(np.uint8), bitorder="little")
        width = logits.shape[-1]
        allowed = allowed[:width].astype(np.bool_)
        if allowed.shape[0] < width:
            allowed = np.concatenate([allowed, np.zeros(width - allowed.shape[0], np.bool_)])
        return mx.where(mx.array(allowed), logits, -float("inf"))
