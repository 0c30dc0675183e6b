"""A scripted model as the files of a Hub repo: weights, tokenizer, config and README."""

from __future__ import annotations

from collections.abc import Iterable

from mlxk.engine.scripted.catalogue import CATALOGUE
from mlxk.engine.scripted.models import Quant, build_files


def readme(
    *, library: str | None, tags: list[str], base_model: str | None = None, body: str = ""
) -> bytes:
    """A model card whose front matter says what mlxk's detection reads."""
    lines = ["---"]
    if library:
        lines.append(f"library_name: {library}")
    lines.append("license: apache-2.0")
    if base_model:
        lines.append(f"base_model: {base_model}")
    if tags:
        lines.append("tags:")
        lines += [f"- {t}" for t in tags]
    lines.append("pipeline_tag: text-generation")
    lines += ["---", "", body or "A tiny scripted model built by mlxk for tests and demos.", ""]
    return "\n".join(lines).encode()


def mlx_model_files(
    key: str,
    quant: Quant | None = None,
    shards: int = 1,
    *,
    tags: Iterable[str] = ("mlx",),
    dtype: str | None = None,
) -> dict[str, bytes]:
    """Every file of the scripted model ``key`` as an MLX repo on the Hub holds them."""
    files = dict(build_files(key, quant, shards, dtype))
    files["README.md"] = readme(library="mlx", tags=list(tags), body=CATALOGUE[key].description)
    return files
