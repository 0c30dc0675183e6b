"""Steps that talk to a real mlxk server over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import openai
import pytest
from pytest_bdd import given, parsers, then, when

from mlxk.server.app import ServerSettings
from mlxk.testing.live_server import live_server


@pytest.fixture(scope="session")
def shared_server(standard_hub, tmp_path_factory):
    home = tmp_path_factory.mktemp("config")  # no models.toml: none of the user's
    settings = ServerSettings(hub_cache=standard_hub, keepalive_seconds=0.5, config_home=home)
    with live_server(settings) as url:
        yield url


@given("a running server on the standard fixture cache")
def running_server(world, shared_server):
    world["url"] = shared_server


def start_server(world, hub, **settings):
    """A server of this scenario's own on ``hub``, stopped when the scenario ends; its
    models.toml is the scenario's (under its HOME), none unless a step writes one."""
    settings.setdefault("config_home", Path(world["env"]["HOME"]) / ".config")
    manager = live_server(ServerSettings(hub_cache=hub, **settings))
    world["url"] = manager.__enter__()
    world["cleanup"].append(lambda: manager.__exit__(None, None, None))


@given(parsers.parse('a running server with API key "{key}"'))
def server_with_key(world, standard_hub, key):
    start_server(world, standard_hub, api_key=key)


@given(parsers.parse("a running server whose default max_tokens is {count:d}"))
def server_default_max_tokens(world, standard_hub, count):
    start_server(world, standard_hub, max_tokens=count)


@given(parsers.parse('a running server allowing the host "{host}"'))
def server_with_host(world, standard_hub, host):
    start_server(world, standard_hub, allowed_hosts=(host,))


@then(parsers.parse('the OpenAPI declares "{media}" for "{first}" and "{second}"'))
def openapi_declares(world, media, first, second):
    paths = world["http"].json()["paths"]
    for path in (first, second):
        assert media in paths[path]["post"]["responses"]["200"]["content"], path


@given(parsers.parse('a running server allowing the origin "{origin}"'))
def server_with_cors(world, standard_hub, origin):
    start_server(world, standard_hub, cors_origins=(origin,))


def client(world, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=world["url"] + "/v1", api_key=key, max_retries=0)


def _remember(world, model, text):
    world["asked"] = (model, text)


@then(
    parsers.parse(
        "the usage counts the prompt's tokens by the model's own tokenizer and {completion:d} more"
    )
)
def usage_real(world, standard_hub, completion):
    from transformers import AutoTokenizer

    from mlxk.cache.naming import resolve

    model, text = world["asked"]
    snapshot = resolve(standard_hub, model).snapshot.path
    tokenizer = AutoTokenizer.from_pretrained(str(snapshot))
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    usage = world["response"].usage
    assert usage.prompt_tokens == len(ids), (usage, len(ids))
    assert usage.completion_tokens == completion
    assert usage.total_tokens == len(ids) + completion


@when(parsers.parse('the openai client asks "{model}": "{text}"'))
def ask(world, model, text):
    _remember(world, model, text)
    world["response"] = client(world).chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}]
    )


@when(parsers.parse('the openai client asks "{model}": "{text}" with {options}'))
def ask_with(world, model, text, options):
    _remember(world, model, text)
    world["response"] = client(world).chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **json.loads(options)
    )


@when(parsers.parse('the openai client streams "{model}": "{text}"'))
def ask_stream(world, model, text):
    stream = client(world).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    world["chunks"] = list(stream)


@when(parsers.parse('the openai client completes "{model}": "{prompt}" with {options}'))
def complete(world, model, prompt, options):
    world["response"] = client(world).completions.create(
        model=model, prompt=prompt, **json.loads(options)
    )


@when(parsers.parse('I POST to "{path}":'))
def post_json(world, path, docstring):
    """``<60 word >`` in the body stands for ``word `` written 60 times."""
    body = re.sub(r"<(\d+) (\w+) >", lambda m: (m[2] + " ") * int(m[1]), docstring)
    world["http"] = httpx.post(
        world["url"] + path,
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=60,
    )


@when(parsers.parse('I POST {size:d} MB of JSON to "{path}"'))
def post_huge(world, size, path):
    body = (
        '{"model": "x", "messages": [{"role": "user", "content": "'
        + "a" * (size * 1024 * 1024)
        + '"}]}'
    )
    world["http"] = httpx.post(
        world["url"] + path,
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=60,
    )


