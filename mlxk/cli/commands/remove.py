"""``mlxk rm MODEL[@hash] [--force] [--dry-run]``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from mlxk.cache.folder import is_path_spec
from mlxk.cache.naming import resolve
from mlxk.cache.remove import execute_removal, plan_removal
from mlxk.cli.render import human_size
from mlxk.errors import ConfirmationRequired, InvalidModelName

if TYPE_CHECKING:
    from argparse import Namespace

    from mlxk.cache.remove import RemovalPlan
    from mlxk.cli.output import Sink
    from mlxk.settings import Settings


def _describe(plan: RemovalPlan) -> str:
    what = plan.name if plan.whole_repo else f"{plan.name}@{(plan.commit or '')[:8]}"
    return f"{what} ({human_size(plan.freed_bytes)})"


def execute(args: Namespace, settings: Settings, sink: Sink) -> int:
    hub = settings.hub_cache
    if is_path_spec(args.model):
        raise InvalidModelName(
            f"{args.model} is a folder: rm deletes only inside the Hugging Face cache"
            " (delete a folder yourself)",
            param="model",
        )
    resolved = resolve(hub, args.model)
    plan = plan_removal(hub, resolved)
    data = {
        "model": plan.name,
        "action": "planned",
        "message": f"would remove {_describe(plan)}",
        "requires_confirmation": False,
        "matches": [],
        "lock_files_cleaned": 0,
        "commit_hash": plan.commit,
        "freed_bytes": plan.freed_bytes,
        "deleted_paths": plan.relative(plan.paths),
        "dry_run": bool(args.dry_run),
    }
    if plan.foreign_links:
        data["foreign_links"] = list(plan.foreign_links)
        sink.note(
            f"rm: {len(plan.foreign_links)} link(s) of {plan.name} point outside its own blobs"
            f" ({plan.foreign_links[0]}, …): the links go, what they point to stays"
        )
    if args.dry_run:
        sink.result("rm", data, lambda d: f"rm: {d['message']} (dry run)")
        return 0
    if not args.force:
        if not _confirm(sink, plan, resolved.fuzzy, args.model):
            if sys.stdin.isatty() and not sink.json_mode:
                data.update(action="cancelled", message="nothing removed")
                sink.result("rm", data, lambda d: "rm: cancelled, nothing removed")
                return 0
            data.update(action="requires_confirmation", requires_confirmation=True)
            sink.error(
                "rm",
                ConfirmationRequired(
                    f"would remove {_describe(plan)}; pass --force to remove without asking"
                ),
                data,
            )
            return 1
    cleaned = execute_removal(plan, force=args.force)
    data.update(
        action="deleted" if plan.whole_repo else "delete_hash",
        message=f"removed {_describe(plan)}",
        lock_files_cleaned=cleaned,
    )
    sink.result("rm", data, lambda d: f"rm: {d['message']}")
    return 0


def _confirm(sink: Sink, plan: RemovalPlan, fuzzy: bool, typed: str) -> bool:
    if sink.json_mode or not sys.stdin.isatty():
        return False
    matched = f" (matched from '{typed}')" if fuzzy else ""
    sink.err.write(f"Remove {_describe(plan)}{matched}? [y/N] ")
    sink.err.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
