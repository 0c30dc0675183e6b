"""Steps that run mlxk and check what it printed."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd import parsers, then, when

from mlxk.cli.main import main
from mlxk.contract import validate_envelope


@dataclass
class Result:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def run_in_process(argv: list[str], env: dict, stdin: str = "") -> Result:
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(argv, environ=env, stdout=out, stderr=err)
    finally:
        sys.stdin = saved_stdin
    return Result(argv, code, out.getvalue(), err.getvalue())


def run_subprocess(argv: list[str], env: dict, stdin: str = "", timeout: float = 120) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "mlxk", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


LONG_PROMPT = " ".join(["one two three four five six seven eight nine ten"] * 8)


def _argv(command: str) -> list[str]:
    """The command's words; ``<long>`` is a long prompt, ``<300 a>`` 300 a's, ``<60 word >``
    the word and a space 60 times."""
    command = re.sub(r"<(\d+) (\w+ ?)>", lambda m: m[2] * int(m[1]), command)
    words = [LONG_PROMPT if w == "<long>" else w for w in shlex.split(command)]
    assert words[0] == "mlxk", f"commands start with mlxk: {command}"
    return words[1:]


@when(parsers.parse('I run "{command}"'))
def i_run(world, command):
    world["result"] = run_in_process(_argv(command), world["env"])


@when(parsers.parse('I run "{command}" with stdin "{stdin}"'))
def i_run_with_stdin(world, command, stdin):
    world["result"] = run_in_process(_argv(command), world["env"], stdin.replace("\\n", "\n"))


@when(parsers.parse('I run "{command}" as a separate process'))
def i_run_process(world, command):
    world["result"] = run_subprocess(_argv(command), world["env"])


@when(parsers.parse('I run "{command}" as a user without access to that file'))
def i_run_without_access(world, command):
    # Root reads any file; drop the capabilities that let it, so it is an ordinary owner.
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root: setpriv (util-linux) is needed to drop DAC override"
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "mlxk", *_argv(command)],
        capture_output=True,
        text=True,
        env=world["env"],
        timeout=120,
    )
    world["result"] = Result(_argv(command), proc.returncode, proc.stdout, proc.stderr)


@then(parsers.parse("the exit code is {code:d}"))
def exit_code_is(world, code):
    result = world["result"]
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)


@then("the exit code is not 0")
def exit_code_nonzero(world):
    assert world["result"].exit_code != 0, world["result"]


@then(parsers.parse('stdout is exactly "{text}"'))
def stdout_exactly(world, text):
    assert world["result"].stdout == text.replace("\\n", "\n") + "\n", world["result"].stdout


@then("stdout is:")
def stdout_is_docstring(world, docstring):
    assert world["result"].stdout.rstrip("\n") == docstring.rstrip("\n"), world["result"].stdout


@then(parsers.parse('stdout contains "{text}"'))
def stdout_contains(world, text):
    assert text.replace("\\n", "\n") in world["result"].stdout, world["result"].stdout


@then(parsers.parse('stdout does not contain "{text}"'))
def stdout_lacks(world, text):
    assert text.replace("\\n", "\n") not in world["result"].stdout, world["result"].stdout


@then(parsers.parse('stderr contains "{text}"'))
def stderr_contains(world, text):
    assert text in world["result"].stderr, world["result"].stderr


@then("stdout is empty")
def stdout_empty(world):
    assert world["result"].stdout == "", world["result"].stdout


@then("the error is one line on stderr without a traceback")
def one_line_error(world):
    result = world["result"]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith("mlxk"), lines[0]


@then(parsers.parse('the output is a valid JSON envelope for "{command}"'))
def valid_envelope(world, command):
    payload = world["result"].json
    validate_envelope(payload)
    expected = None if command == "null" else command
    assert payload["command"] == expected, payload


@then(parsers.parse('the JSON status is "{status}"'))
def json_status(world, status):
    assert world["result"].json["status"] == status, world["result"].stdout


@then(parsers.parse('the JSON error type is "{code}"'))
def json_error_type(world, code):
    payload = world["result"].json
    assert payload["error"]["type"] == code, payload


def json_path(payload, path: str):
    value = payload
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@then(parsers.parse('the JSON field "{path}" is "{value}"'))
def json_field_is(world, path, value):
    actual = json_path(world["result"].json, path)
    assert str(actual) == value.replace("\\n", "\n"), actual


@then(parsers.parse('the JSON field "{path}" is null'))
def json_field_null(world, path):
    assert json_path(world["result"].json, path) is None


@then(parsers.parse('the JSON field "{path}" is {number:d}'))
def json_field_number(world, path, number):
    assert json_path(world["result"].json, path) == number


@then(parsers.parse('the JSON field "{path}" contains "{text}"'))
def json_field_contains(world, path, text):
    actual = json_path(world["result"].json, path)
    assert text in str(actual), actual


@then(
    parsers.parse(
        'the JSON list has an entry "{name}" with framework "{framework}" and type "{model_type}"'
    )
)
def json_list_entry(world, name, framework, model_type):
    models = {m["name"]: m for m in world["result"].json["data"]["models"]}
    assert name in models, sorted(models)
    assert models[name]["framework"] == framework, models[name]
    assert models[name]["model_type"] == model_type, models[name]


@then("the JSON list is sorted by name")
def json_list_sorted(world):
    names = [m["name"] for m in world["result"].json["data"]["models"]]
    assert names == sorted(names, key=str.lower)


@then(parsers.parse('every "{field}" in the JSON list is UTC with a Z suffix'))
def json_list_utc(world, field):
    from datetime import datetime, timezone

    for model in world["result"].json["data"]["models"]:
        stamp = model[field]
        assert stamp.endswith("Z"), stamp
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - parsed).total_seconds()) < 3600


@when(parsers.parse('I remove revision {index:d} of "{name}" with "{flags}"'))
def remove_revision(world, index, name, flags):
    commit = world["commits"][name][index - 1]
    world["result"] = run_in_process(
        ["rm", f"{name}@{commit[:10]}", *shlex.split(flags)], world["env"]
    )


@when(parsers.parse('I show revision {index:d} of "{name}" as "{typed}"'))
def show_revision_as(world, index, name, typed):
    commit = world["commits"][name][index - 1]
    world["result"] = run_in_process(["show", f"{typed}@{commit[:10]}", "--json"], world["env"])


@when(parsers.parse('I chat with "{model}" typing "{lines}"'))
def chat_typing(world, model, lines):
    typed = lines.split("\\|") if "\\|" in lines else lines.split("|")
    world["result"] = run_in_process(["run", model], world["env"], "\n".join(typed) + "\n")


@when(parsers.parse('I chat with "{model}" typing "{lines}" with "{flags}"'))
def chat_typing_flags(world, model, lines, flags):
    world["result"] = run_in_process(
        ["run", model, *shlex.split(flags)], world["env"], "\n".join(lines.split("|")) + "\n"
    )


@then(parsers.parse('the assistant\'s answers are "{answers}"'))
def assistant_answers(world, answers):
    out = world["result"].stdout
    got = [part.split("\n\n")[0] for part in out.split("Assistant: ")[1:]]
    assert got == answers.split("|"), out


@then(parsers.parse("prompt and completion tokens add up to the {context:d}-token context"))
def fills_cli_context(world, context):
    usage = world["result"].json["data"]["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == context, usage


@then("the model was not asked anything")
def not_asked(world):
    assert "Assistant: " not in world["result"].stdout, world["result"].stdout


@then("the second turn reused cached prompt tokens")
def second_turn_cached(world):
    import re

    lines = [line for line in world["result"].stderr.splitlines() if "cached" in line]
    assert len(lines) == 2, world["result"].stderr
    cached = [int(re.search(r"\((\d+) cached\)", line).group(1)) for line in lines]
    assert cached[0] == 0 and cached[1] > 10, lines


@when(parsers.parse('I run "{command}" into a pipe closed after {count:d} bytes'))
def run_into_closed_pipe(world, command, count):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlxk", *_argv(command)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=world["env"],
    )
    proc.stdout.read(count)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    world["result"] = Result(_argv(command), proc.returncode, "", err.decode())


@then("the process ended without a traceback")
def ended_quietly(world):
    result = world["result"]
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error" not in result.stderr, result.stderr


@then(parsers.parse('the JSON files include "{name}" as "{kind}"'))
def json_files_include(world, name, kind):
    files = {f["name"]: f for f in world["result"].json["data"]["files"]}
    assert files[name]["type"] == kind, files[name]
    assert files[name]["size_bytes"] > 0
    from mlxk.cli.commands.show import decimal_size

    assert files[name]["size"] == decimal_size(files[name]["size_bytes"])  # 2.0's string


@when(
    parsers.parse(
        'I run "mlxk show" with the model\'s name and the first {count:d} characters of its hash'
    )
)
def show_by_hash(world, count):
    model = world["result"].json["data"]["model"]
    spec = f"{model['name']}@{model['hash'][:count]}"
    world["result"] = run_in_process(["show", spec, "--json"], world["env"])
    assert world["result"].json["data"]["model"]["hash"] == model["hash"]


@when(parsers.parse('I run "{command}" in a terminal and answer "{answer}"'))
def run_in_terminal(world, command, answer):
    import os
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: mlxk with the pty as its terminal
        os.execve(sys.executable, [sys.executable, "-m", "mlxk", *_argv(command)], world["env"])
    seen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 1024)
            except OSError:
                break
    assert b"[y/N]" in seen, seen
    os.write(fd, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    world["result"] = Result(
        _argv(command), os.waitstatus_to_exitcode(status), seen.decode(errors="replace"), ""
    )


@then("the help names every command")
def help_names_every_command(world):
    from mlxk.cli.parser import COMMANDS

    listed = world["result"].stdout
    missing = [name for name in COMMANDS if name != "server" and name not in listed]
    assert not missing, (missing, listed)


@then(parsers.parse('the installed mlxk script prints exactly the same for "{arguments}"'))
def script_same(world, arguments):
    script = Path(sys.executable).parent / "mlxk"
    proc = subprocess.run(
        [str(script), *shlex.split(arguments)], capture_output=True, text=True, env=world["env"]
    )
    assert (proc.returncode, proc.stdout) == (world["result"].exit_code, world["result"].stdout)


@when(parsers.parse('I run "{command}" with the schema file:'))
def i_run_with_schema(world, command, docstring):
    path = Path(world["tmp"]) / "schema.json"
    path.write_text(docstring)
    world["schema_file"] = path
    world["result"] = run_in_process([*_argv(command), "--schema", str(path)], world["env"])


@then("the JSON answer is valid for the schema file")
def answer_valid_for_schema(world):
    import jsonschema

    envelope = json.loads(world["result"].stdout)
    schema = json.loads(world["schema_file"].read_text())
    jsonschema.validate(json.loads(envelope["data"]["response"]), schema)


@then("the JSON answer is a JSON object")
def answer_is_object(world):
    envelope = json.loads(world["result"].stdout)
    assert isinstance(json.loads(envelope["data"]["response"]), dict)