@when(parsers.parse('I GET "{path}"'))
def get(world, path):
    path = re.sub(r"<(\d+) (\w)>", lambda m: m[2] * int(m[1]), path)  # <300 a>: 300 a's
    world["http"] = httpx.get(world["url"] + path, timeout=60)


@when(parsers.parse('I GET "{path}" with the header "{name}: {value}"'))
def get_with_header(world, path, name, value):
    world["http"] = httpx.get(world["url"] + path, headers={name: value}, timeout=60)


@when(parsers.parse('I start streaming "{model}" and hang up after {count:d} chunks'))
def hang_up_step(world, model, count):
    hang_up(world, model, count)


def hang_up(world, model, count):
    world["tokens_before"] = httpx.get(world["url"] + "/health").json()["generated_tokens"]
    body = {"model": model, "prompt": "one", "max_tokens": 2000, "stream": True}
    with httpx.stream("POST", world["url"] + "/v1/completions", json=body, timeout=60) as r:
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data:"):
                seen += 1
            if seen >= count:
                break


@then(parsers.parse('the answer is "{text}"'))
def answer_is(world, text):
    assert world["response"].choices[0].message.content == text, world["response"]


@then(parsers.parse('the completion text is "{text}"'))
def completion_text(world, text):
    assert world["response"].choices[0].text == text, world["response"]


@then(parsers.parse('the reasoning is "{text}"'))
def reasoning_is(world, text):
    message = world["response"].choices[0].message
    assert message.reasoning == text, message
    assert message.reasoning_content == text, message


@then("the message has no reasoning")
def no_reasoning(world):
    message = world["response"].choices[0].message
    assert getattr(message, "reasoning", None) is None, message


@then(parsers.parse('the finish reason is "{reason}"'))
def finish_reason(world, reason):
    assert world["response"].choices[0].finish_reason == reason, world["response"]


@then(parsers.parse("the usage counts {prompt:d} prompt and {completion:d} completion tokens"))
def usage_counts(world, prompt, completion):
    usage = world["response"].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt, completion), usage
    assert usage.total_tokens == prompt + completion


@then(parsers.parse('the streamed answer is "{text}" and the streamed reasoning is "{reasoning}"'))
def streamed(world, text, reasoning):
    chunks = world["chunks"]
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in with_choices)
    thought = "".join(getattr(c.choices[0].delta, "reasoning", None) or "" for c in with_choices)
    assert (content, thought) == (text, reasoning)
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@then(parsers.parse("the HTTP status is {status:d}"))
def http_status(world, status):
    assert world["http"].status_code == status, world["http"].text


@then(parsers.parse('the error has the OpenAI shape with code "{code}"'))
def openai_error(world, code):
    body = world["http"].json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]


@then(parsers.parse('the error names the parameter "{param}"'))
def error_param(world, param):
    assert world["http"].json()["error"]["param"] == param


@then(parsers.parse('the openai client gets a {status:d} error with code "{code}" for "{model}"'))
def client_error(world, status, code, model):
    with pytest.raises(openai.APIStatusError) as caught:
        client(world).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == status
    assert caught.value.body["code"] == code, caught.value.body


@then("the server still answers a normal request")
def still_answers(world):
    response = client(world).chat.completions.create(
        model="mlx-community/TinyLlama-Chat-4bit", messages=[{"role": "user", "content": "hi"}]
    )
    assert response.choices[0].message.content == "Hello! I am a tiny test model, happy to help."


