"""Reference computations the tests compare the backends against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.judge.prompting import label_slot


def reference_p_a(tokenizer: Any, model: Any, text: str) -> float:
    """P(A) over {A, B} after `text`: one unpadded transformers forward pass."""
    import torch

    slot = label_slot(tokenizer, text)
    ids = tokenizer(slot.text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, -1].float()
    return torch.softmax(logits[[slot.token_a, slot.token_b]], dim=0)[0].item()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    ready: Callable[[], bool], *, seconds: float, what: str, process: Any = None, interval: float = 0.5
) -> None:
    """Poll `ready` until it returns True; fail the test if time runs out or `process` exits."""
    import time

    import pytest

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what} exited with status {process.returncode}")
        if ready():
            return
        time.sleep(interval)
    pytest.fail(f"{what} did not start within {seconds:.0f} s")
