"""The hosts of a distributed group: ``mlx.launch``'s hostfile, and the checks each host
must pass before a group starts (``mlxk health MODEL --hosts``, and each start of
``serve``/``run --hosts``).

A hostfile is mlx.launch's JSON: a list of hosts, or ``{"backend", "envs", "hosts"}``;
each host is ``{"ssh": NAME, "ips": [IP, …]}``. Rank 0 is the first host and must be
this machine (it serves HTTP, or prints the run's answer). ``localhost`` and
``127.0.0.1`` are this machine: their ranks are started as local processes.

Each problem is reported as one line naming its host, and no check can hang: ssh runs
in batch mode with a connect timeout, under an overall timeout.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxk.errors import GroupUnavailable, MlxkError, UsageError

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
BACKENDS = ("ring", "mpi", "jaccl")
# what ssh takes as a destination, and never as an option (no leading '-')
_SSH_NAME = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9_:\[][A-Za-z0-9._:\]-]*")
SSH_TIMEOUT_S = 5
CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Host:
    rank: int
    ssh: str
    ips: tuple[str, ...]
    entry: tuple[tuple[str, Any], ...] = ()  # the hostfile's entry as written (rdma, …)

    @property
    def local(self) -> bool:
        return self.ssh in LOCAL_NAMES

    @property
    def label(self) -> str:
        return f"host {self.ssh} (rank {self.rank})"


@dataclass(frozen=True)
class Hostfile:
    path: Path
    hosts: tuple[Host, ...]
    backend: str
    envs: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.hosts)

    def for_launcher(self) -> dict:
        """The hostfile mlx.launch is given: this machine's entries as 127.0.0.1 (which
        it starts as local processes, not over ssh)."""
        hosts = [
            {
                **dict(h.entry),
                "ssh": "127.0.0.1" if h.local else h.ssh,
                "ips": list(h.ips) or ["127.0.0.1"],
            }
            for h in self.hosts
        ]
        return {"backend": self.backend, "envs": list(self.envs), "hosts": hosts}


def read_hostfile(path: str | Path, backend: str | None = None) -> Hostfile:
    """Read and check a hostfile.

    Raises:
        UsageError: unreadable, not mlx.launch's form, rank 0 not this machine, or (ring
            backend) a remote host without ``ips``.
    """
    where = Path(path).expanduser()
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"cannot read the hostfile {where}: {error}") from None
    listed = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(listed, list) or not listed:
        raise UsageError(f"hostfile {where}: expected a list of hosts, or {{'hosts': [...]}}")
    hosts = []
    for rank, entry in enumerate(listed):
        if not isinstance(entry, dict) or not isinstance(entry.get("ssh"), str):
            raise UsageError(f"hostfile {where}: host {rank} needs an 'ssh' name")
        if not _SSH_NAME.fullmatch(entry["ssh"]):
            raise UsageError(
                f"hostfile {where}: host {rank}'s ssh name {entry['ssh']!r} is not a host name"
                " (letters, digits, '.', '-', '_', ':', optionally user@)"
            )
        ips = entry.get("ips") or []
        if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
            raise UsageError(f"hostfile {where}: host {rank}'s 'ips' must be a list of strings")
        hosts.append(Host(rank, entry["ssh"], tuple(ips), tuple(entry.items())))
    chosen = backend or (data.get("backend") if isinstance(data, dict) else None) or "ring"
    if chosen not in BACKENDS:
        raise UsageError(
            f"hostfile {where}: backend {chosen!r} is not one of {', '.join(BACKENDS)}"
        )
    envs = data.get("envs") or [] if isinstance(data, dict) else []
    if not isinstance(envs, list) or not all(isinstance(e, str) and "=" in e for e in envs):
        raise UsageError(f"hostfile {where}: 'envs' must be a list of NAME=VALUE strings")
    if not hosts[0].local:
        raise UsageError(
            f"hostfile {where}: rank 0 ({hosts[0].ssh}) must be this machine (localhost or"
            " 127.0.0.1): it serves the API and runs the launcher"
        )
    spans_machines = any(not host.local for host in hosts)
    if chosen == "ring" and spans_machines:  # on one machine, 127.0.0.1 serves for all
        for host in hosts:
            if not host.ips:
                raise UsageError(
                    f"hostfile {where}: {host.label} has no 'ips' (the ring backend connects"
                    " by IP address, and the other machines must reach this one's too)"
                )
    return Hostfile(where, tuple(hosts), chosen, tuple(envs))


def host_problems(hostfile: Hostfile, hub: Path, model: str) -> dict[int, str]:
    """Why each host that cannot take part cannot, by rank: unreachable, without the
    model (or with it unhealthy), or with other mlxk, mlx or mlx-lm versions than this
    machine's. Empty: all can."""
    problems = {}
    for host in hostfile.hosts:
        try:
            if host.local:
                _check_local(hub, model)
            else:
                _check_remote(host, model)
        except MlxkError as error:
            problems[host.rank] = error.message
    return problems


