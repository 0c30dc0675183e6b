"""The upload side of the fake Hub: what huggingface_hub's ``create_repo`` and
``upload_folder`` send, so ``mlxk push`` runs for real against 127.0.0.1.

Repos are created by ``POST /api/repos/create``; ``preupload`` answers that every file
goes as a regular git blob, inline in the commit (the Hub would take large files by LFS
or Xet, which a loopback stand-in cannot serve); ``commit`` applies the NDJSON commit
and the new revision is then served for download like any other repo.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from mlxk.testing.fakehub import HubRepo


def handle_post(handler: Any, hub: Any, path: str, body: bytes) -> None:
    """Answer a POST of the upload API (``handler`` is the fake hub's request handler)."""
    if "authorization" not in {k.lower() for k in handler.headers}:
        return handler._error(401, "Unauthorized", "Invalid credentials in Authorization header")
    if path == "/api/repos/create":
        return _create(handler, hub, json.loads(body or b"{}"))
    if path == "/api/validate-yaml":  # a README's front matter, checked before a commit
        return handler._json({"errors": [], "warnings": []})
    prefix = "/api/models/"
    if path.startswith(prefix):
        rest = path[len(prefix) :]
        for action in ("preupload", "commit"):
            marker = f"/{action}/"
            if marker in rest:
                repo_id, _, revision = rest.partition(marker)
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return handler._error(404, "RepoNotFound", "Repository not found")
                if revision != "main":
                    return handler._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                if action == "preupload":
                    return _preupload(handler, json.loads(body or b"{}"))
                return _commit(handler, hub, repo, body)
    handler._error(404, "NotFound", "Not found")


def _create(handler: Any, hub: Any, payload: dict) -> None:
    name, org = payload.get("name"), payload.get("organization")
    repo_id = f"{org}/{name}" if org else str(name)
    if repo_id in hub.repos:  # the Hub's conflict names the repo's URL, as clients read it
        body = {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"}
        return handler._json(body, status=409)
    private = payload.get("visibility") == "private" or payload.get("private") is True
    hub.repos[repo_id] = HubRepo(repo_id, {}, private=private)
    hub.created.append(repo_id)
    handler._json({"url": f"{hub.url}/{repo_id}", "name": repo_id})


def _preupload(handler: Any, payload: dict) -> None:
    files = [
        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
        for f in payload.get("files", [])
    ]
    handler._json({"files": files, "commitOid": None})


def _commit(handler: Any, hub: Any, repo: HubRepo, body: bytes) -> None:
    files = dict(repo.files)
    summary = ""
    for line in body.decode("utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        key, value = item.get("key"), item.get("value", {})
        if key == "header":
            summary = value.get("summary", "")
        elif key == "file":
            files[value["path"]] = base64.b64decode(value["content"])
        elif key == "deletedFile":
            files.pop(value["path"], None)
        else:
            return handler._error(400, "BadRequest", f"unsupported commit operation {key}")
    updated = HubRepo(repo.repo_id, files, private=repo.private)
    hub.repos[repo.repo_id] = updated
    hub.commits.append((repo.repo_id, summary, sorted(files)))
    handler._json(
        {
            "commitUrl": f"{hub.url}/{repo.repo_id}/commit/{updated.commit}",
            "commitOid": updated.commit,
            "pullRequestUrl": None,
        }
    )
