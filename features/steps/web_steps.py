"""Steps that drive the chat page in headless Chromium against a real mlxk server."""

from __future__ import annotations

import re

import httpx
import pytest
from pytest_bdd import given, parsers, then, when

from mlxk.server.app import ServerSettings
from mlxk.testing.live_server import live_server
from steps.server_steps import start_server

WEB_MODELS = {
    "mlx-community/TinyLlama-Chat-4bit": ("llama-chat", "Q4"),
    "mlx-community/TinyQwen3-Think-4bit": ("qwen3-think", "Q4"),
    "mlx-community/TinyLlama-Base": ("llama-base", None),
    "mlxk-test/Markup-Chat": ("llama-markup", "Q4"),
    "mlx-community/TinyQwen3-Tools-4bit": ("qwen3-tools", "Q4"),
}
TIMEOUT_MS = 30_000
# Records every text the last answer showed, to see it grow while streaming.
WATCH_ANSWERS = """() => {
  window.__answers = [];
  const log = document.getElementById('log');
  new MutationObserver(() => {
    const answers = log.querySelectorAll('.message.assistant .answer');
    if (answers.length) window.__answers.push(answers[answers.length - 1].textContent);
  }).observe(log, {subtree: true, childList: true, characterData: true});
}"""
MODELS_SHOWN = """() => {
  const select = document.getElementById('model');
  return select.options.length > 0 && select.options[0].textContent !== 'Loading models…';
}"""


@pytest.fixture(scope="session")
def web_hub(tmp_path_factory):
    from mlxk.cache.layout import write_repo
    from mlxk.testing import fixtures

    hub = tmp_path_factory.mktemp("web-cache") / "hub"
    for name, (key, quant) in WEB_MODELS.items():
        write_repo(hub, name, fixtures.mlx_model_files(key, getattr(fixtures, quant or "", None)))
    return hub


@pytest.fixture(scope="session")
def web_server(web_hub):
    with live_server(ServerSettings(hub_cache=web_hub, keepalive_seconds=0.5)) as url:
        yield url


@given("a running server with the web chat models")
def web_chat_server(world, web_server):
    world["url"] = web_server


@given(parsers.parse("a running server with the web chat models keeping {count:d} models loaded"))
def web_server_keeping(world, web_hub, count):
    start_server(world, web_hub, max_models=count)


@given(parsers.parse('a running server with the web chat models and API key "{key}"'))
def web_chat_server_with_key(world, web_hub, key):
    start_server(world, web_hub, api_key=key)


def _open_page(world, web_server, browser, width=1024, height=768):
    world.setdefault("url", web_server)
    context = browser.new_context(viewport={"width": width, "height": height})
    world["cleanup"].append(context.close)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    world["dialogs"], world["page_errors"] = [], []
    page.on("dialog", lambda dialog: (world["dialogs"].append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: world["page_errors"].append(str(error)))
    page.goto(world["url"] + "/")
    page.wait_for_function(MODELS_SHOWN)
    page.evaluate(WATCH_ANSWERS)
    world["page"] = page
    return page


@given("the chat page is open in a browser")
def open_page(world, web_server, browser):
    _open_page(world, web_server, browser)


@given(parsers.parse("the chat page is open in a browser {width:d} pixels wide"))
def open_page_narrow(world, web_server, browser, width):
    _open_page(world, web_server, browser, width=width, height=844)


def _last_answer(page):
    return page.locator(".message.assistant").last


def _wait_done(page):
    page.wait_for_function(
        """() => {
          const all = document.querySelectorAll('.message.assistant');
          return all.length && all[all.length - 1].dataset.state !== 'streaming';
        }"""
    )


def _settings(page):
    if not page.locator("#settings").evaluate("details => details.open"):
        page.click("#settings summary")
    return page


def _send(page, text, wait=True):
    page.evaluate("() => { window.__answers = []; }")
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('.message.assistant').length === n",
        arg=page.locator(".message.user").count(),
    )
    if wait:
        _wait_done(page)


@when(parsers.parse('I pick "{model}" and send "{text}"'))
def pick_and_send(world, model, text):
    world["page"].select_option("#model", model)
    _send(world["page"], text)


@when(parsers.parse('I pick "{model}" and send "{text}" without waiting'))
def pick_and_send_async(world, model, text):
    world["page"].select_option("#model", model)
    _send(world["page"], text, wait=False)


