"""Download a model into the cache through huggingface_hub, after an access check.

The check (``model_info``) runs first, so a gated, private or missing repo fails with
a clear message before any byte is written. The download itself is huggingface_hub's
``snapshot_download``: progress bars on stderr, and an interrupted download resumes
from its ``.incomplete`` blobs on the next pull. A failed download never leaves a
model that health reports as healthy: missing files or ``.incomplete`` blobs make it
unhealthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlxk.cache.health import check_integrity, partial_blobs
from mlxk.cache.naming import DEFAULT_ORG, MAX_NAME_LENGTH, parse_spec
from mlxk.cache.scan import read_repo, repo_dir_name
from mlxk.errors import (
    AccessDenied,
    DownloadFailed,
    HubUnreachable,
    InvalidModelName,
    ModelNotFound,
)
from mlxk.settings import Settings


@dataclass(frozen=True)
class PullResult:
    name: str
    revision: str | None
    status: str  # "already_exists" | "success"
    commit: str | None
    expanded: bool


def _repo_id(text: str) -> tuple[str, str | None, bool]:
    spec = parse_spec(text)
    if len(spec.name) > MAX_NAME_LENGTH:
        raise InvalidModelName(f"model name is longer than {MAX_NAME_LENGTH} characters")
    if "/" in spec.name:
        return spec.name, spec.revision, False
    return f"{DEFAULT_ORG}/{spec.name}", spec.revision, True


def cached_and_healthy(hub: Path, name: str, revision: str | None) -> str | None:
    path = hub / repo_dir_name(name)
    if not path.is_dir():
        return None
    repo = read_repo(path)
    snapshot = repo.find(revision)[0] if revision and repo.find(revision) else None
    snapshot = snapshot or (repo.current if not revision else None)
    if snapshot and check_integrity(repo.path, snapshot.path).ok:
        return snapshot.commit
    return None


def pull(settings: Settings, text: str) -> PullResult:
    name, revision, expanded = _repo_id(text)
    hub = settings.hub_cache
    commit = cached_and_healthy(hub, name, revision)
    if commit:
        return PullResult(name, revision, "already_exists", commit, expanded)
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi(endpoint=settings.hf_endpoint, token=settings.hf_token)
    try:
        info = api.model_info(name, revision=revision, token=settings.hf_token)
    except GatedRepoError as error:
        raise AccessDenied(
            f"{name} is gated: accept its terms on the Hub and set HF_TOKEN"
        ) from error
    except RevisionNotFoundError as error:
        raise ModelNotFound(f"{name} has no revision '{revision}'") from error
    except RepositoryNotFoundError as error:
        raise ModelNotFound(
            f"{name} was not found on the Hub (or it is private: set HF_TOKEN)"
        ) from error
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise AccessDenied(f"access to {name} denied (HTTP {status}); set HF_TOKEN") from error
        raise DownloadFailed(f"could not reach the Hub for {name}: {_first_line(error)}") from error
    except (OSError, *_transport_errors()) as error:  # type: ignore[misc]
        where = settings.hf_endpoint or "https://huggingface.co"
        raise HubUnreachable(
            f"could not reach the Hub at {where} ({_first_line(error)}); check the network,"
            " or HF_ENDPOINT"
        ) from error
    try:
        hub.mkdir(parents=True, exist_ok=True)
        snapshot_download(
            repo_id=name,
            revision=revision or "main",  # a branch name makes huggingface_hub write refs/
            cache_dir=str(hub),
            token=settings.hf_token,
            endpoint=settings.hf_endpoint,
        )
    except OSError as error:  # disk full, permission, connection cut (all OSError kin)
        raise DownloadFailed(
            f"download of {name} failed: {_first_line(error)}; run 'mlxk pull {text}' to resume"
        ) from error
    except (HfHubHTTPError, *_transport_errors()) as error:  # type: ignore[misc]
        raise DownloadFailed(
            f"download of {name} failed: {_first_line(error)}; run 'mlxk pull {text}' to resume"
        ) from error
    _remove_leftovers(hub / repo_dir_name(name))
    return PullResult(name, revision, "success", info.sha, expanded)


def _remove_leftovers(repo_path: Path) -> None:
    """Delete the partial files an interrupted earlier pull left, now that their blobs
    have arrived whole (huggingface_hub keeps a stray one per interrupted attempt)."""
    _, leftovers = partial_blobs(repo_path)
    for name in leftovers:
        try:
            (repo_path / "blobs" / name).unlink()
        except OSError:
            continue


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP client's connection errors (huggingface_hub moved from requests to httpx)."""
    import importlib

    found = []
    for module, name in (
        ("httpx2", "HTTPError"),
        ("httpx", "HTTPError"),
        ("requests", "RequestException"),
    ):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
