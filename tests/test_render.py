"""Untrusted text in the studio: Markdown renders, HTML never runs, remote images are not fetched."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.render import literal, markdown_html, rationale_diff

SAFE_TAGS = {
    "p",
    "strong",
    "em",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "blockquote",
    "hr",
    "br",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "div",
}
HOSTILE = [
    "\\`<img src=x onerror=alert(1)>\\`",  # an escaped backtick defeated the old regex
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<iframe src=//evil></iframe>",
    "[click](javascript:alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "``<b>`` and ` <i> ` and ```\n<b>\n```",
    "<!-- <img src=x onerror=alert(1)> -->",
    "<style>body{display:none}</style>",
    "![pixel](https://tracker.example/p.png)",
    '<div onmouseover="alert(1)">hover</div>',
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("text", HOSTILE)
def test_no_tag_or_handler_from_user_text_reaches_the_page(text: str) -> None:
    for tag, attrs in tags(markdown_html(text)):
        assert tag in SAFE_TAGS, (text, tag)
        for name, value in attrs:
            assert not name.startswith("on"), (text, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (text, value)


def test_markdown_still_renders() -> None:
    shown = markdown_html("**hello** and `<b>`\n\n- one\n- two\n\n```python\nprint('<x>')\n```")
    found = [tag for tag, _ in tags(shown)]
    assert {"strong", "code", "ul", "li", "pre"} <= set(found)
    assert "&lt;b&gt;" in shown and "print" in shown


def test_remote_images_are_fetched_only_when_the_operator_allows() -> None:
    text = "![pixel](https://tracker.example/p.png)"
    assert not [t for t, _ in tags(markdown_html(text)) if t == "img"]
    assert "https://tracker.example/p.png" in markdown_html(text)  # shown as a link to follow by choice
    assert [t for t, _ in tags(markdown_html(text, images=True)) if t == "img"] == ["img"]


def test_values_put_into_markdown_are_literal_text() -> None:
    for value in ("**bold** <b>x</b>", "\\`<img src=x onerror=alert(1)>\\`", "[a](javascript:x)", "# not a header"):
        shown = markdown_html(literal(value))
        assert not [t for t, _ in tags(shown) if t not in ("div", "p")], (value, shown)


def test_rationale_diff_is_literal() -> None:
    diff = rationale_diff("Conclusion: A", "Conclusion: B <img src=x onerror=y> ```")
    shown = markdown_html(diff)
    assert "+Conclusion: B" in diff and not [t for t, _ in tags(shown) if t not in ("div", "pre", "code", "span")]
    assert "&lt;img" in shown


def test_a_conversation_is_shown_as_its_turns_and_runs_nothing() -> None:
    from app.render import conversation_html

    shown = conversation_html(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi <img src=x onerror=alert(1)>"},
            {"role": "assistant", "content": "**Hello.**"},
            {"role": "<b onmouseover=alert(2)>tool", "content": "42"},
        ]
    )
    assert [m for m in ("turn-system", "turn-user", "turn-assistant", "turn-other") if m in shown] == [
        "turn-system",
        "turn-user",
        "turn-assistant",
        "turn-other",
    ]
    assert "<strong>Hello.</strong>" in shown and "&lt;img src=x" in shown and "<img" not in shown
    assert "<b onmouseover" not in shown and "&lt;B Onmouseover=Alert(2)&gt;Tool" in shown