@when(parsers.parse('I send "{text}"'))
def send(world, text):
    _send(world["page"], text)


@when(parsers.parse("I set max tokens to {count:d}"))
def set_max_tokens(world, count):
    _settings(world["page"]).fill("#max-tokens", str(count))


@when(parsers.parse('I set the system prompt to "{text}"'))
def set_system(world, text):
    _settings(world["page"]).fill("#system", text)


@when(parsers.parse("I set the temperature to {value}"))
def set_temperature(world, value):
    _settings(world["page"]).fill("#temperature", value)


@when(parsers.parse('I enter the API key "{key}"'))
def enter_key(world, key):
    page = _settings(world["page"])
    page.fill("#api-key", key)
    page.press("#api-key", "Tab")
    page.wait_for_function("() => document.getElementById('model').value !== ''")


@when("I press Stop once the answer has started")
def press_stop(world):
    page = world["page"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.message.assistant .answer')].pop()"
        ".textContent.length > 0"
    )
    page.click("#stop")


@when("I press Clear")
def press_clear(world):
    world["page"].click("#clear")


@then(parsers.parse('the model picker offers "{model}" described as "{text}"'))
def picker_offers(world, model, text):
    option = world["page"].locator(f'#model option[value="{model}"]')
    assert option.count() == 1, f"{model} is not offered"
    assert text in option.text_content(), option.text_content()


@then(parsers.parse('the answer reads "{text}"'))
def answer_reads(world, text):
    shown = _last_answer(world["page"]).locator(".answer").text_content()
    assert shown.strip() == text, shown


@then("the message has no reasoning section")
def no_reasoning_section(world):
    assert _last_answer(world["page"]).locator(".reasoning").is_hidden()


@then(parsers.parse('the reasoning section reads "{text}"'))
def reasoning_reads(world, text):
    section = _last_answer(world["page"]).locator(".reasoning")
    assert section.is_visible()
    assert section.locator(".text").text_content().strip() == text


@then("the reasoning section folds and unfolds when its title is clicked")
def reasoning_folds(world):
    section = _last_answer(world["page"]).locator(".reasoning")
    before = section.evaluate("details => details.open")
    section.locator("summary").click()
    assert section.evaluate("details => details.open") is (not before)
    assert section.locator(".text").is_visible() is (not before)
    section.locator("summary").click()
    assert section.evaluate("details => details.open") is before


@then(
    parsers.parse("the answer was shown in at least {count:d} growing steps before it was complete")
)
def answer_grew(world, count):
    page = world["page"]
    final = _last_answer(page).locator(".answer").text_content()
    seen = []
    for text in page.evaluate("window.__answers"):
        if text and text != final and (not seen or seen[-1] != text):
            seen.append(text)
    assert all(final.startswith(text) for text in seen), seen
    assert all(len(a) < len(b) for a, b in zip(seen, seen[1:], strict=False)), seen
    assert len(seen) >= count, f"only {len(seen)} partial answers were shown: {seen}"


@then(parsers.parse('the message notes "{text}"'))
def message_notes(world, text):
    note = _last_answer(world["page"]).locator(".meta").text_content()
    assert text in note, note


@then("the message is marked stopped")
def marked_stopped(world):
    page = world["page"]
    _wait_done(page)
    assert _last_answer(page).get_attribute("data-state") == "stopped"
    assert page.locator("#stop").is_hidden() and page.locator("#send").is_enabled()


@then("the next message gets an answer again")
def next_answer(world):
    page = world["page"]
    _settings(page).fill("#max-tokens", "4")
    _send(page, "Count")
    last = _last_answer(page)
    assert last.get_attribute("data-state") == "done"
    assert last.locator(".answer").text_content().split() == ["one", "two", "three", "four"]


@then("the conversation is empty")
def conversation_empty(world):
    assert world["page"].locator("#log > *").count() == 0


@then(parsers.parse('the page shows the error "{text}"'))
def page_error(world, text):
    page = world["page"]
    page.wait_for_selector("#error:not([hidden])")
    shown = page.locator("#error").text_content()
    assert text in shown, shown
    assert "{" not in shown, f"the error is shown as raw JSON: {shown}"


@then(parsers.parse('the prompt box holds "{text}" again'))
def prompt_holds(world, text):
    assert world["page"].input_value("#prompt") == text


