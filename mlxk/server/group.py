"""Start a distributed group through ``mlx.launch``, and keep it running.

``mlxk serve --hosts`` (or ``run --hosts``) starts mlx.launch with the same mlxk command
for every rank; rank 0 serves (or runs) and the others follow it (see
:mod:`mlxk.engine.lockstep`). The launcher runs in its own session, so that when it ends
every local rank it started is killed with it (remote ranks end with their ssh session).

mlx.launch exits 0 whatever its ranks did, so rank 0 leaves its exit code in a status
file. When the group ends without being asked to, :func:`supervise_group` answers 503
on the server's address (:class:`Degraded`) and starts the group again once every host
passes its checks; a rank 0 that could not start at all is not retried.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlxk.server.hosts import Hostfile
from mlxk.server.stand_in import Degraded
from mlxk.server.supervisor import (
    EXIT_CANNOT_START,
    EXIT_USAGE,
    GRACE_S,
    RESTART_LIMIT,
    RESTART_WINDOW_S,
    child_command,
)

STATUS_ENV = "MLXK_GROUP_STATUS"  # where rank 0 writes its exit code
EXIT_GROUP_LOST = 75  # rank 0 ended because a rank was lost (EX_TEMPFAIL)
RESTART_DELAY_S = 2.0
LINGER_S = 3.0  # how long the launcher may outlive rank 0
RECHECK_S = 2.0
_RING_NOISE = re.compile(r"\[ring\] (Socket \d+ was closed|Sending to|Receiving from)")
_NODE_WARNING = re.compile(r"Node with rank (\d+) (exited with code -?\d+|was killed)")


_rank: list[int] = []  # this process's rank, once it has joined its group


def _beside(status: str | Path, kind: str) -> Path:
    """A file next to the status file: rank 0's ``pid``, or ``ready`` once it has loaded."""
    return Path(f"{status}.{kind}")


def in_group() -> bool:
    """Whether this process is a rank mlxk started through mlx.launch (which sets the
    status path on every rank, whatever the backend: mpirun sets no MLX_RANK)."""
    return STATUS_ENV in os.environ


def joined(rank: int) -> None:
    """This process is rank ``rank``; rank 0 leaves its pid for the supervisor, which
    waits for it to drain."""
    _rank[:] = [rank]
    path = os.environ.get(STATUS_ENV)
    if path and rank == 0:
        _beside(path, "pid").write_text(str(os.getpid()), encoding="utf-8")


def write_status(code: int) -> None:
    """Rank 0 says how it ended (mlx.launch's own exit code says nothing)."""
    path = os.environ.get(STATUS_ENV)
    if path and _rank == [0]:
        Path(path).write_text(str(code), encoding="utf-8")


