"""Finishing a constrained output before its token budget runs out.

A grammar's mask keeps every token valid, but a weak model (or a strong one given few
tokens) can stay inside a string or an open array until ``max_tokens`` cuts the JSON
off. :func:`way_out` finds a short way from the matcher's state to a complete output:
at each step, of the tokens the grammar allows, the one that closes most, scored by a
JSON lexer on the first thing its bytes do (end a string, close a bracket, or, when no
closing is allowed yet, a comma), else plain text; the shortest token first, then the
lowest id (in byte-level vocabularies, punctuation and digits before letters, which is
what patterns tend to wait for: ``@``, ``.``, ``-``). The grammar processor forces
that way out once it is about as long as what is left of the budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

END_STRING = 3.0  # a quote that ends the string it is in
CLOSE = 2.0  # } or ]
NEXT = 0.5  # , (moves on to a required key, an array's next required item)
OPEN = -2.0  # { or [
START_STRING = -1.0  # a quote that opens a string
SPACE = -3.0  # white space between values: never on a way out
_STRUCTURAL = re.compile(rb'["{}\[\],\\ \t\r\n]')


@dataclass(frozen=True)
class LexState:
    """Where a JSON text is: inside a string, after a backslash, how many brackets deep
    (a bracket at depth 0 is plain text: the grammar around the JSON, or a value that
    is text, as Qwen3-Coder's XML-like parameters are)."""

    in_string: bool = False
    escaped: bool = False
    depth: int = 0


def lex(data: bytes, state: LexState) -> tuple[float | None, LexState]:
    """The weight of the first structural thing ``data`` does when read from ``state``
    (None if it does none), and the state after it. Only the first counts: ``",`` is
    worth what ``"`` is, and no more, or a way out could loop on ``",`` ``"``."""
    score: float | None = None
    in_string, escaped, depth = state.in_string, state.escaped, state.depth
    for byte in data:
        weight = None
        if byte == 0x0A and (in_string or depth > 0):
            # compact JSON has no raw line break, in a string or between values: this was
            # text that looked like JSON (a Qwen3-Coder value); the next line starts afresh
            in_string, escaped, depth, weight = False, False, 0, NEXT
        elif in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string, weight = False, END_STRING
        elif byte == 0x22:
            in_string, weight = True, START_STRING
        elif byte in b"}]" and depth > 0:
            weight, depth = CLOSE, depth - 1
        elif byte in b"{[":
            weight, depth = OPEN, depth + 1
        elif byte == 0x2C and depth > 0:
            weight = NEXT
        elif byte == 0x0A:  # a line break: where a grammar around the JSON (XML) goes on
            weight = NEXT
        elif byte in b" \t\r":
            weight = SPACE
        if score is None and weight is not None:
            score = weight
    return score, LexState(in_string, escaped, depth)


def _score(data: bytes, state: LexState) -> float:
    """A token's closing score: its first structural weight (0 for plain text), less a
    little per byte: a long token can only add what a way out must then close."""
    first, _ = lex(data, state)
    return (first or 0.0) - 0.01 * len(data)


class ClosingTable:
    """Each token's closing score from inside a string, from inside brackets and from
    outside any, computed once per model."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        import numpy as np

        self._tokenizer = tokenizer
        self.inside = np.zeros(vocab_size, dtype=np.float32)
        self.outside = np.zeros(vocab_size, dtype=np.float32)
        self.top = np.zeros(vocab_size, dtype=np.float32)
        self._nothing = np.zeros(vocab_size, dtype=np.float32)  # after a backslash
        states = (LexState(in_string=True), LexState(depth=1), LexState())
        for token in range(min(vocab_size, tokenizer.vocab_size)):
            data = tokenizer.decode_bytes([token])
            if _STRUCTURAL.search(data):
                self.inside[token], self.outside[token], self.top[token] = (
                    _score(data, state) for state in states
                )
            else:
                self.inside[token] = self.outside[token] = self.top[token] = -0.01 * len(data)

    def advance(self, state: LexState, token: int) -> LexState:
        return lex(self._tokenizer.decode_bytes([token]), state)[1]

    def scores(self, state: LexState) -> Any:
        if state.escaped:  # the next byte is escaped: nothing closes yet
            return self._nothing
        if state.in_string:
            return self.inside
        return self.outside if state.depth > 0 else self.top


def way_out(matcher: Any, table: ClosingTable, state: LexState, limit: int, mask: Any) -> list[int]:
    """The tokens of a short way from ``matcher``'s state to a complete output (at most
    ``limit`` + 1 of them; empty when it is complete already, or when none was found:
    forcing a way that does not end would only cut the output elsewhere). ``mask(matcher)`` gives
    the allowed tokens as a numpy bool array. ``matcher`` is not advanced."""
    import numpy as np

    matcher = matcher.deep_copy()
    path: list[int] = []
    while len(path) <= limit and not matcher.is_accepting() and not matcher.is_stopped():
        ids = np.flatnonzero(mask(matcher))
        if ids.size == 0:
            break
        best = int(ids[np.argmax(table.scores(state)[ids])])
        if not matcher.consume_token(best):
            break
        path.append(best)
        state = table.advance(state, best)
    return path if matcher.is_accepting() or matcher.is_stopped() else []
