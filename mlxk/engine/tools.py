"""Tool calls in a model's output: which format a model speaks, and splitting it out.

Three kinds of format:

* ``markers``: a start and an end marker around each call (Qwen/Hermes ``<tool_call>``,
  Mistral ``[TOOL_CALLS]``, and the rest mlx-lm knows); mlx-lm infers the format from
  the chat template and parses the text between with its own ``tool_parsers``.
* ``llama3_json``: Llama 3.1+ answers a call with a bare JSON object
  (``{"name": …, "parameters": …}``), optionally after ``<|python_tag|>``.
* ``harmony``: gpt-oss addresses a ``commentary`` message ``to=functions.NAME``; the
  reasoning splitter reads its header and hands its body here as the arguments.

:class:`ToolCallSplitter` takes the answer text as it streams and returns the text
outside calls and each call once complete, and (``take_parts``) each call as it streams:
its name as soon as it is written, then its arguments in pieces
(:mod:`mlxk.engine.tool_stream`). A call whose text does not parse is given back as
answer text, so nothing the model said is lost (a stream may already have named it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlxk.engine.reasoning import ANSWER, TOOL, TOOL_START, append_piece, partial_suffix
from mlxk.engine.tool_stream import ArgumentStream, ToolCallPart

PYTHON_TAG = "<|python_tag|>"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON string, as OpenAI sends it


@dataclass(frozen=True)
class ToolFormat:
    kind: str  # "markers" | "llama3_json" | "harmony"
    start: str = ""
    end: str = ""
    parser: Callable[[str, Any], Any] | None = None


@dataclass(frozen=True)
class ToolUse:
    """A request's tools, and the format its model calls them in."""

    format: ToolFormat
    tools: tuple[dict, ...] = field(default=())
    single: bool = False  # parallel_tool_calls false: only the first call is kept


def tool_format(tokenizer: Any, special_tokens: frozenset[str]) -> ToolFormat | None:
    """The tool-call format of a model, or None when its template cannot take tools."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or "tools" not in template:
        return None
    if {"<|channel|>", "<|call|>"} <= special_tokens:
        return ToolFormat("harmony")
    if getattr(tokenizer, "has_tool_calling", False):
        return ToolFormat(
            "markers",
            tokenizer.tool_call_start,
            tokenizer.tool_call_end or "",
            tokenizer.tool_parser,
        )
    if PYTHON_TAG in template or '"parameters": dictionary' in template:
        return ToolFormat("llama3_json")
    return None


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def new_call(name: str, arguments: Any, call_id: str | None = None) -> ToolCall:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    else:
        try:  # the model's JSON, re-serialised compactly; text that is not JSON stays
            arguments = json.dumps(json.loads(arguments), ensure_ascii=False)
        except ValueError:
            pass
    return ToolCall(call_id or new_call_id(), name, arguments)


def _calls_from(parsed: Any) -> list[ToolCall]:
    items = parsed if isinstance(parsed, list) else [parsed]
    calls = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError("not a tool call")
        arguments = item.get("arguments", item.get("parameters", {}))
        calls.append(new_call(item["name"], arguments))
    return calls


def parse_llama3(text: str) -> list[ToolCall]:
    """Llama 3.1's bare JSON calls: one object, or several separated by ``;``."""
    body = text.strip().removeprefix(PYTHON_TAG).strip()
    decoder, calls, at = json.JSONDecoder(), [], 0
    while at < len(body):
        value, at = decoder.raw_decode(body, at)
        calls += _calls_from(value)
        while at < len(body) and body[at] in " \t\r\n;":
            at += 1
    if not calls:
        raise ValueError("no tool call")
    return calls