@then("the API key is in the tab's session storage only")
def key_in_session(world):
    stored = world["page"].evaluate(
        "() => [sessionStorage.getItem('mlxk.apiKey'), localStorage.length, document.cookie]"
    )
    assert stored == ["s3cret", 0, ""], stored


@then(parsers.parse('the answer shows "{text}" in bold'))
def shows_bold(world, text):
    assert _last_answer(world["page"]).locator(".answer strong").all_text_contents() == [text]


@then("the conversation holds no script or image element")
def no_injected_elements(world):
    found = world["page"].evaluate(
        "() => [...document.querySelectorAll('#log *')]"
        ".filter(e => !['ARTICLE','SPAN','DETAILS','SUMMARY','DIV','P','STRONG','EM','CODE',"
        "'PRE','UL','OL','LI','H3','H4','H5','H6','A','BR'].includes(e.tagName))"
        ".map(e => e.tagName)"
    )
    assert found == [], found
    handlers = world["page"].evaluate(
        "() => [...document.querySelectorAll('#log *')].flatMap(e => [...e.attributes])"
        ".map(a => a.name).filter(n => n.startsWith('on') || n === 'src')"
    )
    assert handlers == [], handlers


@then("no script from the model ran")
def no_script_ran(world):
    assert world["dialogs"] == [], world["dialogs"]
    assert world["page_errors"] == [], world["page_errors"]


@then("nothing on the page is wider than the screen")
def no_overflow(world):
    widths = world["page"].evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1], widths


@then("the message box and the Send button are on screen")
def on_screen(world):
    page = world["page"]
    size = page.viewport_size
    for selector in ("#prompt", "#send"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["y"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= size["width"], (selector, box)
        assert box["y"] + box["height"] <= size["height"], (selector, box)


@then("every control has an accessible name")
def accessible_names(world):
    unnamed = world["page"].evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
          .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !(el.tagName === 'BUTTON' && el.textContent.trim()))
          .map(el => el.id || el.outerHTML)"""
    )
    assert unnamed == [], unnamed


@then("a screenshot of the page is saved")
def screenshot(world):
    path = world["tmp"] / "chat-page.png"
    world["page"].screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


@then("the page and its assets refer to no other host")
def no_other_host(world):
    texts = {
        path: httpx.get(world["url"] + path).text
        for path in ("/", "/static/chat.js", "/static/chat.css")
    }
    for path, text in texts.items():
        assert not re.search(r"https?://|url\(|@import|//[a-z0-9.-]+\.[a-z]{2,}/", text), path
    references = re.findall(r'(?:src|href)="([^"]*)"', texts["/"])
    assert references and all(ref.startswith("/static/") for ref in references), references


@then("the OpenAPI document does not list the page")
def not_in_openapi(world):
    paths = httpx.get(world["url"] + "/openapi.json").json()["paths"]
    assert "/" not in paths and "/chat" not in paths and "/v1/chat/completions" in paths


@when(parsers.parse("I offer the tools in Settings:"))
def offer_tools(world, docstring):
    _settings(world["page"]).fill("#tools", docstring)


@then(parsers.parse('the message shows a call to "{name}" with the arguments {arguments}'))
def shows_call(world, name, arguments):
    import json

    call = world["page"].locator(".message.assistant").last.locator(".tool-call")
    assert call.count() == 1
    assert call.locator(".tool-name").text_content() == f"{name}()"
    shown = call.locator(".tool-arguments").text_content()
    assert json.loads(shown) == json.loads(arguments)
    assert world["page"].locator(".message.assistant").last.locator(".answer").text_content() == ""


@when(parsers.parse("I answer the call with '{result}'"))
def answer_call(world, result):
    page = world["page"]
    before = page.locator(".message.assistant").count()
    page.locator(".message.assistant").last.locator(".tool-result").fill(result)
    page.locator(".message.assistant").last.locator(".send-results").click()
    page.wait_for_function(
        "n => document.querySelectorAll('.message.assistant').length === n", arg=before + 1
    )
    _wait_done(page)


@then("the page shows a tools error and sends nothing")
def tools_error(world):
    page = world["page"]
    assert "Tools" in page.locator("#error").text_content()
    assert page.locator(".message").count() == 0
    assert page.locator("#prompt").input_value() != ""


@when(parsers.parse('I type "{text}" and press Enter'))
def type_and_enter(world, text):
    page = world["page"]
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_function("() => !document.getElementById('error').hidden")
