"""A Hugging Face Hub stand-in on 127.0.0.1, for testing ``mlxk pull`` for real.

It serves what huggingface_hub's ``model_info`` / ``snapshot_download`` ask for (and,
in :mod:`mlxk.testing.fakehub_upload`, what ``create_repo`` / ``upload_folder`` send), over
plain HTTP (no Xet): repo info, the recursive tree listing, and ``HEAD``/``GET`` of
``/{repo}/resolve/{revision}/{path}`` with the headers the Hub sends (``X-Repo-Commit``,
``ETag``, ``X-Linked-Etag``/``X-Linked-Size`` for LFS files) and ``Range`` support for
resuming. Faults are injected on request: gated or private repos, a connection cut
after some bytes, an HTTP error status.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

from mlxk.cache.layout import (
    commit_hash_for,
    etag_for,
    git_blob_id,
    is_lfs_path,
    lfs_pointer,
)


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str | None = None
    gated: bool = False
    private: bool = False

    def __post_init__(self):
        self.commit = self.commit or commit_hash_for(self.repo_id, self.files)


STALL_SECONDS = 3.0


@dataclass
class _Faults:
    cut_after: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (bytes, times)
    status: dict[str, int] = field(default_factory=dict)
    # path -> bytes sent before the connection hangs for a few seconds, then closes
    stall_after: dict[str, int] = field(default_factory=dict)
    stalled: threading.Event = field(default_factory=threading.Event)


class FakeHub:
    """``with FakeHub([HubRepo(...)]) as hub:`` then point ``HF_ENDPOINT`` at ``hub.url``."""

    def __init__(self, repos: list[HubRepo]):
        self.repos = {r.repo_id: r for r in repos}
        self.faults = _Faults()
        self.requests: list[tuple[str, str, dict]] = []
        self.created: list[str] = []  # repos created by POST /api/repos/create
        self.commits: list[tuple[str, str, list[str]]] = []  # (repo, summary, files)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def cut_after(self, path: str, nbytes: int, times: int = 1) -> None:
        """The next ``times`` GETs of ``path`` send ``nbytes`` and drop the connection."""
        self.faults.cut_after[path] = (nbytes, times)

    def fail_with(self, path: str, status: int) -> None:
        """Every GET of ``path`` answers ``status`` until cleared with status 0."""
        if status:
            self.faults.status[path] = status
        else:
            self.faults.status.pop(path, None)

    def _take_cut(self, path: str) -> int | None:
        with self._lock:
            cut = self.faults.cut_after.get(path)
            if not cut:
                return None
            nbytes, times = cut
            if times <= 1:
                del self.faults.cut_after[path]
            else:
                self.faults.cut_after[path] = (nbytes, times - 1)
            return nbytes

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                self._route(head=True)

            def do_GET(self):
                self._route(head=False)

            def do_POST(self):  # the upload API (mlxk.testing.fakehub_upload)
                from mlxk.testing.fakehub_upload import handle_post

                hub.requests.append((self.command, self.path, dict(self.headers)))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                handle_post(self, hub, unquote(urlparse(self.path).path), body)

            # -- routing -------------------------------------------------------
            def _route(self, head: bool) -> None:
                hub.requests.append((self.command, self.path, dict(self.headers)))
                path = unquote(urlparse(self.path).path)
                if path.startswith("/api/models/"):
                    return self._api(path[len("/api/models/") :])
                for repo_id, repo in hub.repos.items():
                    prefix = f"/{repo_id}/resolve/"
                    if path.startswith(prefix):
                        revision, _, filename = path[len(prefix) :].partition("/")
                        return self._resolve(repo, revision, filename, head)
                self._error(404, "RepoNotFound", "Repository not found")

            def _denied(self, repo: HubRepo) -> bool:
                authorized = "authorization" in {k.lower() for k in self.headers}
                if repo.private and not (authorized and repo.repo_id in hub.created):
                    # private: only its owner sees it (the token that created it here)
                    self._error(401, "RepoNotFound", "Repository not found")
                    return True
                if repo.gated and "authorization" not in {k.lower() for k in self.headers}:
                    self._error(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted.")
                    return True
                return False

            def _api(self, rest: str) -> None:
                repo = next(
                    (
                        r
                        for rid, r in hub.repos.items()
                        if rest == rid or rest.startswith(rid + "/")
                    ),
                    None,
                )
                if repo is None:
                    return self._error(404, "RepoNotFound", "Repository not found")
                if self._denied(repo):
                    return
                tail = rest[len(repo.repo_id) :].strip("/")
                if tail.startswith("tree/"):
                    return self._json(self._tree(repo))
                if tail.startswith("revision/"):
                    revision = tail[len("revision/") :]
                    if revision not in ("main", repo.commit):
                        return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                self._json(
                    {
                        "_id": repo.commit[:24],
                        "id": repo.repo_id,
                        "modelId": repo.repo_id,
                        "sha": repo.commit,
                        "private": repo.private,
                        "gated": "auto" if repo.gated else False,
                        "disabled": False,
                        "downloads": 0,
                        "likes": 0,
                        "tags": ["mlx"],
                        "siblings": [{"rfilename": p} for p in sorted(repo.files)],
                        "lastModified": "2026-01-01T00:00:00.000Z",
                        "createdAt": "2026-01-01T00:00:00.000Z",
                    }
                )

            @staticmethod
            def _tree(repo: HubRepo) -> list[dict]:
                entries = []
                for path in sorted(repo.files):
                    content = repo.files[path]
                    entry = {"type": "file", "path": path, "size": len(content)}
                    if is_lfs_path(path):
                        pointer = lfs_pointer(content)
                        entry["oid"] = git_blob_id(pointer)
                        entry["lfs"] = {
                            "oid": etag_for(path, content),
                            "size": len(content),
                            "pointerSize": len(pointer),
                        }
                    else:
                        entry["oid"] = git_blob_id(content)
                    entries.append(entry)
                return entries

            def _resolve(self, repo: HubRepo, revision: str, filename: str, head: bool) -> None:
                if self._denied(repo):
                    return
                if revision not in ("main", repo.commit) or filename not in repo.files:
                    return self._error(404, "EntryNotFound", "Entry not found")
                status = hub.faults.status.get(filename)
                if status and not head:
                    return self._error(status, "Error", f"injected HTTP {status}")
                content = repo.files[filename]
                etag = etag_for(filename, content)
                start = 0
                range_header = self.headers.get("Range", "")
                if range_header.startswith("bytes=") and not head:
                    start = int(range_header[len("bytes=") :].split("-")[0] or 0)
                body = content[start:]
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("ETag", f'"{etag}"')
                if is_lfs_path(filename):
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(len(content)))
                if start:
                    end = len(content) - 1
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(content)}")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                stall = hub.faults.stall_after.get(filename)
                if stall is not None:
                    self.wfile.write(body[:stall])
                    self.wfile.flush()
                    hub.faults.stalled.set()
                    time.sleep(STALL_SECONDS)  # a download hanging mid-file
                    self.close_connection = True
                    return
                cut = hub._take_cut(filename)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

            def _json(self, payload, status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str) -> None:
                data = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        return Handler
