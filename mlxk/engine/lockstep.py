"""One continuous batch run by every rank of a group in lockstep.

Rank 0 owns the batch that serves requests (:class:`LeaderBatch`); each other rank holds
an identical batch of its own shard (:func:`follow`). Rank 0 records what it does to its
batch (admit a sequence, cancel one) and, at each step, sends the record to the others
before stepping; they make the same calls and take the same step, so every collective
inside the model meets its peers. The record carries what a rank needs to rebuild each
sequence exactly: its prompt tokens and settings, and a seed for every sampled sequence
(each rank must draw the same token). Grammars and tool formats are rebuilt on each rank
from the request they came from, as rank 0 built them.

Messages are pickled: the group is the user's own hosts, started by the user's launcher.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from mlxk.engine.batch import Batch
from mlxk.engine.batch_sequence import StepResult
from mlxk.engine.chat import Prompt
from mlxk.engine.distributed import Group
from mlxk.engine.generate import Chunk, Completion, GenerationParams, fold
from mlxk.engine.session import Session


class LeaderBatch:
    """Rank 0's batch: :class:`~mlxk.engine.batch.Batch`'s calls, shared with the group."""

    def __init__(self, batch: Batch, group: Group, *, stop_followers: bool = True):
        self._batch = batch
        self._group = group
        # whether closing tells the other ranks to stop: a server's ranks are stopped by
        # their launcher, and a message to a peer that is gone can block for good
        self._stop_followers = stop_followers
        self._broken = False
        self._record: list[tuple] = []
        self._since: dict[int, float] = {}  # each sequence's start, in exchange seconds

    def __getattr__(self, name: str) -> Any:  # len, prefilling, cache_bytes, loaded, …
        return getattr(self._batch, name)

    def __len__(self) -> int:
        return len(self._batch)

    def add(self, prompt: Prompt, params: GenerationParams) -> int:
        if self._broken:
            raise RuntimeError("the distributed group is lost")
        if params.temperature > 0 and params.seed is None:  # every rank draws alike
            params = replace(params, seed=random.getrandbits(62))
        ident = self._batch.add(prompt, params)
        self._since[ident] = self._group.exchange.seconds
        entry = Prompt(prompt.text, tuple(prompt.token_ids))
        self._record.append(("add", entry, _plain(params), ident))
        return ident

    def cancel(self, uid: int) -> None:
        self._batch.cancel(uid)
        self._since.pop(uid, None)
        if not self._broken:  # a lost group has no one to tell
            self._record.append(("cancel", uid))

    def step(self) -> list[StepResult]:
        record, self._record = self._record, []
        try:
            self._group.exchange.share(pickle.dumps([*record, ("step",)]))
            results = self._batch.step()
        except Exception:
            self._broken = True
            raise
        return [self._timed(result) for result in results]

    def _timed(self, result: StepResult) -> StepResult:
        """A finished sequence's timings with the group's exchange time of its life."""
        if not result.done:
            return result
        since = self._since.pop(result.uid, self._group.exchange.seconds)
        spent = self._group.exchange.seconds - since
        chunks = [
            replace(c, timings=replace(c.timings, collective_s=spent)) if c.timings else c
            for c in result.chunks
        ]
        return replace(result, chunks=chunks)

    def close(self) -> None:
        """Close the batch; the other ranks stop following (if they still can hear)."""
        try:
            if self._stop_followers and not self._broken:
                self._group.exchange.share(pickle.dumps([("stop",)]))
        except RuntimeError:
            pass  # a peer is gone: the group is over anyway
        finally:
            self._batch.close()


def _plain(params: GenerationParams) -> GenerationParams:
    """``params`` without what cannot travel (compiled grammar, parser functions)."""
    return replace(params, grammar=None, tools=None)


def follow(batch: Batch, group: Group) -> None:
    """Make rank 0's calls on this rank's batch, step for step, until it says stop.

    Raises:
        RuntimeError: a peer was lost (the backend's error), ending this rank.
    """
    while True:
        record = pickle.loads(group.exchange.share(None))
        for entry in record:
            kind = entry[0]
            if kind == "stop":
                return
            if kind == "add":
                _, prompt, params, ident = entry
                batch.add(prompt, rebuilt(batch.loaded, prompt, params), ident=ident)
            elif kind == "cancel":
                batch.cancel(entry[1])
            elif kind == "step":
                batch.step()
                batch.store_finished()


def rebuilt(loaded: Any, prompt: Prompt, params: GenerationParams) -> GenerationParams:
    """``params`` with the grammar and tool format rank 0 built from the same request."""
    if params.request is None:
        return params
    from mlxk.engine.request import tools_and_grammar

    tools, grammar = tools_and_grammar(loaded, prompt, params.request)
    return replace(params, tools=tools, grammar=grammar)


class GroupSession(Session):
    """``run --hosts`` on rank 0: answers through a batch the other ranks follow."""

    def __init__(self, name: str, loaded: Any, group: Group, rank_bytes: list[int]):
        super().__init__(name, loaded)
        self.batch = LeaderBatch(solo_batch(loaded, rank_bytes), group)

    def generate(
        self,
        messages: list[dict],
        options: Any,
        on_chunk: Callable[[Chunk], None] | None = None,
        prompt_cache: Any = None,
    ) -> Completion:
        from mlxk.engine.request import SamplingRequest

        prompt = self.prompt_for(messages, options.use_chat_template)
        wanted = SamplingRequest(json_schema=options.json_schema, json_object=options.json_object)
        ident = self.batch.add(prompt, replace(self.params(options, prompt), request=wanted))

        def chunks() -> Iterator[Chunk]:
            while True:
                for result in self.batch.step():
                    if result.uid == ident:
                        yield from result.chunks
                        if result.done:
                            return

        return fold(chunks(), on_chunk)


def solo_batch(loaded: Any, rank_bytes: list[int]) -> Batch:
    """The batch of one ``run --hosts`` answer (every rank makes the same)."""
    return group_batch(loaded, rank_bytes, max_sequences=1, cache_bytes=0)


def group_batch(
    loaded: Any, rank_bytes: list[int], *, max_sequences: int, cache_bytes: int
) -> Batch:
    """A batch every rank of a group builds alike, though each holds another shard: its
    prefill choice from the whole model's bytes, and its prompt cache bound in proportion
    to the layers this rank holds, so every rank keeps and evicts the same prefixes."""
    from mlxk.configs import layer_count_of

    layers = layer_count_of(loaded.config)
    held = len(getattr(loaded.model, "layers", ()) or ())
    if layers and held:
        cache_bytes = cache_bytes // layers * held
    return Batch(
        loaded,
        max_sequences=max_sequences,
        cache_bytes=cache_bytes,
        model_bytes=sum(rank_bytes),
    )


@contextmanager
def group_session(name: str, path: Any, group: Group, markers: Any = None) -> Iterator[Any]:
    """Rank 0's session of ``run --hosts``; the other ranks follow it (:func:`follow`)."""
    from mlxk.engine.distributed import load_shard
    from mlxk.engine.model import unload

    loaded, rank_bytes = load_shard(path, group, markers)
    session = GroupSession(name, loaded, group, rank_bytes)
    try:
        yield session
    finally:
        session.batch.close()
        unload(loaded)
