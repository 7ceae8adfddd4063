"""Reference computations the tests compare the backends against."""

from __future__ import annotations

from typing import Any

from core.prompting import label_slot


def reference_p_a(tokenizer: Any, model: Any, text: str) -> float:
    """P(A) over {A, B} after `text`: one unpadded transformers forward pass."""
    import torch

    slot = label_slot(tokenizer, text)
    ids = tokenizer(slot.text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, -1].float()
    return torch.softmax(logits[[slot.token_a, slot.token_b]], dim=0)[0].item()
