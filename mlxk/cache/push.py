"""``mlxk push``: a model folder uploaded to the Hub with huggingface_hub's ``upload_folder``.

Only a healthy, runnable folder is sent, and only its model files: a clone's record
and unfinished ``.part`` files stay home. ``dry_run`` lists what would be sent and
touches no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.clone import MANIFEST
from mlxk.cache.naming import parse_spec
from mlxk.cache.scan import list_files
from mlxk.errors import AccessDenied, HubUnreachable, InvalidModelName, UploadFailed, UsageError
from mlxk.settings import Settings

LEFT_OUT = (MANIFEST, "*.part", ".git/*", ".DS_Store")


@dataclass(frozen=True)
class Pushed:
    repo_id: str
    files: list[dict]  # {"path", "size_bytes"}
    commit: str | None  # None for a dry run
    url: str | None


def files_to_send(folder: Path) -> list[dict]:
    from fnmatch import fnmatch

    listing = list_files(folder)
    return [
        {"path": name, "size_bytes": size or 0}
        for name, size in listing.items()
        if not any(fnmatch(name, pattern) for pattern in LEFT_OUT)
    ]


def push(
    folder: Path,
    repo_id: str,
    settings: Settings,
    *,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
) -> Pushed:
    """Upload ``folder`` to ``repo_id`` (created if missing, private if asked)."""
    spec = parse_spec(repo_id)
    if "/" not in spec.name or spec.revision:
        raise InvalidModelName(f"'{repo_id}' is not a Hub repo id (expected org/name)")
    files = files_to_send(folder)
    if dry_run:
        return Pushed(spec.name, files, None, None)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from mlxk.cache.pull import _first_line, _transport_errors

    api = HfApi(endpoint=settings.hf_endpoint, token=settings.hf_token)
    try:
        api.create_repo(spec.name, private=private, exist_ok=True)
        if private and not api.repo_info(spec.name).private:
            raise UsageError(
                f"{spec.name} exists and is public: --private does not change that; make it"
                " private on the Hub first, or push to a new repo"
            )
        done = api.upload_folder(
            repo_id=spec.name,
            folder_path=str(folder),
            revision=revision,
            commit_message=f"Upload {folder.name} with mlxk push",
            ignore_patterns=list(LEFT_OUT),
        )
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise AccessDenied(
                f"the Hub refused the upload to {spec.name} (HTTP {status}); set HF_TOKEN"
                " to a token with write access"
            ) from error
        raise UploadFailed(f"upload to {spec.name} failed: {_first_line(error)}") from error
    except (OSError, *_transport_errors()) as error:  # type: ignore[misc]
        where = settings.hf_endpoint or "https://huggingface.co"
        raise HubUnreachable(
            f"could not reach the Hub at {where} ({_first_line(error)})"
        ) from error
    return Pushed(spec.name, files, done.oid, done.commit_url)
