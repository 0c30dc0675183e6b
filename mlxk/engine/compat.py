"""Every use of mlx-lm beyond its documented API, in one place, with a self-check.

mlxk's batching reads and sets a few attributes mlx-lm does not document (the
generator's batch, the tokens it computed ahead, a batch KV cache's write position,
the prompt cache's trie) and builds on classes it does not document
(``PromptProcessingBatch``, ``BatchKVCache.prepare``/``finalize``/``merge``). A new
mlx-lm may change any of them; pyproject.toml bounds mlx-lm to the releases the suite
passed on, and :func:`self_check`, run when a server starts, names what changed:
a server refuses to start on what it cannot work without, and says so where it falls
back (both fallbacks cost a little speed, never a wrong answer).

Nothing here imports mlx or mlx-lm at module level: the cache's runtime check reads
mlx-lm's architectures from its files without importing it (``mlxk list`` stays fast).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TESTED = "0.32"  # the mlx-lm minor the suite passed on; pyproject allows < the next one


@dataclass(frozen=True)
class Problem:
    what: str
    fatal: bool  # True: mlxk cannot serve without it; False: it falls back


# -- reading mlx-lm's files (no import) ------------------------------------------------


@lru_cache(maxsize=1)
def architectures() -> tuple[frozenset[str], dict[str, str]] | None:
    """Model types mlx-lm ships (its ``models/`` modules) and its ``MODEL_REMAPPING``
    table, read from its source; None when mlx-lm is not installed."""
    spec = importlib.util.find_spec("mlx_lm")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    types = frozenset(p.stem for p in (root / "models").glob("*.py") if not p.stem.startswith("_"))
    remap: dict[str, str] = {}
    try:
        tree = ast.parse((root / "utils.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "MODEL_REMAPPING" for t in node.targets
            ):
                remap = ast.literal_eval(node.value)
    except (OSError, SyntaxError, ValueError):
        pass
    return types, remap


# -- the generator and its batch ---------------------------------------------------------


def tokens_ahead(generator: Any) -> tuple[list[int], Any] | None:
    """(uids, next tokens) the generator's batch already computed, or None if not exposed."""
    batch = getattr(generator, "_generation_batch", None)
    ahead = getattr(batch, "_next_tokens", None)
    uids = list(getattr(batch, "uids", None) or ())
    if ahead is None or not uids or ahead.shape != (len(uids),):
        return None
    return uids, ahead


def generation_batch(generator: Any) -> Any:
    """The generator's current batch (tests read it to check how caches merge)."""
    return getattr(generator, "_generation_batch", None)


def prompt_batch(
    model: Any, uids: list[int], caches: list, prompts: list[list[int]], prefill_step_size: int
) -> Any:
    """mlx-lm's batch that prefills prompts onto caches (left-padded to one)."""
    from mlx_lm.generate import PromptProcessingBatch

    return PromptProcessingBatch(model, uids, caches, prompts, prefill_step_size=prefill_step_size)


# -- batch KV caches ---------------------------------------------------------------------


def write_position(layer: Any) -> int:
    """Where a batch KV cache writes next (its buffer's filled length)."""
    return layer._idx


def set_write_position(layer: Any, position: int) -> None:
    layer._idx = position


# -- the prompt cache's trie ---------------------------------------------------------------


def replace_trie(cache: Any, make_trie: Callable[[], Any]) -> bool:
    """Give an empty ``LRUPromptCache`` another trie; False where its trie is not the
    empty ``PromptTrie`` this was written against (it then keeps its own)."""
    from mlx_lm.models.cache import PromptTrie

    trie = getattr(cache, "_trie", None)
    if type(trie) is not PromptTrie or getattr(trie, "_trie", None) != {}:
        return False
    cache._trie = make_trie()
    return True


def trie_nodes(trie: Any) -> dict:
    """The node dictionary of a ``PromptTrie`` (the subclass in prompt_index reads it)."""
    return trie._trie


# -- building a model from a config (the scripted test and demo models) --------------------


def model_classes(config: dict) -> tuple[Any, Any]:
    """(Model, ModelArgs) mlx-lm uses for ``config``."""
    from mlx_lm.utils import _get_classes

    return _get_classes(config)


# -- the self-check ------------------------------------------------------------------------


def self_check() -> list[Problem]:
    """What of the above the installed mlx-lm no longer has; empty when all is there."""
    import mlx.core as mx

    # importlib: the package's own ``generate`` function hides the module of that name
    generate = importlib.import_module("mlx_lm.generate")
    utils = importlib.import_module("mlx_lm.utils")
    caches = importlib.import_module("mlx_lm.models.cache")

    problems = []
    if not hasattr(generate, "PromptProcessingBatch"):
        problems.append(Problem("mlx_lm.generate.PromptProcessingBatch is gone", True))
    batch_cache = getattr(caches, "BatchKVCache", None)
    needed = ("prepare", "finalize", "merge", "filter", "extract")
    if batch_cache is None or not all(hasattr(batch_cache, n) for n in needed):
        problems.append(Problem("BatchKVCache lost prepare/finalize/merge/filter/extract", True))
    else:
        layer = batch_cache([0])
        if not isinstance(getattr(layer, "_idx", None), int):
            problems.append(
                Problem("BatchKVCache no longer keeps its write position in _idx", True)
            )
        del layer
    if not hasattr(utils, "_get_classes"):
        problems.append(Problem("mlx_lm.utils._get_classes is gone (scripted models)", False))
    found = architectures()
    if found is not None and found[1] != getattr(utils, "MODEL_REMAPPING", None):
        problems.append(Problem("MODEL_REMAPPING is no longer a literal in utils.py", False))
    lru = caches.LRUPromptCache(max_size=1)
    if type(getattr(lru, "_trie", None)) is not getattr(caches, "PromptTrie", None):
        problems.append(
            Problem("LRUPromptCache's trie changed: its own prefix search is used", False)
        )
    if not hasattr(generate, "GenerationBatch"):
        problems.append(
            Problem("GenerationBatch is gone: tokens computed ahead are not reused", False)
        )
    mx.eval(mx.array(0))  # the check itself must not leave mlx half-initialized
    return problems
