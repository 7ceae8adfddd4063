"""An OpenAI-compatible completions endpoint, such as `vllm serve` on a GPU machine.

The scale-out path: the studio keeps the tokenizer (to apply the chat template and find the
label tokens, exactly as the other backends do) and sends prompts as token ids to
`/v1/completions`. The label's log-probabilities come from the response's `logprobs`, one
request per letter (see `label_logprobs`). `base_url` may name several servers serving the same
model: requests are spread over them, up to `concurrency` in flight on each, and a server that
fails is passed over while its requests go to the others (core/backends/servers.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.backends.base import Backend, Completion, Sampling
from core.backends.precision import tolerance_of
from core.backends.servers import ServerPool, server_urls
from core.errors import ModelError
from core.model.spec import ModelSpec
from core.text.prompting import LabelSlot
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
        self.pool = ServerPool(
            server_urls(base_url), headers=headers, timeout=timeout, concurrency=concurrency, retries=retries
        )
        listed = self.pool.request("/v1/models").get("data", [])
        self.served_model = served_model or self._served_model(listed)
        context = next((m.get("max_model_len") for m in listed if m["id"] == self.served_model), None)
        self.max_model_len = max_model_len or context or 4096

    def _served_model(self, listed: list[dict[str, Any]]) -> str:
        """The model the servers serve (`listed`: one server's /v1/models): every other server that
        answers must serve it too."""
        if not listed:
            raise ModelError("the server serves no model")
        name = listed[0]["id"]
        for url, reply in self.pool.each("/v1/models"):
            ids = [m["id"] for m in (reply or {}).get("data", [])]
            if reply is not None and name not in ids:
                raise ModelError(f"{url} serves {ids}, not '{name}': every server must serve the same model")
        return name

    def _complete(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=self.pool.capacity) as threads:
            return list(threads.map(lambda p: self.pool.request("/v1/completions", p), payloads))

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
                # The OpenAI API takes at most 4 stop strings (vLLM enforces it); a caller that
                # passes more cuts at the rest itself (guided judging's `_section_text`).
                "stop": list(sampling.stop)[:4],
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
                    raise ModelError("the server ignored logit_bias; it cannot score labels")
                values.append(logprobs["token_logprobs"][0])
            results.append((values[0], values[1]))
        return results

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The standard way to score a text: `echo` it with `logprobs` and no new tokens; the reply's
        `token_logprobs` are the prompt's own (the first, which has no context, is null)."""
        tokens = [self.continuation_tokens(prefix, continuation) for prefix, continuation in pairs]
        payloads = [
            {"model": self.served_model, "prompt": ids, "max_tokens": 0, "echo": True, "logprobs": 0}
            for ids, _ in tokens
        ]
        results = []
        for (ids, begins), response in zip(tokens, self._complete(payloads), strict=True):
            values = response["choices"][0]["logprobs"]["token_logprobs"]
            if len(values) != len(ids):
                raise ModelError("the server did not echo the prompt's log-probabilities")
            results.append(sum(values[at] for at in range(max(begins, 1), len(ids))))
        return results

    def close(self) -> None:
        self.pool.close()
