"""``mlxk demo``: put a tiny demo model in the cache (offline) and run it."""

from __future__ import annotations

from mlxk.cli.commands.run import RunOptions, run_once


def execute(args, settings, sink) -> int:
    from mlxk.testing.demo import DEMO_CHAT, DEMO_REASONER, ensure_demo_model

    name = DEMO_REASONER if args.reasoning else DEMO_CHAT
    ensure_demo_model(settings.hub_cache, name)
    if not sink.json_mode:
        sink.note(f"demo model {name} is in {settings.hub_cache} (remove: mlxk rm {name} -f)")
    options = RunOptions(prompt=args.prompt)
    return run_once(settings, sink, name, options, command="demo")
