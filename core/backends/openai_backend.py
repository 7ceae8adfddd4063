"""An OpenAI-compatible completions endpoint, such as `vllm serve` on a GPU machine.

The scale-out path: the studio keeps the tokenizer (to apply the chat template and find the
label tokens, exactly as the other backends do) and sends prompts as token ids to
`/v1/completions`. The label's log-probabilities come from the response's `logprobs`, one
request per letter (see `label_logprobs`). Requests run concurrently up to a limit and are
retried with back-off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from core.backends.base import Backend, Completion, Sampling
from core.backends.precision import tolerance_of
from core.errors import ModelError
from core.judge.prompting import LabelSlot
from core.model.spec import ModelSpec
from core.vocab import BackendName


class OpenAIBackend(Backend):
    name = BackendName.OPENAI
    # The server's dtype is not visible through the API: assume `vllm serve`'s usual bf16 (the
    # widest tolerance), unless told (`precision`, e.g. a server started with --dtype float32).
    precision = "bfloat16"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        base_url: str,
        served_model: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        retries: int = 3,
        timeout: float = 600.0,
        max_model_len: int | None = None,
        precision: str | None = None,
        **_: Any,
    ) -> None:
        from transformers import AutoTokenizer

        super().__init__(spec)
        if precision:
            tolerance_of(precision)
            self.precision = precision
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.path)
        except OSError as error:
            raise ModelError(f"the openai backend needs the model's tokenizer locally: {error}") from None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.concurrency, self.retries = concurrency, retries
        self.served_model = served_model or self._served_model()
        self.max_model_len = max_model_len or self._served_context() or 4096

    def _request(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post(path, json=payload) if payload is not None else self.client.get(path)
                if response.status_code < 500 and response.status_code != 429:
                    response.raise_for_status()
                    return response.json()
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            if attempt < self.retries:
                time.sleep(min(2**attempt, 30))
        raise ModelError(f"{self.client.base_url}{path} failed after {self.retries + 1} tries: {problem}")

    def _served_model(self) -> str:
        models = self._request("/v1/models").get("data", [])
        if not models:
            raise ModelError(f"{self.client.base_url} serves no model")
        return models[0]["id"]

    def _served_context(self) -> int | None:
        for model in self._request("/v1/models").get("data", []):
            if model["id"] == self.served_model:
                return model.get("max_model_len")
        return None

    def _complete(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda p: self._request("/v1/completions", p), payloads))

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        payloads = [
            {
                "model": self.served_model,
                "prompt": self._ids(p),
                "n": sampling.n,
                "max_tokens": sampling.max_new_tokens,
                **({"min_tokens": sampling.min_new_tokens} if sampling.min_new_tokens else {}),  # vLLM's extension
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "stop": list(sampling.stop),
                "include_stop_str_in_output": True,  # vLLM extension; others ignore it
                "seed": sampling.seed,
            }
            for p in prompts
        ]
        results = []
        for response in self._complete(payloads):
            # A server that does not echo the stop string leaves '</answer>' off; the parser
            # reads the label without it.
            texts = [c["text"] for c in sorted(response["choices"], key=lambda c: c["index"])]
            tokens = response.get("usage", {}).get("completion_tokens", 0)
            results.append([Completion(t, tokens // max(len(texts), 1)) for t in texts])
        return results

    def label_logprobs(self, slots: Sequence[LabelSlot]) -> list[tuple[float, float]]:
        # One request per letter, forced with the standard `logit_bias`: the reply's token is
        # then that letter, and its log-probability is the model's own (vLLM reports raw
        # log-probs, before the bias). Exact, unlike a top-k list a letter may be missing from.
        payloads = [
            {
                "model": self.served_model,
                "prompt": self._ids(slot.text),
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": 1,
                "logit_bias": {str(token): 100},
            }
            for slot in slots
            for token in (slot.token_a, slot.token_b)
        ]
        responses = self._complete(payloads)
        results = []
        for index, slot in enumerate(slots):
            values = []
            for token, response in zip((slot.token_a, slot.token_b), responses[2 * index : 2 * index + 2], strict=True):
                logprobs = response["choices"][0]["logprobs"]
                if logprobs["tokens"][0] != self.tokenizer.decode([token]):
                    raise ModelError(f"{self.client.base_url} ignored logit_bias; it cannot score labels")
                values.append(logprobs["token_logprobs"][0])
            results.append((values[0], values[1]))
        return results

    def close(self) -> None:
        self.client.close()
