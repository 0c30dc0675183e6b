"""Split a model's output stream into reasoning and answer, by the markers it emits.

Two conventions are recognised, each only when the tokenizer has the marker tokens as
special tokens (so a model without them is never split, whatever its name):

* ``<think> … </think>`` (Qwen3, DeepSeek-R1, QwQ), or a configured pair of markers
  (``mlxk.cache.markers``) split the same way. A template that opens the start marker
  in the prompt starts the stream inside the reasoning.
* gpt-oss harmony: ``<|channel|>NAME<|message|> … <|end|>``; ``analysis`` and
  ``commentary`` are reasoning, ``final`` is the answer; ``<|start|>ROLE`` headers
  are dropped.

The splitter is incremental: feed it text pieces as they stream, it returns
``(channel, text)`` pieces, holding back only what could still be the start of a
marker. Feeding a whole text at once gives the same result, which keeps streamed and
unstreamed output identical. Leading and trailing white space of each section is
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

REASONING = "reasoning"
# How reasoning and answer read inline (1.x's Markdown format): the CLI and the server's
# reasoning_format "inline" share it.
REASONING_HEADER = "**[Reasoning]**\n\n"
ANSWER_AFTER_REASONING = "\n\n---\n\n**[Answer]**\n\n"
ANSWER = "answer"
# A harmony message addressed to a function: its name (TOOL_START), then its arguments.
TOOL_START, TOOL = "tool_start", "tool"

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
H_START, H_CHANNEL, H_MESSAGE = "<|start|>", "<|channel|>", "<|message|>"
H_ENDS = ("<|end|>", "<|return|>", "<|call|>")
REASONING_CHANNELS = ("analysis", "commentary")


@dataclass(frozen=True)
class ReasoningStyle:
    kind: str  # "think" (a start and an end marker) | "harmony" | "none"
    starts_in_reasoning: bool = False
    start: str = THINK_OPEN
    end: str = THINK_CLOSE


NO_REASONING = ReasoningStyle("none")


def detect_style(
    special_tokens: set[str], prompt_text: str = "", markers: tuple[str, str] | None = None
) -> ReasoningStyle:
    """Pick the convention: configured ``markers`` if any, else the tokenizer's special
    tokens; the rendered prompt says whether it opened the reasoning already."""
    if markers is None and {H_CHANNEL, H_MESSAGE} <= special_tokens:
        return ReasoningStyle("harmony")
    if markers is None and {THINK_OPEN, THINK_CLOSE} <= special_tokens:
        markers = (THINK_OPEN, THINK_CLOSE)
    if markers is None:
        return NO_REASONING
    opened = prompt_text.rstrip().endswith(markers[0])
    return ReasoningStyle("think", starts_in_reasoning=opened, start=markers[0], end=markers[1])


class ReasoningSplitter:
    """Incremental splitter; ``feed`` pieces, then ``finish`` once."""

    def __init__(
        self, style: ReasoningStyle, strip_tokens: tuple[str, ...] = (), *, tools: bool = False
    ):
        self.style = style
        self._tools = tools  # harmony: messages to=functions.NAME are tool calls
        self._buffer = ""
        # Special tokens that must never reach the output (e.g. a stray <|im_start|>).
        self._strip = tuple(t for t in strip_tokens if t)
        if style.kind == "harmony":
            self._state = "outside"
        elif style.starts_in_reasoning:
            self._state = REASONING
        else:
            self._state = ANSWER
        self._section_started = False
        self._pending_ws = ""
        self._header = ""
        self._channel_at = 0
        self._out_pending: list[tuple[str, str]] = []  # markers' own pieces (TOOL_START)

    # -- public -------------------------------------------------------------------
    def feed(self, text: str) -> list[tuple[str, str]]:
        self._buffer += text
        return self._drain(final=False)

    def finish(self) -> list[tuple[str, str]]:
        return self._drain(final=True)

    # -- internals ----------------------------------------------------------------
    def _markers(self) -> tuple[str, ...]:
        if self.style.kind == "think":
            return (self.style.start, self.style.end, *self._strip)
        if self.style.kind == "harmony":
            return (H_START, H_CHANNEL, H_MESSAGE, *H_ENDS, *self._strip)
        return self._strip

    def _drain(self, final: bool) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        markers = self._markers()
        while self._buffer:
            index, marker = _first_marker(self._buffer, markers)
            if marker is None:
                keep = 0 if final else partial_suffix(self._buffer, markers)
                text, self._buffer = (
                    self._buffer[: len(self._buffer) - keep],
                    self._buffer[len(self._buffer) - keep :],
                )
                self._emit_text(text, out)
                break
            self._emit_text(self._buffer[:index], out)
            self._buffer = self._buffer[index + len(marker) :]
            self._on_marker(marker)
            out += self._out_pending
            self._out_pending.clear()
        if final:
            self._pending_ws = ""
        return out

    def _emit_text(self, text: str, out: list[tuple[str, str]]) -> None:
        if not text:
            return
        if self._state in ("header", "outside"):
            self._header += text  # outside: the role after <|start|> (may name a recipient)
            return
        if self._state == TOOL:
            append_piece(out, TOOL, text)
            return
        if self.style.kind == "none":
            append_piece(out, ANSWER, text)  # plain text is passed through untouched
            return
        if not self._section_started:
            text = text.lstrip()
            if not text:
                return
            self._section_started = True
        body = text.rstrip()
        trailing = text[len(body) :]
        if body:
            append_piece(out, self._state, self._pending_ws + body)
            self._pending_ws = ""
        self._pending_ws += trailing

    def _switch(self, state: str) -> None:
        self._state = state
        self._section_started = False
        self._pending_ws = ""

    def _on_marker(self, marker: str) -> None:
        own = self._markers()[: len(self._markers()) - len(self._strip)]
        if marker not in own:
            return  # a special token that is never shown
        if self.style.kind == "think":
            self._switch(REASONING if marker == self.style.start else ANSWER)
        elif marker == H_CHANNEL:
            self._state = "header"  # the header keeps the role's text, for to=functions.X
            self._channel_at = len(self._header)
        elif marker == H_MESSAGE:
            self._open_message()
        elif marker == H_START or marker in H_ENDS:
            self._switch("outside")
            self._header = ""

    def _open_message(self) -> None:
        """A harmony message starts: its channel, and whether it calls a function."""
        header = self._header
        channel_text = header[self._channel_at :] if self._state == "header" else ""
        channel = channel_text.strip().split(" ")[0] or "final"
        recipient = next((w for w in header.split() if w.startswith("to=functions.")), None)
        self._header = ""
        if self._tools and recipient is not None:
            self._switch(TOOL)
            self._out_pending.append((TOOL_START, recipient.removeprefix("to=functions.")))
            return
        self._switch(REASONING if channel in REASONING_CHANNELS else ANSWER)


def append_piece(out: list[tuple[str, str]], channel: str, text: str) -> None:
    """Add ``(channel, text)`` to ``out``, joined to the last piece if on its channel."""
    if not text:
        return
    if out and out[-1][0] == channel:
        out[-1] = (channel, out[-1][1] + text)
    else:
        out.append((channel, text))


def _first_marker(text: str, markers: tuple[str, ...]) -> tuple[int, str | None]:
    best, found = len(text), None
    for marker in markers:
        i = text.find(marker)
        if i != -1 and (i < best or (i == best and found and len(marker) > len(found))):
            best, found = i, marker
    return best, found


def partial_suffix(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a marker."""
    longest = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-n:]):
                longest = n
                break
    return longest


class StopStringFilter:
    """Cut a text stream at the first occurrence of any stop string.

    Text that might be the beginning of a stop string is held back until it is not,
    so a stop string split across two pieces is still caught and never shown.
    """

    def __init__(self, stops: tuple[str, ...]):
        self.stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False
        self.matched: str | None = None  # the stop string that cut the text

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        self._held += text
        found = [(at, stop) for stop in self.stops if (at := self._held.find(stop)) != -1]
        if found:
            cut, self.matched = min(found, key=lambda pair: pair[0])
            self.stopped = True
            out, self._held = self._held[:cut], ""
            return out
        keep = partial_suffix(self._held, self.stops)
        out = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return out

    def finish(self) -> str:
        out, self._held = ("" if self.stopped else self._held), ""
        return out
