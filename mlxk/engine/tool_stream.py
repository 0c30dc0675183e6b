"""A tool call's arguments streamed as the model writes them.

OpenAI streams a call as its index, id and name first, then its arguments in pieces. A
call whose body is JSON with its name first (Hermes/Qwen ``<tool_call>``, Llama 3.1) has
its name read as soon as it is written and the text of its arguments value sent as it
grows, up to where the value ends (the call's own closing brace is never sent); a
harmony call's whole body is its arguments. The call's final ``arguments`` is exactly
the text streamed, so a streamed call reassembles into the unstreamed one. Bodies of
other shapes are sent whole once the call is complete.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_HEAD = re.compile(
    r'^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"(?:arguments|parameters)"\s*:\s*'
)


@dataclass(frozen=True)
class ToolCallPart:
    """A piece of a streamed call: its head (``id`` and ``name``) or argument text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ArgumentStream:
    """One call's body text in; the parts to send out."""

    def __init__(self, index: int, call_id: str, name: str | None = None):
        self.index, self.id, self.name = index, call_id, name
        self.whole_body = name is not None  # harmony: the body is the arguments
        self.text = ""
        self.start: int | None = None  # where the arguments value starts in ``text``
        self.sent = 0  # characters of the value sent so far
        self.headed = False
        self._scanned = 0  # characters of the value lexed so far
        self._depth, self._in_string, self._escaped = 0, False, False
        self._end: int | None = None  # where the value ended (JSON bodies)

    def feed(self, text: str) -> list[ToolCallPart]:
        self.text += text
        if self.start is None and not self._find_start():
            return []
        parts = []
        if not self.headed:
            self.headed = True
            parts.append(ToolCallPart(self.index, self.id, self.name))
        value = self.text[self.start :]
        sendable = self._sendable(value)
        if sendable > self.sent:
            parts.append(ToolCallPart(self.index, arguments=value[self.sent : sendable]))
            self.sent = sendable
        return parts

    def streamed(self) -> str:
        """The argument text sent so far."""
        assert self.start is not None or not self.headed
        return "" if self.start is None else self.text[self.start : self.start + self.sent]

    def rest(self) -> str:
        """What is left of the value once the body is complete (trailing text that was
        held back is sent only if it belongs to the value)."""
        if self.start is None:
            return ""
        value = self.text[self.start :]
        end = len(value.rstrip()) if self.whole_body else (self._end or self.sent)
        return value[self.sent : end]

    def _find_start(self) -> bool:
        if self.whole_body:
            stripped = self.text.lstrip()
            if not stripped:
                return False
            self.start = len(self.text) - len(stripped)
            return True
        match = _HEAD.match(self.text)
        if match is None or match.end() == len(self.text):  # the value has not begun yet
            return False
        if self.text[match.end()] not in "{[":  # a string or a number: sent whole at the end
            return False
        try:
            self.name = json.loads(f'"{match.group(1)}"')
        except ValueError:  # a name no JSON decoder reads: left to the parser at the end
            return False
        self.start = match.end()
        return True

    def _sendable(self, value: str) -> int:
        """How much of the value may be sent: all but trailing white space; for a
        JSON body, nothing past the value's own end."""
        if self.whole_body:
            return len(value.rstrip())
        if self._end is None:
            self._lex(value)
        end = self._end if self._end is not None else len(value)
        return len(value[:end].rstrip()) if self._end is None else end

    def _lex(self, value: str) -> None:
        for i in range(self._scanned, len(value)):
            char = value[i]
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]" and self._depth == 0:  # the call's own closer: a bare value
                self._end = i
                break
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._end = i + 1
                    break
            elif char == "," and self._depth == 0:
                self._end = i
                break
        self._scanned = len(value) if self._end is None else self._end