@then("the server stops generating for the client that left")
def stopped_generating(world):
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(world["url"] + "/health").json()["active_requests"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the abandoned generation is still running")


@when("I note how many tokens the server has generated")
def note_tokens(world):
    world["tokens_before"] = httpx.get(world["url"] + "/health").json()["generated_tokens"]


@then(parsers.parse("it generated far fewer tokens than the {asked:d} asked for"))
def far_fewer(world, asked):
    generated = httpx.get(world["url"] + "/health").json()["generated_tokens"]
    made = generated - world["tokens_before"]
    assert 0 < made < asked / 2, (made, asked)


@then(parsers.parse('the JSON body field "{path}" is "{value}"'))
def body_field(world, path, value):
    data = world["http"].json()
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    assert str(data) == value, data


@then(parsers.parse('the model list has "{name}" with context length {ctx:d}'))
def model_listed(world, name, ctx):
    cards = {m["id"]: m for m in world["http"].json()["data"]}
    assert cards[name]["context_length"] == ctx, cards[name]


@then(parsers.parse('the model list does not have "{name}"'))
def model_not_listed(world, name):
    assert name not in {m["id"] for m in world["http"].json()["data"]}


@then(parsers.parse('the response header "{name}" is "{value}"'))
def header_is(world, name, value):
    assert world["http"].headers.get(name) == value, dict(world["http"].headers)


@then(parsers.parse('the response has no header "{name}"'))
def header_absent(world, name):
    assert name.lower() not in {k.lower() for k in world["http"].headers}


@then(parsers.parse("the completion used {count:d} tokens"))
def completion_used(world, count):
    assert world["response"].usage.completion_tokens == count, world["response"].usage


EXPECTED_ANSWERS = {
    "mlx-community/TinyLlama-Chat-4bit": "Hello! I am a tiny test model, happy to help.",
    "mlx-community/TinyQwen3-Think-4bit": "Hi there, nice to meet you!",
}


@when(parsers.parse('{count:d} clients ask "{first}" and "{second}" in turn, all at once'))
def concurrent_clients(world, count, first, second):
    from concurrent.futures import ThreadPoolExecutor

    models = [first if i % 2 == 0 else second for i in range(count)]

    def ask_one(model):
        response = client(world).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}]
        )
        return model, response.choices[0].message.content

    with ThreadPoolExecutor(max_workers=count) as pool:
        world["answers"] = list(pool.map(ask_one, models))


@then("every client got its own model's answer")
def own_answers(world):
    for model, answer in world["answers"]:
        assert answer == EXPECTED_ANSWERS[model], (model, answer)


@then(parsers.parse("prompt and completion together fill the {context:d}-token context"))
def fills_context(world, context):
    usage = world["response"].usage
    assert usage.prompt_tokens + usage.completion_tokens == context, usage


@when(
    parsers.parse(
        'the openai client asks "{model}" with the content parts "{first}" and "{second}"'
    )
)
def ask_parts(world, model, first, second):
    parts = [{"type": "text", "text": first}, {"type": "text", "text": second}]
    world["response"] = client(world).chat.completions.create(
        model=model, messages=[{"role": "user", "content": parts}]
    )


@given("a running server with max concurrency 1 and no queue")
def server_no_queue(world, standard_hub):
    start_server(world, standard_hub, max_concurrency=1, queue_size=0)


@given(parsers.parse("a running server that unloads after {seconds:f} seconds idle"))
def server_idle(world, standard_hub, seconds):
    start_server(world, standard_hub, idle_unload=seconds)


@given(parsers.parse("a running server limited to {limit:d} bytes of model memory"))
def server_memory(world, standard_hub, limit):
    start_server(world, standard_hub, memory_limit=limit)


@given("a running server with metrics on")
def server_metrics(world, standard_hub):
    start_server(world, standard_hub, metrics=True)


@given(parsers.parse('a running server with "{model}" loaded and a batch window of {window:d} ms'))
def server_window(world, standard_hub, model, window):
    start_server(world, standard_hub, model=model, batch_window=window / 1000)


@when(parsers.parse('one client streams "{model}" and a second asks {delay:d} ms later'))
def staggered_clients(world, standard_hub, model, delay):
    import time
    from concurrent.futures import ThreadPoolExecutor

    world["standard_hub"] = standard_hub

    def first():
        stream = client(world).completions.create(
            model=model, prompt="one", max_tokens=6, stream=True
        )
        first_token, pieces = None, []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                first_token = first_token or time.monotonic()
                pieces.append(chunk.choices[0].text)
        return first_token, "".join(pieces)

    with ThreadPoolExecutor(max_workers=1) as pool:
        streaming = pool.submit(first)
        time.sleep(delay / 1000)
        world["second_asked"] = time.monotonic()
        second = client(world).completions.create(model=model, prompt="three", max_tokens=4)
        world["first_token_at"], first_text = streaming.result()
    world["completions"] = [
        (model, "one", 6, first_text),
        (model, "three", 4, second.choices[0].text),
    ]


@then("the first client's first token came only after the second had asked")
def first_waited(world):
    assert world["first_token_at"] > world["second_asked"]


