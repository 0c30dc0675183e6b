"""Many streamed chat completions at once, read by one thread.

The clients run on the machine they measure, and every microsecond of CPU they spend per
streamed token is taken from the server under test (on 2 cores, from one of its BLAS
threads). A thread per stream wakes for every token its stream brings: at 8 streams on 2
cores that cost ~90 us of CPU per token (the thread switches, the GIL, ``http.client``'s
chunked reader), ~0.75 ms of every ~21 ms decode step. Here one thread waits on all the
connections at once and reads the events of a step, which arrive together, in one wake.

Plain HTTP/1.1 on a socket: a body that is chunked, has a length, or ends when the
server closes the connection (``mlx_lm.server`` answers in HTTP/1.0).
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from urllib.parse import urlsplit


class ResponseReader:
    """One HTTP/1.x response read as its bytes come: :meth:`feed` returns the body bytes
    they complete (chunked framing removed); :attr:`done` once the body is whole."""

    def __init__(self):
        self._pending = b""
        self.status: int | None = None
        self._chunked = False
        self._left: int | None = None  # body bytes to come: of the chunk, or of the length
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        if self.status is None:
            end = self._pending.find(b"\r\n\r\n")
            if end < 0:
                return b""
            head, self._pending = self._pending[:end].decode("latin-1"), self._pending[end + 4 :]
            status_line, *header_lines = head.split("\r\n")
            self.status = int(status_line.split()[1])
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            if not self._chunked and "content-length" in headers:
                self._left = int(headers["content-length"])
        return self._chunked_body() if self._chunked else self._plain_body()

    def _plain_body(self) -> bytes:
        body, self._pending = self._pending, b""
        if self._left is not None:
            body = body[: self._left]
            self._left -= len(body)
            self.done = self._left == 0
        return body

    def _chunked_body(self) -> bytes:
        """``_left``: None at a chunk's size line, else the chunk's bytes still to come
        (0: all of them, its closing CRLF not yet)."""
        body = []
        while not self.done:
            if self._left is None:
                end = self._pending.find(b"\r\n")
                if end < 0:
                    break
                size = int(self._pending[:end].split(b";")[0], 16)
                self._pending = self._pending[end + 2 :]
                if size == 0:
                    self.done = True  # trailers, if any, are not read
                    break
                self._left = size
            if self._left:
                taken = self._pending[: self._left]
                self._pending = self._pending[len(taken) :]
                self._left -= len(taken)
                body.append(taken)
            if len(self._pending) < 2:  # the chunk's rest, or its CRLF, is still to come
                break
            self._pending = self._pending[2:]
            self._left = None
        return b"".join(body)

    def end_of_stream(self) -> None:
        """The server closed the connection: a body without a length ends here."""
        if self.status is not None and not self._chunked and self._left is None:
            self.done = True


class EventReader:
    """Server-sent events from body bytes: :meth:`feed` returns the ``data:`` payloads it
    completes, parsed (``[DONE]`` is not one)."""

    def __init__(self):
        self._pending = b""

    def feed(self, body: bytes) -> list[dict]:
        self._pending += body.replace(b"\r\n", b"\n")
        *events, self._pending = self._pending.split(b"\n\n")
        payloads = []
        for event in events:
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data != b"[DONE]":
                    payloads.append(json.loads(data))
        return payloads


class ChatTranscript:
    """A streamed chat completion as its events came: when the first and last text came
    (perf_counter), the text's pieces, the usage reported."""

    def __init__(self, start: float = 0.0):
        self.start = start
        self.first: float | None = None
        self.last: float | None = None
        self.pieces: list[str] = []
        self.usage: dict | None = None

    def take(self, payload: dict, now: float) -> None:
        self.usage = payload.get("usage") or self.usage
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("reasoning"):
                self.first = self.first or now
                self.last = now
                self.pieces.append(delta.get("content") or "")


class _Stream(ChatTranscript):
    def __init__(self, sock: socket.socket, request: bytes):
        super().__init__()
        self.sock = sock
        self.request = request
        self.response = ResponseReader()
        self.events = EventReader()
        self.error_body = b""


def request_bytes(host: str, port: int, path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nAccept: text/event-stream\r\n\r\n"
    )
    return head.encode() + payload


def stream_all(
    url: str, path: str, bodies: list[dict], timeout: float = 600, settle: float = 0.05
) -> list[ChatTranscript]:
    """POST each body on its own connection, read every stream to its end from this
    thread; the streams, timed (perf_counter). The connections are made ``settle`` seconds
    before the first request goes, so that the server has taken them in by then (as a
    client's kept-alive connection would be): accepting them inside the timed burst would
    add to every TTFT measured."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    streams = []
    selector = selectors.DefaultSelector()
    try:
        for body in bodies:
            sock = socket.create_connection((host, port), timeout=timeout)
            streams.append(_Stream(sock, request_bytes(host, port, path, body)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(settle)
        for stream in streams:
            stream.start = time.perf_counter()
            stream.sock.sendall(stream.request)
            stream.sock.setblocking(False)
            selector.register(stream.sock, selectors.EVENT_READ, stream)
        open_streams = len(streams)
        deadline = time.monotonic() + timeout
        while open_streams:
            ready = selector.select(timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"streams from {url} still open after {timeout:.0f}s")
            for key, _ in ready:
                stream = key.data
                data = stream.sock.recv(1 << 16)
                now = time.perf_counter()
                if data:
                    body = stream.response.feed(data)
                    if stream.response.status is not None and stream.response.status >= 400:
                        stream.error_body += body
                    elif body:
                        for payload in stream.events.feed(body):
                            stream.take(payload, now)
                else:
                    stream.response.end_of_stream()
                if data and not stream.response.done:
                    continue
                if stream.response.status is None or stream.response.status >= 400:
                    detail = stream.error_body.decode(errors="replace")[:300]
                    raise RuntimeError(f"HTTP {stream.response.status}: {detail}")
                if not stream.response.done:
                    raise RuntimeError(f"{url} closed a stream before its end")
                selector.unregister(stream.sock)
                stream.sock.close()
                open_streams -= 1
    finally:
        selector.close()
        for stream in streams:
            stream.sock.close()
    return streams