def take_over_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Rank 0, loaded and about to listen: ask the supervisor's 503 stand-in to let go
    of the port, and wait until it has (so that clients meet no refused connection)."""
    from mlxk.server.ports import bind_error

    path = os.environ.get(STATUS_ENV)
    if not path:
        return
    _beside(path, "ready").write_text("1", encoding="utf-8")
    deadline = time.monotonic() + timeout
    while bind_error(host, port) is not None and time.monotonic() < deadline:
        time.sleep(0.02)


class Launch:
    """One mlx.launch run of ``argv`` (an mlxk command line) on every host."""

    def __init__(self, hostfile: Hostfile, argv: list[str], *, port: int, verbose: bool = False):
        self.workdir = Path(tempfile.mkdtemp(prefix="mlxk-group-"))
        self.status = self.workdir / "status"
        launcher_hostfile = self.workdir / "hostfile.json"
        launcher_hostfile.write_text(json.dumps(hostfile.for_launcher()), encoding="utf-8")
        boot = child_command(argv)[1:]  # python is given by --python
        self.command = [
            sys.executable,
            "-c",
            "from mlx._distributed_utils.launch import main; main()",
            "--hostfile",
            str(launcher_hostfile),
            "--backend",
            hostfile.backend,
            "--python",
            sys.executable,
            "--starting-port",
            str(port),
            "--env",
            f"{STATUS_ENV}={self.status}",
            *(["--verbose"] if verbose else []),
            "--",
            *boot,
        ]
        self.process: subprocess.Popen | None = None
        self.lost: str | None = None  # what the launcher said ended a rank

    def start(self, env: dict[str, str] | None = None) -> None:
        for stale in (self.status, _beside(self.status, "pid"), _beside(self.status, "ready")):
            stale.unlink(missing_ok=True)
        self.lost = None
        self.process = subprocess.Popen(
            self.command,
            env=env,
            start_new_session=True,
            stdin=subprocess.PIPE,  # never written: the launcher polls it and forwards it
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        """Pass the ranks' stderr through, noting which rank the launcher saw end."""
        assert self.process is not None and self.process.stderr is not None
        said: set[str] = set()
        for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            found = _NODE_WARNING.search(line)
            if found and self.lost is None:
                self.lost = f"rank {found.group(1)} ({found.group(2)})"
            if _RING_NOISE.match(line):  # the backend says it once per retry: once will do
                key = re.sub(r"\d+", "N", line)
                if key in said:
                    continue
                said.add(key)
            sys.stderr.write(line)
            sys.stderr.flush()

    @property
    def rank0_code(self) -> int | None:
        try:
            return int(self.status.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @property
    def ready(self) -> bool:
        """Whether rank 0 has loaded and asked for the port."""
        return _beside(self.status, "ready").exists()

    def wait_ready(self, stopping: Callable[[], bool]) -> None:
        """Until rank 0 has loaded and wants the port, or the group (or rank 0) ended."""
        assert self.process is not None
        seen = False
        while not self.ready:
            running = self.rank0_running
            seen = seen or running
            if stopping() or self.process.poll() is not None or (seen and not running):
                return
            time.sleep(0.02)

    def clean(self) -> None:
        """Remove the launch's files (its hostfile, status, a run's prompt)."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def rank0_running(self) -> bool:
        """Whether rank 0 (a local process) is still running."""
        try:
            pid = int(_beside(self.status, "pid").read_text(encoding="utf-8"))
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return self.rank0_code is None

    def wait(self, stopping: Callable[[], bool]) -> None:
        """Until the launcher and rank 0 have ended (rank 0 drains its requests first),
        or a grace period after a stop, or after rank 0 ended while the launcher lingers
        on a rank that cannot be stopped: then kill whatever is left."""
        assert self.process is not None
        deadline, seen = None, False
        while True:
            launcher, rank0 = self.process.poll() is None, self.rank0_running
            seen = seen or rank0
            if not launcher and not rank0:
                break
            if stopping() or not launcher:  # rank 0 may be draining its streams
                deadline = deadline or time.monotonic() + GRACE_S
            elif seen and not rank0:  # the launcher lingers on a rank it cannot stop
                deadline = deadline or time.monotonic() + LINGER_S
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.reap()

    def stop(self) -> None:
        """Ask every local rank to stop (rank 0 drains its open requests)."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)

    def reap(self) -> None:
        """Kill whatever the launcher left behind, and wait for the launcher."""
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()


def pin_local_rank(hosts: str | None, rank: int) -> None:
    """Give this rank its own share of this machine's cores, and as many BLAS threads
    (unless the user chose a count), when several ranks of the group run here (before
    mlx starts its threads). Ranks left to the scheduler migrate
    between cores and wait on each other's collectives: pinned, two ranks on 2 cores
    decoded 1.9x as fast. A process the user already confined (taskset) is left alone."""
    if not hosts or not hasattr(os, "sched_setaffinity"):
        return
    from mlxk.errors import MlxkError
    from mlxk.server.hosts import read_hostfile

    try:
        local = [host.rank for host in read_hostfile(hosts).hosts if host.local]
    except MlxkError:
        return  # a remote rank may have no copy of the hostfile: not this machine's to share
    cores = sorted(os.sched_getaffinity(0))
    if len(local) < 2 or rank not in local or len(cores) < (os.cpu_count() or 1):
        return
    share = max(1, len(cores) // len(local))
    start = (local.index(rank) * share) % len(cores)
    os.sched_setaffinity(0, cores[start : start + share])
    os.environ.setdefault("MLXK_BLAS_THREADS", str(share))  # its BLAS threads to match


def _die_with_parent() -> None:
    """In the launcher, before it runs: SIGTERM when mlxk dies, even by SIGKILL (Linux),
    which ends every local rank in turn (each follows its launcher)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def run_group(launch: Launch, env: dict[str, str] | None = None) -> int:
    """Run the group once (``run --hosts``); rank 0's exit code (1 if it left none)."""
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        launch.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        launch.start(env)
        launch.wait(lambda: stopping)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    code = launch.rank0_code
    if stopping:
        return 130
    return 1 if code is None else code


def supervise_group(
    launch: Launch,
    *,
    host: str,
    port: int,
    check: Callable[[], list[str]],
    env: dict[str, str] | None = None,
    log: Callable[[str], Any] = print,
) -> int:
    """Run the group until stopped, starting it again after a fault once every host
    passes ``check``; 503 on ``host:port`` meanwhile. Returns as ``supervise`` does."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()
        launch.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    failures = 0  # group ends in a row without a minute of serving between
    stand_in: Degraded | None = None
    try:
        while True:
            launch.start(env)
            if stand_in is not None:  # 503 until the new rank 0 takes the port over
                launch.wait_ready(stopping.is_set)
                stand_in.close()
            started = time.monotonic()
            launch.wait(stopping.is_set)
            code = launch.rank0_code
            if stopping.is_set():
                return 0
            if code in (EXIT_CANNOT_START, EXIT_USAGE):
                return code
            served = launch.ready and time.monotonic() - started > RESTART_WINDOW_S
            failures = 1 if served else failures + 1
            if failures > RESTART_LIMIT:
                log(f"mlxk serve: the group ended {failures} times in a row; giving up")
                return 1
            reason = f"the distributed group lost {launch.lost or 'rank 0'}; restarting it"
            log(f"mlxk serve: {reason}")
            stand_in = Degraded(host, port, reason).open()
            if not _wait_for_hosts(check, stopping, log):
                return 0
    finally:
        if stand_in is not None:
            stand_in.close()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait_for_hosts(
    check: Callable[[], list[str]], stopping: threading.Event, log: Callable[[str], Any]
) -> bool:
    """After a pause, until every host passes ``check`` (False: stopped meanwhile)."""
    if stopping.wait(RESTART_DELAY_S):
        return False
    said: list[str] = []
    while True:
        problems = check()
        if not problems:
            return True
        if problems != said:
            for line in problems:
                log(f"mlxk serve: waiting for {line}")
            said = problems
        if stopping.wait(RECHECK_S):
            return False
