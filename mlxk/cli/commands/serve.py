"""``mlxk serve``: the OpenAI-compatible server (supervised by default)."""

from __future__ import annotations

import sys


def execute(args, settings, sink) -> int:
    if args.supervise:
        from mlxk.server.supervisor import supervise

        child = [a for a in sys.argv[1:] if a not in ("serve", "server")]
        return supervise(["serve", "--no-supervise", *child], log=sink.note)
    import uvicorn

    from mlxk.server.app import ServerSettings, create_app

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
    )
    uvicorn.run(
        create_app(server_settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        access_log=args.log_level in ("debug", "info"),
    )
    return 0
