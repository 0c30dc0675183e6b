"""Human renderers: pure functions from a command's result data to text."""

from __future__ import annotations

from datetime import datetime, timezone


def human_size(n: int) -> str:
    if n < 1000:
        return f"{n}B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 1000 or unit == "PB":
            return f"{value:.1f}{unit}"
    return f"{n}B"


def relative_time(stamp: str, now: datetime | None = None) -> str:
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    seconds = ((now or datetime.now(timezone.utc)) - when).total_seconds()
    if seconds < 45:
        return "just now"
    minutes = seconds / 60
    if minutes < 45:
        return f"{max(1, round(minutes))}m ago"
    hours = minutes / 60
    if hours < 24:
        return f"{max(1, round(hours))}h ago"
    days = hours / 24
    if days < 30:
        return f"{max(1, round(days))}d ago"
    return when.strftime("%Y-%m-%d")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]):
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def health_label(model: dict) -> str:
    if model["health"] != "healthy":
        return "unhealthy"
    return "healthy" if model["runtime_compatible"] else "healthy*"


def display_name(name: str, verbose: bool) -> str:
    prefix = "mlx-community/"
    return name[len(prefix) :] if not verbose and name.startswith(prefix) else name


def render_list(data: dict, *, show_all: bool, verbose: bool, health: bool) -> str:
    models = data["models"]
    if not show_all:
        models = [
            m
            for m in models
            if m["framework"] == "MLX" and (verbose or m["model_type"] in ("chat", "embedding"))
        ]
    if not models:
        hidden = data["count"] - len(models)
        return "No models found." + (f" ({hidden} hidden; use --all)" if hidden else "")
    headers = ["Name", "Hash", "Size", "Modified"]
    if show_all or verbose:
        headers.append("Framework")
    headers.append("Type")
    if health:
        headers += ["Health", "Reason"]
    rows = []
    for m in models:
        row = [
            display_name(m["name"], verbose),
            (m["hash"] or "-")[:7],
            human_size(m["size_bytes"]),
            relative_time(m["last_modified"]),
        ]
        if show_all or verbose:
            row.append(m["framework"])
        row.append(m["model_type"])
        if health:
            row += [health_label(m), _short(m["reason"] or "-", 60)]
        rows.append(row)
    return table(headers, rows)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render_health(data: dict) -> str:
    s = data["summary"]
    lines = [
        f"Summary: total {s['total']}, healthy {s['healthy_count']}, "
        f"unhealthy {s['unhealthy_count']}"
    ]
    for entry in data["healthy"] + data["unhealthy"]:
        where = f" on {entry['host']} (rank {entry['rank']})" if "host" in entry else ""
        lines.append(f"{entry['status']:<9} {entry['name']}{where} — {entry['reason']}")
    group = data.get("group")
    if group is not None:
        how = group["sharding"] or f"cannot be sharded: {group['problem']}"
        lines.append(f"group: {group['size']} ranks, {group['backend']}, {how}")
    return "\n".join(lines)


def render_show(data: dict) -> str:
    m = data["model"]
    name = m["name"] + (f"@{m['hash'][:7]}" if m["hash"] else "")
    health = {
        "healthy": "healthy",
        "healthy*": "healthy (files OK, runtime incompatible)",
        "unhealthy": "unhealthy",
    }[health_label(m)]
    quant = m.get("quantization") or {}
    lines = [
        f"Model: {name}",
        f"Framework: {m['framework']}",
        f"Type: {m['model_type']}",
        f"Capabilities: {', '.join(m['capabilities']) or '-'}",
        f"Context: {m['context_length'] or '-'}",
        f"Quantization: {_quant_text(quant)}",
        f"Size: {human_size(m['size_bytes'])}",
        f"Modified: {relative_time(m['last_modified'])}",
        f"Revisions: {m.get('revisions', 1)}",
        f"Health: {health}",
    ]
    if m.get("source") == "path":
        lines.insert(1, f"Folder: {m['name']} (not in the cache)")
    embedding = m.get("embedding")
    if embedding:
        cut = ", can be cut (Matryoshka)" if embedding["matryoshka"] else ""
        after = next(i for i, line in enumerate(lines) if line.startswith("Capabilities"))
        lines.insert(
            after + 1,
            f"Embedding: {embedding['dimension'] or '?'} dimensions, {embedding['pooling']}"
            f" pooling, up to {embedding['max_length'] or '?'} tokens{cut}",
        )
    if data.get("reasoning") is not None:
        lines.insert(lines.index(f"Health: {health}"), _reasoning_text(data["reasoning"]))
    if m["reason"]:
        lines.append(f"Reason: {m['reason']}")
    if data.get("files") is not None:
        lines += ["", "Files:"]
        lines += [
            f"  - {f['path']} ({f['type']}, {human_size(f['size_bytes'])})" for f in data["files"]
        ]
    elif data.get("config") is not None:
        lines += ["", "Config:"]
        lines += [f"  {k}: {v}" for k, v in data["config"].items()]
    elif data.get("metadata"):
        lines += ["", "Metadata:"]
        lines += [f"  {k}: {v}" for k, v in data["metadata"].items()]
    return "\n".join(lines)


def _reasoning_text(reasoning: dict) -> str:
    if reasoning["start"] is None:
        hint = f" (hint: {reasoning['hint']})" if reasoning["hint"] else ""
        return f"Reasoning markers: none{hint}"
    source = reasoning["source"] + (f" {reasoning['file']}" if reasoning["file"] else "")
    text = f"Reasoning markers: {reasoning['start']} … {reasoning['end']} (from {source})"
    return text + (f"; problem: {reasoning['problem']}" if reasoning["problem"] else "")


def _quant_text(quant: dict) -> str:
    if not quant:
        return "-"
    parts = [quant.get("precision") or quant.get("mode") or "-"]
    if quant.get("group_size"):
        parts.append(f"group size {quant['group_size']}")
    if quant.get("mode") not in (None, "affine", "none"):
        parts.append(f"mode {quant['mode']}")
    return ", ".join(parts)
