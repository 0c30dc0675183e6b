"""Steps for a server that keeps several models loaded: the resident set, LRU eviction,
keep_alive, and what /health, /v1/models and /metrics say of each model."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from pytest_bdd import given, parsers, then, when

from steps.server_steps import start_server


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _full(name: str) -> str:
    return name if "/" in name else f"mlx-community/{name}"


def _ask(world, model: str, **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Hi there"}], **extra}
    return httpx.post(world["url"] + "/v1/chat/completions", json=body, timeout=120)


def _answer(world, model: str, **extra) -> str:
    response = _ask(world, model, max_tokens=40, **extra)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def _health(world) -> dict:
    return httpx.get(world["url"] + "/health", timeout=30).json()


def _resident(world) -> list[str]:
    return [m["name"] for m in _health(world)["models"] if m["kind"] == "chat"]


@given(parsers.parse("a running server of its own keeping {count:d} models loaded"))
def server_keeping(world, standard_hub, count):
    start_server(world, standard_hub, max_models=count)


@given(
    parsers.parse(
        "a running server of its own keeping {count:d} models loaded and unloading"
        " after {seconds:f} seconds idle"
    )
)
def server_keeping_idle(world, standard_hub, count, seconds):
    start_server(world, standard_hub, max_models=count, idle_unload=seconds)


@given(
    parsers.parse(
        'a running server of its own keeping 2 models loaded in a budget that holds "{first}"'
        ' or "{second}" but not both'
    )
)
def server_small_budget(world, standard_hub, first, second):
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.memory import OVERHEAD, model_bytes

    sizes = [model_bytes(resolve_runnable(standard_hub, name).path) for name in (first, second)]
    budget = int(max(sizes) * OVERHEAD * 1.2)
    assert budget < sum(sizes) * OVERHEAD, "the budget must not hold both"
    start_server(world, standard_hub, max_models=2, memory_budget=budget)


@given(parsers.parse("a running server of its own keeping {count:d} models loaded with metrics on"))
def server_keeping_metrics(world, standard_hub, count):
    start_server(world, standard_hub, max_models=count, metrics=True)


@when(parsers.parse('each of "{models}" answers alone'))
def each_alone(world, models):
    world["alone"] = {name: _answer(world, name) for name in _names(models)}
    world["loads_before"] = _health(world)["loads"]


@when(parsers.parse('{per:d} clients per model ask "{models}" at once, interleaved'))
def interleaved(world, per, models):
    names = _names(models) * per
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        answers = list(pool.map(lambda n: _answer(world, n), names))
    world["together"] = list(zip(names, answers, strict=True))


@then("every answer is what its model said alone")
def same_as_alone(world):
    for name, answer in world["together"]:
        assert answer == world["alone"][name], (name, answer, world["alone"][name])


@then("no model was loaded again")
def no_reload(world):
    assert _health(world)["loads"] == world["loads_before"], _health(world)


@when(parsers.parse('the openai client asks "{models}" in turn'))
def ask_in_turn(world, models):
    for name in _names(models):
        _answer(world, name)


@when(parsers.parse('a client asks "{model}" with keep_alive {value}'))
def ask_keep_alive(world, model, value):
    world["http"] = _ask(world, model, keep_alive=json.loads(value))


@then(parsers.parse('/health lists "{models}" loaded, in that order'))
def health_lists(world, models):
    assert _resident(world) == [_full(n) for n in _names(models)], _health(world)


@then(parsers.parse("/health counts {count:d} loads"))
def health_loads(world, count):
    assert _health(world)["loads"] == count, _health(world)


@then(parsers.parse('the last eviction unloaded "{model}" for "{other}" because of {reason}'))
def last_eviction(world, model, other, reason):
    last = _health(world)["evictions"]["last"]
    assert last == {"model": _full(model), "for": _full(other), "reason": reason}, last


@then(parsers.parse("/health counts {count:d} evictions for memory"))
def memory_evictions(world, count):
    assert _health(world)["evictions"]["memory"] == count, _health(world)


@then(parsers.parse('within {seconds:d} seconds /health no longer lists "{model}"'))
def no_longer_listed(world, seconds, model):
    deadline = time.monotonic() + seconds
    while _full(model) in _resident(world):
        assert time.monotonic() < deadline, _health(world)
        time.sleep(0.05)


@then(parsers.parse('after {seconds:f} seconds /health lists "{model}" and not "{other}"'))
def after_idle(world, seconds, model, other):
    time.sleep(seconds)
    resident = _resident(world)
    assert _full(model) in resident and _full(other) not in resident, _health(world)


@when(
    parsers.parse(
        'one client streams "{model}" for {tokens:d} tokens and, once it has started,'
        ' another asks "{other}"'
    )
)
def stream_then_other(world, model, tokens, other):
    done: dict = {}
    started = threading.Event()

    def stream():
        body = {"model": model, "prompt": "one", "max_tokens": tokens, "stream": True}
        pieces, finish = 0, None
        with httpx.stream("POST", world["url"] + "/v1/completions", json=body, timeout=120) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    choice = json.loads(line[6:])["choices"][0]
                    pieces += 1
                    finish = choice.get("finish_reason") or finish
                    started.set()
        done["stream"] = (pieces, finish, time.monotonic())

    thread = threading.Thread(target=stream)
    thread.start()
    assert started.wait(60), "the stream did not start"
    world["health_midway"] = _health(world)
    asked = time.monotonic()
    answer = _answer(world, other)
    done["other"] = (answer, asked, time.monotonic())
    thread.join(120)
    world["race"] = done


def _race(world, tokens: int, other: str) -> tuple[float, float, float]:
    """The stream ran whole and the other model answered as alone: (stream's end, when
    the other was asked, when it was answered)."""
    pieces, finish, ended = world["race"]["stream"]
    answer, asked, answered = world["race"]["other"]
    assert finish == "length" and pieces >= tokens, world["race"]
    assert answer == world["alone"][other], answer
    return ended, asked, answered


@then(parsers.parse('the stream ran to its {tokens:d} tokens and "{other}" answered after it'))
def stream_whole(world, tokens, other):
    ended, asked, answered = _race(world, tokens, other)
    assert asked < ended, "the other request came after the stream: nothing was tested"
    assert answered >= ended, "the busy model was unloaded for the other"


@then(parsers.parse('"{other}" answered while the stream of {tokens:d} tokens ran'))
def answered_meanwhile(world, other, tokens):
    ended, _, answered = _race(world, tokens, other)
    assert answered < ended, "the other model waited for the stream"


@then(parsers.parse('/health showed "{model}" with {count:d} request in flight meanwhile'))
def in_flight_meanwhile(world, model, count):
    entry = next(m for m in world["health_midway"]["models"] if m["name"] == _full(model))
    assert entry["requests_in_flight"] == count and entry["memory_bytes"] > 0, entry
    assert entry["idle_seconds"] == 0, entry


@then(parsers.parse('/v1/models marks "{models}" loaded with their memory'))
def models_resident(world, models):
    cards = {c["id"]: c for c in httpx.get(world["url"] + "/v1/models").json()["data"]}
    for name in _names(models):
        card = cards[_full(name)]
        assert card["loaded"] and card["resident"]["memory_bytes"] > 0, card
        assert card["resident"]["requests_in_flight"] == 0, card
    loaded = {c["id"] for c in cards.values() if c["loaded"]}
    assert loaded == {_full(n) for n in _names(models)}, loaded


@then(parsers.parse('/metrics counts tokens and memory for "{models}" each'))
def metrics_per_model(world, models):
    lines = httpx.get(world["url"] + "/metrics").text.splitlines()

    def value(metric: str, name: str) -> float:
        label = f'model="{_full(name)}"'
        found = [line for line in lines if line.startswith(metric + "{") and label in line]
        assert found, (metric, name, lines)
        return float(found[0].split()[-1])

    for name in _names(models):
        assert value("mlxk_model_generated_tokens_total", name) > 0
        assert value("mlxk_resident_model_bytes", name) > 0


@given("a running server of its own with --cpu-float32 never")
def server_float32_never(world, standard_hub):
    start_server(world, standard_hub, cpu_float32="never")


@then(parsers.parse('/health shows "{model}" running from "{weights}"'))
def health_weights(world, model, weights):
    entry = next(m for m in _health(world)["models"] if m["name"] == _full(model))
    assert entry["weights"] == weights and entry["weights_reason"], entry


@then(parsers.parse('/health counts the float32 copy\'s bytes for "{model}"'))
def health_float32_bytes(world, standard_hub, model):
    from mlxk.cache.detect import read_json
    from mlxk.cache.info import resolve_runnable
    from mlxk.engine.precision import float32_bytes, tensors_of

    path = resolve_runnable(standard_hub, model).path
    expected = float32_bytes(read_json(path / "config.json") or {}, tensors_of(path))
    entry = next(m for m in _health(world)["models"] if m["name"] == _full(model))
    assert entry["memory_bytes"] == expected, (entry, expected)
