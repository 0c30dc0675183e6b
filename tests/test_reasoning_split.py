"""The splitter and the stop filter give the same result however the text is chunked."""

from __future__ import annotations

import itertools

import pytest

from mlxk.engine.reasoning import (
    ANSWER,
    REASONING,
    ReasoningSplitter,
    ReasoningStyle,
    StopStringFilter,
)

HARMONY = ReasoningStyle("harmony")
THINK = ReasoningStyle("think")
OPEN_THINK = ReasoningStyle("think", starts_in_reasoning=True)

CASES = [
    (THINK, "<think>\nweigh it\n</think>\n\nThe answer.", "weigh it", "The answer."),
    (OPEN_THINK, "weigh it\n</think>\n\nThe answer.", "weigh it", "The answer."),
    (THINK, "No reasoning here.", "", "No reasoning here."),
    (
        HARMONY,
        "<|channel|>analysis<|message|>think hard<|end|><|start|>assistant"
        "<|channel|>final<|message|>Done!",
        "think hard",
        "Done!",
    ),
    (HARMONY, "<|channel|>final<|message|>Only final", "", "Only final"),
]


def _run(splitter, pieces):
    out = []
    for piece in pieces:
        out += splitter.feed(piece)
    out += splitter.finish()
    reasoning = "".join(t for c, t in out if c == REASONING)
    answer = "".join(t for c, t in out if c == ANSWER)
    return reasoning, answer


# spec: RSN-SPLIT-STREAM
@pytest.mark.parametrize("style,text,reasoning,answer", CASES)
def test_every_two_cut_chunking_gives_the_same_split(style, text, reasoning, answer):
    assert _run(ReasoningSplitter(style), [text]) == (reasoning, answer)
    for i, j in itertools.combinations(range(1, len(text)), 2):
        pieces = [text[:i], text[i:j], text[j:]]
        assert _run(ReasoningSplitter(style), pieces) == (reasoning, answer), pieces


def test_special_tokens_never_reach_the_output():
    splitter = ReasoningSplitter(ReasoningStyle("none"), strip_tokens=("<|im_start|>",))
    assert _run(splitter, ["Hi<|im_", "start|> there"]) == ("", "Hi there")


@pytest.mark.parametrize("text", ["one two STOP three", "STOP at once", "no stop at all"])
def test_stop_filter_cuts_at_the_first_stop_on_every_chunking(text):
    expected = text.split("STOP")[0] if "STOP" in text else text
    for cut in range(len(text) + 1):
        f = StopStringFilter(("STOP",))
        got = f.feed(text[:cut]) + f.feed(text[cut:]) + f.finish()
        assert got == expected, cut
        assert f.stopped == ("STOP" in text)


def test_stop_filter_takes_the_earliest_of_several_stops():
    f = StopStringFilter(("zz", "b c"))
    assert f.feed("a b") + f.feed(" c zz") + f.finish() == "a "
