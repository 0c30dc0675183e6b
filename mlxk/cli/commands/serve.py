"""``mlxk serve``: the OpenAI-compatible server (supervised by default)."""

from __future__ import annotations

import logging
import os
import sys


def child_argv(args) -> list[str]:
    """The same server, unsupervised, for the supervisor to run as its child."""
    argv = [
        "serve",
        "--no-supervise",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--log-level",
        args.log_level,
        "--reasoning-format",
        args.reasoning_format,
    ]
    for flag, value in (
        ("--model", args.model),
        ("--max-tokens", args.max_tokens),
        ("--api-key", args.api_key),
    ):
        if value is not None:
            argv += [flag, str(value)]
    argv += [
        "--max-concurrency",
        str(args.max_concurrency),
        "--queue-size",
        str(args.queue_size),
        "--batch-window",
        str(args.batch_window),
        "--prompt-cache",
        args.prompt_cache,
    ]
    if args.idle_unload is not None:
        argv += ["--idle-unload", str(args.idle_unload)]
    if args.metrics:
        argv.append("--metrics")
    for origin in args.cors_origin:
        argv += ["--cors-origin", origin]
    if args.log_json:
        argv.append("--log-json")
    return argv


def execute(args, settings, sink) -> int:
    if args.supervise:
        from mlxk.server.supervisor import supervise

        return supervise(child_argv(args), log=sink.note)
    import uvicorn

    from mlxk.engine.memory import give_freed_heap_back
    from mlxk.server.app import ServerSettings, create_app
    from mlxk.server.logs import uvicorn_log_config
    from mlxk.settings import parse_bytes

    server_settings = ServerSettings(
        hub_cache=settings.hub_cache,
        host=args.host,
        port=args.port,
        model=args.model,
        max_tokens=args.max_tokens,
        api_key=args.api_key,
        cors_origins=tuple(args.cors_origin),
        log_json=args.log_json,
        extra={"reasoning_format": args.reasoning_format},
        max_concurrency=args.max_concurrency,
        queue_size=args.queue_size,
        batch_window=args.batch_window / 1000,
        prompt_cache_bytes=parse_bytes(args.prompt_cache) or 0,
        idle_unload=args.idle_unload,
        memory_limit=settings.memory_limit,
        metrics=args.metrics,
    )
    give_freed_heap_back()  # before threads allocate: idle unload returns what it frees
    uvicorn.run(
        create_app(server_settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=uvicorn_log_config(args.log_level, args.log_json),
        timeout_graceful_shutdown=5,
        access_log=False,  # mlxk logs each request itself, with its request id
    )
    # The server has shut down cleanly (requests ended, models freed, worker joined). Skip
    # the interpreter's finalization: threads that used mlx run its thread-local
    # destructors as they end, and when one still runs while Python finalizes it takes the
    # GIL, is torn down, and the C++ runtime aborts the process (SIGABRT instead of exit 0).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
