"""Without the embeddings extra, embedding models say which extra to install."""

from __future__ import annotations

import sys

import pytest

from mlxk.cache.embedding import EmbeddingFacts
from mlxk.testing.embedders import BERT_NAME
from mlxk.testing.fixtures import build_cache


@pytest.fixture
def hub(tmp_path):
    """A cache holding a tiny embedding model (building it needs the extra)."""
    built = tmp_path / "hub"
    build_cache(built, [BERT_NAME])
    return built


@pytest.fixture
def without_extra(hub, monkeypatch):
    """mlx-embeddings as if it were not installed (an import of it fails)."""
    for name in [m for m in sys.modules if m.startswith("mlx_embeddings")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlx_embeddings", None)


# spec: EMBED-CLI
def test_a_missing_extra_is_named_by_list_and_by_loading(hub, without_extra):
    from mlxk.cache.info import describe
    from mlxk.cache.scan import scan
    from mlxk.engine.embeddings import load_embedding_model
    from mlxk.errors import ModelNotRunnable

    (info,) = [describe(repo) for repo in scan(hub)]
    assert info.model_type == "embedding" and not info.runnable
    assert "pip install 'mlxk[embeddings]'" in (info.reason or "")
    with pytest.raises(ModelNotRunnable, match=r"mlxk\[embeddings\]"):
        load_embedding_model(info.name, info.path, EmbeddingFacts("mean", 32, 48, False))
