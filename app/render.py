"""Showing untrusted text: pairs come from anywhere, so their HTML is shown as text, never run.

Markdown still renders (lists, emphasis, code blocks with highlighting): HTML special characters
are escaped outside code spans and fences, where Markdown itself shows them literally.
"""

from __future__ import annotations

import difflib
import html
import re

_CODE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]*`)", re.DOTALL)


def safe_markdown(text: str | None) -> str:
    """Markdown source in which every HTML tag of `text` is shown as text."""
    if not text:
        return "*(empty)*"
    parts = _CODE.split(text)
    # Odd parts are code (shown literally by Markdown); the rest is escaped.
    return "".join(part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))


def rationale_diff(model: str | None, edited: str | None) -> str:
    """A unified diff of the model's rationale against the person's, as a Markdown code block."""
    if not model or not edited or model.strip() == edited.strip():
        return ""
    lines = difflib.unified_diff(model.strip().splitlines(), edited.strip().splitlines(), "model", "yours", lineterm="")
    body = "\n".join(lines).replace("```", "ʼʼʼ")
    return f"```diff\n{body}\n```"
