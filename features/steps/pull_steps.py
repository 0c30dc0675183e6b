"""Steps for pull: a hub-compatible server on 127.0.0.1 and the real huggingface_hub."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

from pytest_bdd import given, parsers, then, when

from mlxk.testing.fakehub import FakeHub, HubRepo
from mlxk.testing.fixtures import Q4, mlx_model_files


@given(
    parsers.parse(
        'a fake Hub on 127.0.0.1 serving "{public}", gated "{gated}" and private "{private}"'
    )
)
def fake_hub(world, public, gated, private):
    files = mlx_model_files("llama-chat", Q4)
    hub = FakeHub(
        [
            HubRepo(public, files),
            HubRepo(gated, files, gated=True),
            HubRepo(private, files, private=True),
        ]
    ).__enter__()
    world["cleanup"].append(lambda: hub.__exit__(None, None, None))
    world["fakehub"] = hub
    world["env"]["HF_ENDPOINT"] = hub.url
    world["env"]["HF_HUB_DISABLE_XET"] = "1"
    world["hub"] = world["tmp"] / "hf" / "hub"


@given(parsers.parse('the fake Hub cuts "{path}" after {nbytes:d} bytes, {times:d} times'))
def hub_cuts(world, path, nbytes, times):
    world["fakehub"].cut_after(path, nbytes, times)


@given("the fake Hub no longer cuts connections")
def hub_no_cuts(world):
    world["fakehub"].faults.cut_after.clear()


@given(parsers.parse('the fake Hub answers HTTP {status:d} for "{path}"'))
def hub_fails(world, status, path):
    world["fakehub"].fail_with(path, status)


@then(parsers.parse('the second pull downloaded only "{path}"'))
def second_pull_only(world, path):
    requests = world["fakehub"].requests
    starts = [i for i, (_m, p, _h) in enumerate(requests) if p.endswith("/revision/main")]
    assert len(starts) == 2, requests
    fetched = {
        p.rsplit("/", 1)[-1]
        for m, p, _h in requests[starts[1] :]
        if m == "GET" and "/resolve/" in p
    }
    assert fetched == {path}, fetched


@then("the fake Hub saw no request")
def saw_nothing(world):
    assert world["fakehub"].requests == []


@then(parsers.parse('the cache has nothing for "{repo}"'))
def nothing_cached(world, repo):
    from mlxk.cache.scan import repo_dir_name

    path = world["hub"] / repo_dir_name(repo)
    blobs = list((path / "blobs").glob("*")) if path.exists() else []
    assert not blobs, blobs


@then(parsers.parse('"{repo}" is not reported healthy'))
def not_healthy(world, repo):
    from steps.cli_steps import run_in_process

    result = run_in_process(["health", repo, "--json"], world["env"])
    if result.exit_code == 0:
        raise AssertionError(result.stdout)
    payload = result.json
    assert payload["status"] == "error" or payload["data"]["summary"]["healthy_count"] == 0


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@when(
    parsers.parse('I run "{command}" as a process that may write at most {limit:d} bytes per file')
)
def run_limited(world, command, limit):
    from steps.cli_steps import Result, _argv

    proc = subprocess.run(
        [sys.executable, "-m", "mlxk", *_argv(command)],
        capture_output=True,
        text=True,
        env=world["env"],
        preexec_fn=_limit_file_size(limit),
        timeout=120,
    )
    world["result"] = Result(_argv(command), proc.returncode, proc.stdout, proc.stderr)


@given("the Hub cannot be reached")
def hub_unreachable(world):
    world["env"]["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens on the discard port


@given(parsers.parse('the fake Hub stalls "{path}" after {nbytes:d} bytes'))
def hub_stalls(world, path, nbytes):
    world["fakehub"].faults.stall_after[path] = nbytes


@given("the fake Hub no longer stalls")
def hub_no_stall(world):
    world["fakehub"].faults.stall_after.clear()


@when(parsers.parse('I start "{command}" and press Ctrl-C once the download has stalled'))
def pull_then_ctrl_c(world, command):
    import signal

    from steps.process_steps import spawn_mlxk

    proc = spawn_mlxk(world, command)
    assert world["fakehub"].faults.stalled.wait(60), "the download never started"
    proc.send_signal(signal.SIGINT)
    world["proc"] = proc


@then("it exits with code 130, saying it was interrupted, without a traceback")
def pull_interrupted(world):
    proc = world["proc"]
    assert proc.wait(30) == 130
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "interrupted" in err, err
