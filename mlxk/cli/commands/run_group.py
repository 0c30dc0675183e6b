"""``mlxk run MODEL PROMPT --hosts HOSTFILE``: one answer from a model sharded over a group.

The command checks every host, then starts the same command on every rank through
mlx.launch (:mod:`mlxk.server.group`). Rank 0 answers, printing as ``run`` does; the
others follow its batch step for step. The prompt is read here (stdin for '-') and
handed to rank 0 in a file, since the launcher never closes its ranks' stdin.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlxk.errors import MlxkError, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.engine.distributed import Group
    from mlxk.settings import Settings

PROMPT_ENV = "MLXK_GROUP_PROMPT"  # the file rank 0 reads the prompt from


def run_on_group(args: Namespace, settings: Settings, sink: Sink) -> int:
    from mlxk.server.group import in_group

    if in_group():
        return _rank(args, settings, sink)
    from mlxk.cli.commands.run import read_prompt
    from mlxk.cli.group import plan_group
    from mlxk.server.group import Launch, run_group

    if args.prompt is None or args.interactive:
        raise UsageError("--hosts answers one prompt: give it (for chats: serve --hosts)")
    plan = plan_group(settings, args.model, args.hosts, args.backend, args.sharding)
    prompt = read_prompt(args)
    if not prompt or not prompt.strip():
        raise UsageError("the prompt is empty")
    argv = [*_pinned(args, plan.model), "--sharding", plan.sharding]
    argv += ["--backend", plan.hostfile.backend]
    launch = Launch(plan.hostfile, argv, port=args.group_port)
    try:
        (launch.workdir / "prompt").write_text(prompt, encoding="utf-8")
        env = dict(os.environ, **{PROMPT_ENV: str(launch.workdir / "prompt")})
        return run_group(launch, env)
    finally:
        launch.clean()


def _pinned(args: Namespace, model: str) -> list[str]:
    """The command line every rank runs: the model pinned to the snapshot checked here,
    and no prompt (rank 0 reads it from a file; ``ps`` on other hosts shows none)."""
    argv = list(args.argv)
    at = argv.index(args.model)
    argv[at] = model
    rest = argv[at + 1 :]
    for text in (args.prompt, getattr(args, "instruction", None)):
        if text is not None and text in rest:
            rest[rest.index(text)] = "-" if text == args.prompt else ""
    return [*argv[: at + 1], *[word for word in rest if word != ""]]


def _rank(args: Namespace, settings: Settings, sink: Sink) -> int:
    from mlxk.cli.group import exit_now, join_as_rank

    group = join_as_rank(args, sink, "run")
    if group is None:
        return exit_now(1)
    try:
        code = (
            _answer(args, settings, sink, group)
            if group.rank == 0
            else _follow(args, settings, group)
        )
    except MlxkError as error:
        sink.error("run", error)
        code = error.kind.exit_code
    except RuntimeError as error:  # the backend lost a peer
        sink.note(f"mlxk run: rank {group.rank}: {error}")
        code = 1
    return exit_now(code)


def _markers(args: Namespace, settings: Settings):
    from mlxk.cache.info import resolve_runnable
    from mlxk.cache.markers import configured
    from mlxk.cli.commands.run import _markers as flag_markers

    info = resolve_runnable(settings.hub_cache, args.model)
    flag = flag_markers(getattr(args, "reasoning_tokens", None))
    return info, configured(info.name, info.path, config_home=settings.config_home, flag=flag)


def _answer(args: Namespace, settings: Settings, sink: Sink, group: Group) -> int:
    from mlxk.cli.commands.run import options_from_args, run_once
    from mlxk.engine.lockstep import group_session

    prompt = Path(os.environ[PROMPT_ENV]).read_text(encoding="utf-8")
    info, markers = _markers(args, settings)
    options = options_from_args(args, prompt)
    opened = group_session(info.name, info.path, group, markers)
    return run_once(settings, sink, info.name, options, opened=opened)


def _follow(args: Namespace, settings: Settings, group: Group) -> int:
    from mlxk.engine.distributed import load_shard
    from mlxk.engine.lockstep import follow, solo_batch

    info, markers = _markers(args, settings)
    loaded, rank_bytes = load_shard(info.path, group, markers)
    follow(solo_batch(loaded, rank_bytes), group)
    return 0
