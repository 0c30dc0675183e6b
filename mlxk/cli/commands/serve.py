"""``mlxk serve``: the OpenAI-compatible server (supervised by default).

Errors that restarting cannot heal (no such model, the port taken, an unreadable key
file) are found before any server process starts, and reported once. The API key never
travels on a command line, where every user of the machine could read it in ``ps``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxk.errors import AddressInUse, IncompatibleRuntime, MlxkError, ServerFailed, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


API_KEY_ENV = "MLXK_API_KEY"
SUPERVISOR_ENV = "MLXK_SUPERVISOR_PID"
# A child that could not start exits with this (EX_CONFIG): the supervisor does not retry.
EXIT_CANNOT_START = 78


def api_key(args: Namespace, settings: Settings) -> str | None:
    """The key from --api-key, --api-key-file or MLXK_API_KEY, in that order."""
    if args.api_key:
        return args.api_key
    if args.api_key_file:
        path = Path(args.api_key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read the API key file {path}: {error}") from None
        if not key:
            raise UsageError(f"the API key file {path} is empty")
        return key
    return settings.api_key


def preflight(args: Namespace, settings: Settings, *, port: bool = True) -> None:
    """Refuse, once and at once, what no restart would fix (``port``: a taken port too)."""
    from mlxk.cache.markers import parse_flag, read_user_config, user_config
    from mlxk.server.settings import model_dir

    for folder in args.model_dir or ():
        model_dir(folder)  # refused here, once, rather than by every restarted child
    if args.reasoning_tokens is not None:
        if not args.model:
            raise UsageError(
                "--reasoning-tokens names the markers of the model --model loads: give"
                " --model too (other models: ~/.config/mlxk/models.toml)"
            )
        parse_flag(args.reasoning_tokens)
    read_user_config(user_config(settings.config_home))
    if args.model:
        from mlxk.cache.info import resolve_runnable

        resolve_runnable(settings.hub_cache, args.model, kind=None)
    if port:
        check_port_free(args.host, args.port)


def check_engine(sink: Sink) -> None:
    """Refuse to serve on an mlx-lm that lacks what the batching needs; warn of fallbacks."""
    from mlxk.engine.blas import use_fast_blas

    use_fast_blas()  # before the check imports mlx
    from mlxk.engine.compat import TESTED, self_check

    problems = self_check()
    for problem in problems:
        if not problem.fatal:
            sink.note(f"mlxk serve: {problem.what} (falling back; mlxk was tested on {TESTED})")
    fatal = [p.what for p in problems if p.fatal]
    if fatal:
        from mlxk.cache.health import installed_version

        raise IncompatibleRuntime(
            f"mlx-lm {installed_version('mlx-lm')} changed what mlxk serve needs: "
            f"{'; '.join(fatal)}. Install mlx-lm {TESTED}: pip install 'mlx-lm~={TESTED}.0'"
        )


def check_port_free(host: str, port: int) -> None:
    from mlxk.server.ports import bind_error

    error = bind_error(host, port)
    if error is not None:
        raise AddressInUse(
            f"cannot listen on {host}:{port}: {error.strerror or error}"
            " (another server there? choose another --port)"
        )


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    from mlxk.server.group import in_group

    key = api_key(args, settings)
    if args.hosts and not in_group():
        return _serve_group(args, settings, key, sink)
    if in_group():
        return _rank(args, settings, key, sink)
    if args.supervise:
        preflight(args, settings)
        from mlxk.server.supervisor import supervise

        env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
        env[SUPERVISOR_ENV] = str(os.getpid())
        if key:
            env[API_KEY_ENV] = key
        from mlxk.server.settings import child_argv

        outcome = supervise(child_argv(args), env=env, log=sink.note)
        return _report(args, sink, outcome)
    if settings.supervisor_pid:
        from mlxk.server.supervisor import exit_with_parent

        exit_with_parent(settings.supervisor_pid)
    try:
        preflight(args, settings)
        check_engine(sink)
    except MlxkError as error:
        if not settings.supervisor_pid:
            raise
        sink.error("serve", error)
        return EXIT_CANNOT_START  # the supervisor must not try again
    return _serve(args, settings, key, sink)


def _child_env(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    env[SUPERVISOR_ENV] = str(os.getpid())
    if key:
        env[API_KEY_ENV] = key
    return env


def _serve_group(args: Namespace, settings: Settings, key: str | None, sink: Sink) -> int:
    """``serve --hosts``: check every host, then run the group through mlx.launch and
    start it again after a fault (see mlxk.server.group)."""
    from mlxk.cli.group import plan_group
    from mlxk.server.group import Launch, supervise_group
    from mlxk.server.hosts import check_hosts
    from mlxk.server.settings import child_argv

    if not args.model:
        raise UsageError("--hosts shards the model --model names over the group: give --model")
    preflight(args, settings)
    plan = plan_group(settings, args.model, args.hosts, args.backend, args.sharding)
    # every rank alike: the snapshot checked, the sharding and backend chosen here
    args.model, args.sharding, args.backend = plan.model, plan.sharding, plan.hostfile.backend
    launch = Launch(plan.hostfile, child_argv(args), port=args.group_port)
    sink.note(
        f"mlxk serve: {args.model} over {plan.hostfile.size} ranks"
        f" ({plan.hostfile.backend}, {plan.sharding} sharding)"
    )
    try:
        outcome = supervise_group(
            launch,
            host=args.host,
            port=args.port,
            check=lambda: check_hosts(plan.hostfile, settings.hub_cache, plan.model),
            env=_child_env(key),
            log=sink.note,
        )
    finally:
        launch.clean()
    return _report(args, sink, outcome)


def _rank(args: Namespace, settings: Settings, key: str | None, sink: Sink) -> int:
    """A rank of a group: rank 0 serves, the others follow it."""
    from mlxk.cli.group import exit_now, join_as_rank

    group = join_as_rank(args, sink, "serve")
    if group is None:
        return exit_now(EXIT_CANNOT_START)
    if group.rank != 0:
        return _follow(args, settings, group, sink)
    try:
        preflight(args, settings, port=False)  # checked before; a restart's 503 stand-in holds it
        check_engine(sink)
    except MlxkError as error:
        sink.error("serve", error)
        return exit_now(EXIT_CANNOT_START)
    return _serve(args, settings, key, sink, group=group)


def _follow(args: Namespace, settings: Settings, group: Any, sink: Sink) -> int:
    """Load this rank's shard and make rank 0's batch calls until it stops."""
    from mlxk.cache.info import resolve_runnable
    from mlxk.cache.markers import configured
    from mlxk.cli.group import exit_now
    from mlxk.engine.distributed import load_shard
    from mlxk.engine.lockstep import follow, group_batch
    from mlxk.server.settings import from_args

    server = from_args(args, hub_cache=settings.hub_cache, config_home=settings.config_home)
    code = 0
    try:
        info = resolve_runnable(settings.hub_cache, args.model)
        flag = server.reasoning_tokens
        markers = configured(info.name, info.path, config_home=server.config_home, flag=flag)
        loaded, rank_bytes = load_shard(info.path, group, markers)
        batch = group_batch(
            loaded,
            rank_bytes,
            max_sequences=max(1, server.max_concurrency),
            cache_bytes=server.prompt_cache_bytes,
        )
        follow(batch, group)
    except (MlxkError, RuntimeError) as error:
        sink.note(f"mlxk serve: rank {group.rank}: {getattr(error, 'message', error)}")
        code = 1
    return exit_now(code)


def _report(args: Namespace, sink: Sink, outcome: int) -> int:
    """How the server ended, for a script (``--json``): one envelope either way."""
    if outcome == 0:
        data = {"host": args.host, "port": args.port, "stopped": True, "reason": "signal"}
        sink.result("serve", data, None)
        return 0
    if outcome == EXIT_CANNOT_START:
        error = ServerFailed(f"the server could not start on {args.host}:{args.port} (see above)")
    else:
        error = ServerFailed("the server crashed again and again; gave up (see above)")
    if sink.json_mode:
        sink.error("serve", error)
    return 1


def _serve(
    args: Namespace, settings: Settings, key: str | None, sink: Sink, *, group: Any = None
) -> int:
    from mlxk.engine.memory import give_freed_heap_back
    from mlxk.server.app import create_app
    from mlxk.server.group import EXIT_GROUP_LOST
    from mlxk.server.logs import uvicorn_log_config
    from mlxk.server.serving import make_server
    from mlxk.server.settings import from_args

    server_settings = from_args(
        args,
        hub_cache=settings.hub_cache,
        api_key=key,
        memory_limit=settings.memory_limit,
        config_home=settings.config_home,
    )
    give_freed_heap_back()  # before threads allocate: idle unload returns what it frees
    app = create_app(server_settings, group=group)
    server = make_server(
        app,
        args.host,
        args.port,
        log_level=args.log_level,
        log_config=uvicorn_log_config(args.log_level, args.log_json),
        access_log=False,  # mlxk logs each request itself, with its request id
    )
    try:
        server.run()
    except SystemExit:  # uvicorn exits this way when it cannot bind or start
        pass
    code = 0 if server.started else EXIT_CANNOT_START
    if code:
        sink.note(f"mlxk serve: the server could not start on {args.host}:{args.port}")
    if group is not None:  # its checks passed before launch: a failed load is the group's
        code = app.state.manager.group.exit_code if server.started else EXIT_GROUP_LOST
    if not settings.supervisor_pid:  # a supervisor reports for its child
        code = _report(args, sink, code)
    # The server has shut down cleanly (requests ended, models freed, worker joined). Skip
    # the interpreter's finalization: threads that used mlx run its thread-local
    # destructors as they end, and when one still runs while Python finalizes it takes the
    # GIL, is torn down, and the C++ runtime aborts the process (SIGABRT instead of exit 0).
    from mlxk.cli.group import exit_now

    return exit_now(code)
