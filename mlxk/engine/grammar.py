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
# Closing before the token budget runs out (see GrammarProcessor): how many tokens to
# spare, and how often to look how far the way out is.
CLOSING_SLACK = 8
CLOSING_WATCH = 24  # look every token once the budget is this near the way out
CLOSING_EVERY = 8  # otherwise every this many tokens


@dataclass(frozen=True)
class Grammar:
    """A compiled grammar: copy :attr:`matcher` for each sequence (it is never advanced)."""

    matcher: Any  # llguidance.LLMatcher in its start state
    vocab_size: int
    closing: Any = None  # () -> the model's mlxk.engine.closing.ClosingTable


class GrammarCompiler:
    """Compiles grammars for one loaded model and remembers the last ones compiled."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos_token_ids: list[int]):
        self._hf_tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._eos = eos_token_ids
        self._ll_tokenizer: Any = None
        self._compiled: OrderedDict[str, Grammar] = OrderedDict()
        self._lock = threading.Lock()  # routes compile on pool threads
        self._closing: Any = None

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
        compiled = Grammar(matcher, self._vocab_size, self.closing_table)
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled

    def closing_table(self) -> Any:
        """The model's :class:`~mlxk.engine.closing.ClosingTable`, made once."""
        from mlxk.engine.closing import ClosingTable

        with self._lock:
            tokenizer = self._tokenizer()
        if self._closing is None:
            self._closing = ClosingTable(tokenizer, self._vocab_size)
        return self._closing


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

    With a token ``budget`` it also makes sure the output is complete before the budget
    runs out, however weak the model: it keeps an estimate of the shortest way out of
    the grammar (closing the open strings, objects and arrays, filling in required keys)
    and, once that is nearly as long as what is left, forces that way out token by
    token. :attr:`cut_short` then says so (the answer is reported as cut by its length).
    """

    def __init__(self, grammar: Grammar, budget: int | None = None):
        import numpy as np

        from mlxk.engine.closing import LexState

        self.matcher = grammar.matcher.deep_copy()
        self.vocab_size = grammar.vocab_size
        self.budget = budget if grammar.closing is not None else None
        self._table: Any = grammar.closing  # called when first needed
        self._state = LexState()
        self._known: int | None = None  # context length already accounted for
        self._made = 0  # tokens consumed since the prompt
        self._bits = np.zeros(((self.vocab_size + 31) // 32,), dtype=np.int32)
        self._way_out_length = 0
        self._forcing: list[int] = []
        self.cut_short = False

    def __call__(self, context: Any, logits: Any) -> Any:
        import mlx.core as mx
        import numpy as np

        length = 0 if context is None else int(context.size)
        if self._known is None:
            self._known = length  # the prompt: nothing sampled yet
        elif length > self._known:
            # Reading the last token waits for the step that samples it; queue this step's
            # logits first, so the device computes them while the mask is made here.
            mx.async_eval(logits)
            new = [int(t) for t in context[self._known :].tolist()]
            self._known = length
            self._consume(new)
        # (a matcher in error, which the mask prevents, allows only the end of sequence)
        allowed = self._mask(self.matcher)
        forced = self._closing() if self.budget is not None else None
        if forced is not None:
            allowed = np.zeros_like(allowed)
            allowed[forced] = True
        width = logits.shape[-1]
        allowed = allowed[:width]
        if allowed.shape[0] < width:
            allowed = np.concatenate([allowed, np.zeros(width - allowed.shape[0], np.bool_)])
        return mx.where(mx.array(allowed), logits, -float("inf"))

    def _consume(self, tokens: list[int]) -> None:
        self._made += len(tokens)
        self.matcher.consume_tokens(tokens)
        if self.budget is not None:
            table = self._closing_table()
            for token in tokens:
                self._state = table.advance(self._state, token)

    def _closing_table(self) -> Any:
        """The model's closing table, fetched the first time it is needed."""
        if callable(self._table):
            self._table = self._table()
        return self._table

    def _mask(self, matcher: Any) -> Any:
        import numpy as np

        matcher.unsafe_compute_mask_ptr(self._bits.ctypes.data, self._bits.nbytes)
        bits = np.unpackbits(self._bits.view(np.uint8), bitorder="little")
        return bits[: self.vocab_size].astype(np.bool_)

    def _closing(self) -> int | None:
        """The token to force now to finish within the budget, or None (not yet)."""
        from mlxk.engine.closing import way_out

        assert self.budget is not None
        if self._forcing:
            return self._forcing.pop(0)
        left = self.budget - self._made
        near = left <= self._way_out_length + CLOSING_WATCH
        if not near and self._made % CLOSING_EVERY:
            return None
        path = way_out(self.matcher, self._closing_table(), self._state, left, self._mask)
        self._way_out_length = len(path)
        if not path or len(path) < left - CLOSING_SLACK:
            return None
        self.cut_short = True
        self._forcing = path[1:]
        return path[0]