class ToolCallSplitter:
    """Incremental: ``feed`` the (channel, text) pieces of the reasoning splitter, get
    pieces back without the calls, and the calls completed so far; ``finish`` once.
    With ``use.single`` (``parallel_tool_calls`` false) only the first call is given."""

    def __init__(self, use: ToolUse):
        self.use = use
        self.format = use.format
        self.made = 0  # calls given out so far
        self._held = ""  # answer text that may start a call marker
        self._inside: str | None = None  # the text of the call being read
        self._harmony_name: str | None = None
        self._decided = self.format.kind != "llama3_json"  # llama3: is the answer a call?
        self._stream: ArgumentStream | None = None  # the call being read, streamed
        self._started = 0  # calls begun (their streamed index)
        self.parts: list[ToolCallPart] = []  # to send since last taken (take_parts)

    def feed(self, pieces: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[ToolCall]]:
        out: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        for channel, text in pieces:
            if self.format.kind == "harmony":
                self._harmony(channel, text, out, calls)
            elif channel != ANSWER:
                out.append((channel, text))
            elif self.format.kind == "llama3_json":
                self._llama3(text, out)
            else:
                self._markers(text, out, calls, final=False)
        return out, self._given(calls)

    def finish(self) -> tuple[list[tuple[str, str]], list[ToolCall]]:
        out: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        if self.format.kind == "harmony":
            self._close_harmony(out, calls)
        elif self.format.kind == "llama3_json":
            if self._inside is not None:
                self._parse(self._inside, "", parse_llama3, out, calls)
                self._inside = None
            elif self._held:
                out.append((ANSWER, self._held))
        else:
            self._markers("", out, calls, final=True)
        self._held = ""
        return out, self._given(calls)

    def _given(self, calls: list[ToolCall]) -> list[ToolCall]:
        if self.use.single:
            calls = calls[: max(0, 1 - self.made)]
        self.made += len(calls)
        return calls

    def take_parts(self) -> list[ToolCallPart]:
        """The streamed pieces of calls made since the last time (heads and argument
        text), in order; a call's complete form comes from ``feed``/``finish``."""
        parts, self.parts = self.parts, []
        return parts

    def _begin(self, name: str | None = None) -> None:
        """A call's text starts: stream it (only the first, with parallel calls off)."""
        self._stream = None
        if not self.use.single or self._started == 0:
            self._stream = ArgumentStream(self._started, new_call_id(), name)
        self._started += 1

    def _grow(self, text: str) -> None:
        if self._stream is not None and text:
            self.parts += self._stream.feed(text)

    def _complete(self, calls: list[ToolCall]) -> list[ToolCall]:
        """The calls a body parsed into, as streamed: the first keeps the streamed id and
        argument text (the rest of the value sent now); calls not streamed are sent
        whole (head, then arguments)."""
        stream, self._stream = self._stream, None
        done = []
        for i, call in enumerate(calls):
            if i == 0 and stream is not None and stream.headed:
                rest = stream.rest()
                if rest:
                    self.parts.append(ToolCallPart(stream.index, arguments=rest))
                    stream.sent += len(rest)
                call = ToolCall(stream.id, call.name, stream.streamed() or call.arguments)
            else:
                index = stream.index + i if stream is not None else self._started - 1 + i
                if self.use.single and index > 0:
                    continue
                self.parts.append(ToolCallPart(index, call.id, call.name))
                self.parts.append(ToolCallPart(index, arguments=call.arguments))
            done.append(call)
        if len(calls) > 1:
            self._started += len(calls) - 1
        return done

    def _markers(self, text: str, out: list, calls: list, *, final: bool) -> None:
        start, end = self.format.start, self.format.end
        buffer, self._held = self._held + text, ""
        while buffer:
            if self._inside is None:
                at = buffer.find(start)
                if at == -1:
                    keep = 0 if final else partial_suffix(buffer, (start,))
                    _answer(out, buffer[: len(buffer) - keep])
                    self._held = buffer[len(buffer) - keep :]
                    return
                _answer(out, buffer[:at])
                buffer, self._inside = buffer[at + len(start) :], ""
                self._begin()
                continue
            at = buffer.find(end) if end else -1
            if at == -1:
                keep = 0 if final or not end else partial_suffix(buffer, (end,))
                self._inside += buffer[: len(buffer) - keep]
                self._grow(buffer[: len(buffer) - keep])
                self._held = buffer[len(buffer) - keep :]
                break
            self._grow(buffer[:at])
            self._close_marked(self._inside + buffer[:at], out, calls)
            buffer, self._inside = buffer[at + len(end) :], None
        if final and self._inside is not None:
            self._close_marked(self._inside + self._held, out, calls)
            self._inside, self._held = None, ""

    def _close_marked(self, body: str, out: list, calls: list) -> None:
        parser = self.format.parser
        assert parser is not None, "a markers format has mlx-lm's parser"

        def parse(text: str) -> list[ToolCall]:
            return _calls_from(parser(text, list(self.use.tools)))

        self._parse(body, self.format.start, parse, out, calls, self.format.end)

    def _parse(
        self,
        body: str,
        opening: str,
        parse: Callable[[str], list[ToolCall]],
        out: list,
        calls: list,
        closing: str = "",
    ) -> None:
        try:
            parsed = parse(body)
        except (ValueError, SyntaxError, TypeError, KeyError, AttributeError):
            if self._stream is not None and not self._stream.headed:
                self._started -= 1  # nothing of it was sent: its index is free again
            self._stream = None
            _answer(out, opening + body + closing)  # not a call after all: the text stays
            return
        calls += self._complete(parsed)

    def _llama3(self, text: str, out: list) -> None:
        if self._inside is not None:
            self._inside += text
            self._grow(text)
            return
        if self._decided:
            _answer(out, text)
            return
        self._held += text
        lead = self._held.lstrip()
        if not lead or PYTHON_TAG.startswith(lead):
            return
        self._decided = True
        if lead.startswith("{") or lead.startswith(PYTHON_TAG):
            self._inside, self._held = self._held, ""
            self._begin()
            self._grow(self._inside.strip().removeprefix(PYTHON_TAG))
        else:
            _answer(out, self._held)
            self._held = ""

    def _harmony(self, channel: str, text: str, out: list, calls: list) -> None:
        if channel == TOOL_START:
            self._close_harmony(out, calls)
            self._harmony_name, self._inside = text, ""
            self._begin(text)
        elif channel == TOOL and self._inside is not None:
            self._inside += text
            self._grow(text)
        else:
            out.append((channel, text))

    def _close_harmony(self, out: list, calls: list) -> None:
        if self._harmony_name is not None and self._inside is not None:
            parsed = [new_call(self._harmony_name, self._inside.strip() or "{}")]
            calls += self._complete(parsed)
        self._harmony_name, self._inside = None, None


def _answer(out: list, text: str) -> None:
    append_piece(out, ANSWER, text)
