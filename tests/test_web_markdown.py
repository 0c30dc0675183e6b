"""The chat page's Markdown renderer, run in Chromium on hostile input: only its own tags.

spec: SRV-WEB-INJECTION
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from mlxk.server.app import ServerSettings
from mlxk.testing.live_server import live_server

ALLOWED = {
    "p": set(), "br": set(), "strong": set(), "em": set(), "code": set(), "pre": set(),
    "ul": set(), "ol": set(), "li": set(), "h3": set(), "h4": set(), "h5": set(), "h6": set(),
    "a": {"href", "rel", "target"},
}  # fmt: skip
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '**<svg onload="alert(1)">**',
    "[click](javascript:alert(1))",
    '[x](https://ok.example/" onmouseover="alert(1))',
    "[x](https://ok.example/a?b=1&c=<script>)",
    "`<b>code</b>`",
    "```\n<iframe src=//evil></iframe>\n```",
    "# <h1>title</h1>\n- <li>item\n1. *<i>x</i>*",
    "&lt;already escaped&gt; & \"quotes\" 'single'",
    "unclosed ```\n<style>body{display:none}</style>",
]


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def render(tmp_path_factory, browser):
    hub = tmp_path_factory.mktemp("empty-cache") / "hub"
    hub.mkdir()
    with live_server(ServerSettings(hub_cache=hub)) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("() => window.mlxkChat !== undefined")
        yield lambda text: page.evaluate("text => window.mlxkChat.renderMarkdown(text)", text)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gets_only_the_renderers_own_tags(render, text):
    html = render(text)
    parsed = Elements()
    parsed.feed(html)
    for tag, attrs in parsed.found:
        assert tag in ALLOWED, (tag, html)
        assert set(attrs) <= ALLOWED[tag], (tag, attrs, html)
        if tag == "a":
            assert attrs["href"].startswith(("https://", "http://")), html
            assert '"' not in attrs["href"] and " " not in attrs["href"], html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**bold** and *it*", "<p><strong>bold</strong> and <em>it</em></p>"),
        ("use `a<b`", "<p>use <code>a&lt;b</code></p>"),
        ("```\nx = 1 < 2\n```", "<pre><code>x = 1 &lt; 2</code></pre>"),
        ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),
        ("1. first\n2. second", "<ol><li>first</li><li>second</li></ol>"),
        ("## Title\nline one\nline two", "<h4>Title</h4><p>line one<br>line two</p>"),
        (
            "[docs](https://example.org/a)",
            '<p><a href="https://example.org/a" rel="noopener noreferrer" target="_blank">'
            "docs</a></p>",
        ),
        ("2 * 3 * 4", "<p>2 * 3 * 4</p>"),
    ],
)
def test_markdown_renders_as_expected(render, text, html):
    assert render(text) == html
