"""The GRAM-R² prompt protocol: the released checkpoints' instruction texts, filled in exactly.

The texts in core/prompts/ are copied byte for byte from NiuTrans/GRAM (Apache-2.0; see
core/prompts/NOTICE). They are sent as one user message through the model's chat template.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_PLACEHOLDER = re.compile(r"\{(user_input|response_1|response_2|input|response_a|response_b)\}")


@cache
def instruction_text(name: str) -> str:
    """The instruction template `name` ('gram_r2' or 'gram_label_only'), exactly as released."""
    return (files("core.prompts") / f"{name}.txt").read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so a "{response_2}" inside a user's text is left as it is.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def gram_r2_user_message(prompt: str, response_a: str, response_b: str) -> str:
    """The rationale protocol's user message (the checkpoints' own placeholder names)."""
    return _fill(
        instruction_text("gram_r2"),
        {"user_input": prompt, "response_1": response_a, "response_2": response_b},
    )


def label_only_user_message(prompt: str, response_a: str, response_b: str) -> str:
    """GRAM's label-only protocol; the message ends in '#Preferred: ' and the answer is A or B."""
    return _fill(
        instruction_text("gram_label_only"),
        {"input": prompt, "response_a": response_a, "response_b": response_b},
    )


def rationale_target(rationale: str, label: str) -> str:
    """The assistant reply a GRAM-R² model is trained to write: rationale, then the label."""
    return f"<think>\n{rationale.strip()}\n</think>\n<answer>\n{label}\n</answer>"