@then("the first client's first token came before the second asked")
def first_started(world):
    assert world["first_token_at"] < world["second_asked"]


def _unbatched(world, model: str, prompt: str, max_tokens: int) -> str:
    from steps.cli_steps import run_in_process

    result = run_in_process(
        ["run", model, prompt, "--max-tokens", str(max_tokens), "--no-chat-template", "--json"],
        dict(world["env"], HF_HUB_CACHE=str(world["standard_hub"])),
    )
    return result.json["data"]["response"]


@when(
    parsers.parse(
        '{count:d} clients complete "{model}" at once with the prompts "{prompts}" '
        'and max tokens "{limits}"'
    )
)
def batch_clients(world, standard_hub, count, model, prompts, limits):
    from concurrent.futures import ThreadPoolExecutor

    world["standard_hub"] = standard_hub
    jobs = list(zip(prompts.split("|"), map(int, limits.split("|")), strict=True))
    assert len(jobs) == count

    def one(job):
        prompt, limit = job
        response = client(world).completions.create(model=model, prompt=prompt, max_tokens=limit)
        return model, prompt, limit, response.choices[0].text

    with ThreadPoolExecutor(max_workers=count) as pool:
        world["completions"] = list(pool.map(one, jobs))


@when(
    parsers.parse(
        '{count:d} clients complete "{model}" at once while a fourth hangs up after {n:d} chunks'
    )
)
def batch_with_leaver(world, standard_hub, count, model, n):
    from concurrent.futures import ThreadPoolExecutor

    world["standard_hub"] = standard_hub
    jobs = [("two", 12), ("four", 8), ("six", 10)][:count]

    def one(job):
        prompt, limit = job
        response = client(world).completions.create(model=model, prompt=prompt, max_tokens=limit)
        return model, prompt, limit, response.choices[0].text

    with ThreadPoolExecutor(max_workers=count + 1) as pool:
        leaver = pool.submit(hang_up, world, model, n)
        world["completions"] = list(pool.map(one, jobs))
        leaver.result()


@then("every completion equals the unbatched run of the same prompt")
def equals_unbatched(world):
    for model, prompt, limit, text in world["completions"]:
        assert text == _unbatched(world, model, prompt, limit), (prompt, text)


@when(parsers.parse('the openai client has a two-turn chat with "{model}"'))
def two_turns(world, model):
    messages = [
        {"role": "system", "content": "You are terse. " * 20},
        {"role": "user", "content": "Hi"},
    ]
    first = client(world).chat.completions.create(model=model, messages=messages)
    messages += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Hi again"},
    ]
    second = client(world).chat.completions.create(model=model, messages=messages)
    world["turns"] = (first, second)


@then("the second turn reports cached prompt tokens covering the first turn")
def cached_turn(world):
    first, second = world["turns"]
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= first.usage.prompt_tokens, (cached, first.usage)
    assert cached < second.usage.prompt_tokens


@when(
    parsers.parse(
        'one client streams "{model}" with max tokens {limit:d} and another asks at the same time'
    )
)
def busy_server(world, model, limit):
    body = {"model": model, "prompt": "one", "max_tokens": limit, "stream": True}
    with httpx.stream("POST", world["url"] + "/v1/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()  # held open (not closed by a finished loop) while we ask again
        while not next(lines).startswith("data:"):
            pass
        world["health_during"] = httpx.get(world["url"] + "/health").json()
        world["http"] = httpx.post(
            world["url"] + "/v1/completions",
            json={"model": model, "prompt": "two", "max_tokens": 2},
            timeout=60,
        )


@then(parsers.parse('the other client gets HTTP 503 with a Retry-After header and code "{code}"'))
def got_503(world, code):
    response = world["http"]
    assert response.status_code == 503, (response.text, world["health_during"])
    assert response.headers.get("retry-after"), dict(response.headers)
    assert response.json()["error"]["code"] == code


@then(parsers.parse('/health shows "{name}" loaded'))
def health_loaded(world, name):
    body = httpx.get(world["url"] + "/health").json()
    assert body["model"] == name and body["memory_bytes"] > 0, body


@then(parsers.parse("within {seconds:d} seconds /health shows no model loaded"))
def health_unloaded(world, seconds):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = httpx.get(world["url"] + "/health").json()
        if body["model"] is None and body["memory_bytes"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"still loaded: {body}")


@then("the response has timings with a positive decode speed")
def has_timings(world):
    timings = world["http"].json()["timings"]
    assert timings["decode_tokens_per_s"] > 0 and timings["time_to_first_token_s"] > 0, timings


@then(
    parsers.parse("the metrics report {count:d} completed request and {tokens:d} completion tokens")
)
def metrics_report(world, count, tokens):
    from prometheus_client.parser import text_string_to_metric_families

    text = world["http"].text
    samples = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("mlxk_requests_completed_total", None)] == count, text
    assert samples[("mlxk_completion_tokens_total", None)] == tokens, text
    assert samples[("mlxk_time_to_first_token_seconds_bucket", "+Inf")] == count, text
    assert samples[("mlxk_time_to_first_token_seconds_count", None)] == count, text


