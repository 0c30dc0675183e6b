"""The server's memory over its life: empty, loaded, after 100 requests, after idle unload.

``mlxk serve --idle-unload S`` runs on a synthetic model (~26M parameters, fp32: about
100 MB of weights). Its memory footprint (what the process alone holds: anonymous pages
on Linux, the physical footprint on macOS; RSS where neither can be read), its RSS and
what ``/health`` reports (model bytes, prompt-cache bytes) are read when the server is
empty, right after the first request loaded the model, after 100 more requests (each a
different prompt, so the prompt cache fills to its bound) both at once and after 1.5 s
of rest (the server hands freed heap back to the OS after 1 s idle), and after the model
was unloaded for idleness. The targets are checked on the footprint, as mlx-lm's
maintainers measure memory (mlx-lm#1807): RSS also counts library code pages that ran
once and that the kernel may drop at any time; its ratio is printed beside.

    python benchmarks/memory.py [--preset 26m] [--requests 100] [--prompt-cache 64MB] [--quick]

Targets (issue 7): after 100 requests, no growth beyond the prompt-cache bound (plus
2% slack for the allocator); after idle unload, back within 10% of the empty server.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import NamedTuple

import httpx
from _common import device, http, server, synthetic_cache, table, verdict

from mlxk.settings import parse_bytes


def rss_bytes(pid: int) -> int:
    if sys.platform.startswith("linux"):
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip()) * 1024


def footprint_bytes(pid: int) -> int | None:
    """The memory only this process holds and the kernel cannot simply drop: its anonymous
    pages, resident or swapped (Linux), or the physical footprint Activity Monitor shows
    (macOS). Unlike RSS it leaves out library code pages mapped from files, which the
    kernel re-reads on demand. None where neither is available."""
    if sys.platform.startswith("linux"):
        fields = _smaps_rollup(pid)
        if fields is None:
            return None
        return (fields.get("Anonymous:", 0) + fields.get("Swap:", 0)) * 1024
    if sys.platform == "darwin":
        return _darwin_footprint(pid)
    return None


def _smaps_rollup(pid: int) -> dict[str, int] | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            return {
                name: int(value)
                for name, value, *_ in (line.split() for line in rollup)
                if name.endswith(":")
            }
    except OSError:
        return None


def _darwin_footprint(pid: int) -> int | None:
    import ctypes

    class RusageInfoV0(ctypes.Structure):  # <sys/resource.h>, RUSAGE_INFO_V0
        _fields_ = [("uuid", ctypes.c_uint8 * 16)] + [
            (name, ctypes.c_uint64)
            for name in (
                "user_time",
                "system_time",
                "pkg_idle_wkups",
                "interrupt_wkups",
                "pageins",
                "wired_size",
                "resident_size",
                "phys_footprint",
                "proc_start_abstime",
                "proc_exit_abstime",
            )
        ]

    try:
        libproc = ctypes.CDLL("/usr/lib/libproc.dylib")
    except OSError:
        return None
    info = RusageInfoV0()
    if libproc.proc_pid_rusage(pid, 0, ctypes.byref(info)) != 0:
        return None
    return int(info.phys_footprint)


def ask(srv, i: int, tokens: int) -> None:
    body = {
        "model": srv.model,
        "messages": [{"role": "user", "content": f"Request number {i}: tell me a story."}],
        "max_tokens": tokens,
        "temperature": 0,
    }
    http(srv.url).json("POST", "/v1/chat/completions", body)


def file_backed_bytes(pid: int) -> int | None:
    """Resident pages mapped from files (library code read in as it runs): the kernel can
    drop them under pressure, unlike the heap. None where /proc has no smaps_rollup."""
    fields = _smaps_rollup(pid)
    if fields is None:
        return None
    return (fields.get("Rss:", 0) - fields.get("Anonymous:", 0)) * 1024


class Reading(NamedTuple):
    moment: str
    footprint: int | None  # None where the platform shows none
    rss: int
    file_backed: int | None
    model: str
    model_bytes: int
    cache_bytes: int

    @property
    def held(self) -> int:
        """What the targets are checked on: the footprint, or RSS where there is none."""
        return self.rss if self.footprint is None else self.footprint


def reading(srv, moment: str) -> Reading:
    health = httpx.get(srv.url + "/health", timeout=10).json()
    return Reading(
        moment,
        footprint_bytes(srv.pid),
        rss_bytes(srv.pid),
        file_backed_bytes(srv.pid),
        health.get("model") or "-",
        health["memory_bytes"],
        health["prompt_cache_bytes"],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="26m")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--prompt-cache", default="64MB")
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="tiny model, 10 requests")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.requests, args.tokens, args.idle = "tiny", 10, 4, 1.0
    bound = parse_bytes(args.prompt_cache)

    rows = []
    with synthetic_cache(args.preset) as bench:
        extra = ["--idle-unload", str(args.idle), "--prompt-cache", str(bound)]
        with server("mlxk", bench, extra=extra) as srv:
            time.sleep(1.0)
            rows.append(reading(srv, "empty server"))
            ask(srv, -1, args.tokens)
            rows.append(reading(srv, "model loaded, 1 request"))
            for i in range(args.requests):
                ask(srv, i, args.tokens)
            rows.append(reading(srv, f"right after {args.requests} more requests"))
            time.sleep(min(1.5, args.idle * 0.6))  # settled, before the idle unload
            rows.append(reading(srv, "1.5 s later, still loaded"))
            deadline = time.monotonic() + args.idle + 30
            while time.monotonic() < deadline:
                time.sleep(0.5)
                if httpx.get(srv.url + "/health").json().get("model") is None:
                    break
            time.sleep(0.5)
            rows.append(reading(srv, "after idle unload"))

    mb = 1024 * 1024
    measure = "footprint" if rows[0].footprint is not None else "RSS"
    print(
        f"device: {device()}  model: synthetic {args.preset}  prompt-cache bound: {bound // mb} MB"
    )
    print(
        "footprint: the memory the server alone holds (anonymous pages, or macOS's physical"
        " footprint); RSS adds library code pages mapped from files\n"
    )
    print(
        table(
            [
                "moment",
                f"{measure} MB",
                "RSS MB",
                "of it file-backed MB",
                "loaded model",
                "model MB (/health)",
                "prompt cache MB (/health)",
            ],
            [
                [
                    r.moment,
                    r.held / mb,
                    r.rss / mb,
                    "-" if r.file_backed is None else r.file_backed / mb,
                    r.model,
                    r.model_bytes / mb,
                    r.cache_bytes / mb,
                ]
                for r in rows
            ],
        )
    )
    empty, loaded, _, settled, unloaded = rows
    growth = settled.held - loaded.held
    checks = [
        (
            f"{measure} growth, settled (MB, <= cache bound + 2%)",
            growth / mb,
            growth <= bound + 0.02 * loaded.held,
        ),
        (
            "prompt cache within its bound (MB)",
            settled.cache_bytes / mb,
            settled.cache_bytes <= bound,
        ),
        (
            f"{measure} after idle unload / empty server (<= 1.10)",
            unloaded.held / empty.held,
            unloaded.held <= 1.10 * empty.held,
        ),
        (
            "model freed (/health reports no model)",
            1.0 if unloaded.model == "-" else 0.0,
            unloaded.model == "-",
        ),
    ]
    print()
    print(table(["check", "measured", "verdict"], [[n, v, verdict(ok)] for n, v, ok in checks]))
    if empty.file_backed is not None and unloaded.file_backed is not None:
        left, code = unloaded.rss - empty.rss, unloaded.file_backed - empty.file_backed
        print(
            f"\nRSS after idle unload / empty server: {unloaded.rss / empty.rss:.3f};"
            f" of the {left / mb:.1f} MB more, {code / mb:.1f} MB are file-backed (library code"
            " read in while the model ran), the rest heap the allocators keep"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