def check_hosts(hostfile: Hostfile, hub: Path, model: str) -> list[str]:
    """One line per host that cannot take part, naming it (see :func:`host_problems`)."""
    problems = host_problems(hostfile, hub, model)
    return [f"{hostfile.hosts[rank].label}: {why}" for rank, why in problems.items()]


def require_hosts(hostfile: Hostfile, hub: Path, model: str) -> None:
    """Raises GroupUnavailable listing every host's problem, one per line."""
    problems = check_hosts(hostfile, hub, model)
    if problems:
        raise GroupUnavailable("\n".join(problems))


def _check_local(hub: Path, model: str) -> None:
    from mlxk.cache.info import resolve_runnable

    resolve_runnable(hub, model)


def versions() -> dict[str, str]:
    from mlxk import __version__
    from mlxk.cache.health import installed_version

    return {
        "mlxk": __version__,
        "mlx": installed_version("mlx") or "none",
        "mlx-lm": installed_version("mlx-lm") or "none",
    }


_REMOTE = (
    "import json, sys\n"
    "from mlxk.server.hosts import versions\n"
    "from mlxk.cache.info import resolve_runnable\n"
    "from mlxk.settings import Settings\n"
    "out = {'versions': versions()}\n"
    "try:\n"
    "    resolve_runnable(Settings.from_environ().hub_cache, sys.argv[1])\n"
    "except Exception as error:\n"
    "    out['problem'] = getattr(error, 'message', str(error))\n"
    "print(json.dumps(out))\n"
)


def _check_remote(host: Host, model: str) -> None:
    command = shlex.join([sys.executable, "-c", _REMOTE, model])
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S}", "--", host.ssh]
    try:
        done = subprocess.run(
            [*ssh, command], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S
        )
    except FileNotFoundError:
        raise GroupUnavailable("cannot be reached: no ssh client on this machine") from None
    except subprocess.TimeoutExpired:
        raise GroupUnavailable(f"no answer over ssh in {CHECK_TIMEOUT_S:.0f} s") from None
    if done.returncode == 255:
        last = (done.stderr.strip().splitlines() or ["ssh failed"])[-1]
        raise GroupUnavailable(f"unreachable by ssh: {last}")
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise GroupUnavailable(
            f"mlxk does not run there as {sys.executable}: {last} (install mlxk at the"
            " same path on every host)"
        ) from None
    theirs, ours = report.get("versions") if isinstance(report, dict) else None, versions()
    if theirs != ours:
        said = theirs if isinstance(theirs, dict) else {}
        raise GroupUnavailable(
            "runs "
            + ", ".join(f"{k} {said.get(k, '?')}" for k in ours)
            + "; this machine runs "
            + ", ".join(f"{k} {v}" for k, v in ours.items())
        )
    if "problem" in report:
        raise GroupUnavailable(report["problem"])