def _streams_then_fourth(world, standard_hub, count, model, fourth):
    """``count`` streaming clients; once every one has its first chunk, run ``fourth``."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    world["standard_hub"] = standard_hub
    jobs = [("two", 300), ("four", 250), ("six", 280)][:count]
    started = threading.Barrier(count + 1, timeout=60)
    finished_at: list[float] = []

    def one(job):
        prompt, limit = job
        stream = client(world).completions.create(
            model=model, prompt=prompt, max_tokens=limit, stream=True
        )
        parts, first = [], True
        for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].text)
            if first:
                first = False
                started.wait()
        finished_at.append(time.monotonic())
        return model, prompt, limit, "".join(parts)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        started.wait()
        sent_at = time.monotonic()
        world["fourth"] = fourth()
        world["fourth_times"] = (sent_at, time.monotonic())
        world["completions"] = [f.result() for f in futures]
    world["finished_at"] = finished_at


@when(
    parsers.parse(
        '{count:d} clients stream "{model}" and, once all have started, a fourth sends it '
        "a prompt longer than its context"
    )
)
def batch_with_failing_fourth(world, standard_hub, count, model):
    from steps.cli_steps import LONG_PROMPT

    def fourth():
        try:
            client(world).completions.create(model=model, prompt=LONG_PROMPT * 60, max_tokens=5)
        except openai.APIStatusError as error:
            return error
        raise AssertionError("a prompt over the context was accepted")

    _streams_then_fourth(world, standard_hub, count, model, fourth)


@when(
    parsers.parse(
        '{count:d} clients stream "{model}" and, once all have started, a fourth asks '
        '"{other}" for "{text}"'
    )
)
def batch_with_swap(world, standard_hub, count, model, other, text):
    def fourth():
        response = client(world).chat.completions.create(
            model=other, messages=[{"role": "user", "content": text}]
        )
        return response.choices[0].message.content

    _streams_then_fourth(world, standard_hub, count, model, fourth)


@then(
    parsers.parse(
        'the fourth client got a {status:d} with code "{code}" while the others were still '
        "streaming"
    )
)
def fourth_failed_inside(world, status, code):
    error = world["fourth"]
    assert error.status_code == status and error.body["code"] == code, error
    answered = world["fourth_times"][1]
    assert any(t > answered for t in world["finished_at"]), "the batch had already ended"


@then(parsers.parse('the fourth client got "{text}" only after the others had finished'))
def fourth_after_drain(world, text):
    assert world["fourth"] == text
    sent, answered = world["fourth_times"]
    assert all(sent < t <= answered for t in world["finished_at"]), world


@then(parsers.parse('{count:d} clients asking GET "{path}" at once all get 200 with the same list'))
def concurrent_gets(world, count, path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(count) as pool:
        responses = list(
            pool.map(lambda _: httpx.get(world["url"] + path, timeout=30), range(count))
        )
    assert all(r.status_code == 200 for r in responses), [r.status_code for r in responses]
    # the same models, loaded or not; a loaded one's idle seconds go on counting
    lists = [[{**m, "resident": None} for m in r.json()["data"]] for r in responses]
    assert all(listed == lists[0] for listed in lists), lists


@then('the JSON body field "version" is mlxk\'s own version')
def health_version(world):
    from mlxk import __version__

    assert world["http"].json()["version"] == __version__


@then(parsers.parse('the JSON body field "{path}" is one of "{values}"'))
def body_field_one_of(world, path, values):
    assert str(world["http"].json()[path]) in [v.strip() for v in values.split(",")]
