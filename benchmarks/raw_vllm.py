"""The studio's vLLM judging against raw vLLM on the same engine, prompts and sampling, in one run.

    .venv/bin/python benchmarks/raw_vllm.py [--pairs 256] [--max-new-tokens 512] [--out raw.json]

One `vllm.LLM` (the studio's vLLM backend holds it): the GRAM-R² prompts of `--pairs` demo pairs
(one order, the format written freely, greedy), first through the studio (`judge_pairs`: prompt
building, the engine, parsing each rationale and its label), then the same prompt strings
straight to `LLM.generate` with the same `SamplingParams`. Both runs generate at least and at
most `--max-new-tokens` tokens a pair, so the work is equal. Reports generated tokens/s of each and
the ratio (studio / raw: what the studio adds, which includes reading the label at the answer
slot after each reply, one more prefill a pair). Also the label-only fast path's pairs/s. Runs
wherever vLLM does: its CPU build here, a GPU build on a GPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from vllm import SamplingParams

    from core.backends import load_backend
    from core.data.demo import demo_pair_texts
    from core.head.fast_path import score_pairs
    from core.judge.generative import JudgeOptions, judge_pairs
    from core.model.spec import resolve_model
    from core.settings import get_settings
    from core.text.pair import presented
    from core.text.prompting import PromptBuilder
    from core.vocab import Order, Protocol

    pairs = demo_pair_texts(args.pairs)
    started = time.perf_counter()
    backend: Any = load_backend("vllm", resolve_model(get_settings()), max_model_len=args.max_model_len)
    startup_s = time.perf_counter() - started
    tokens = args.max_new_tokens
    options = JudgeOptions(max_new_tokens=tokens, min_new_tokens=tokens, guided=False)
    judge_pairs(backend, pairs[:2], JudgeOptions(max_new_tokens=4, guided=False))  # warm-up, not timed

    started = time.perf_counter()
    judged = judge_pairs(backend, pairs, options)
    studio_s = time.perf_counter() - started
    studio_tokens = sum(j.timings["tokens"] for j in judged)

    builder = PromptBuilder(backend.tokenizer, backend.max_model_len, reserved=tokens)
    texts = [builder.build(Protocol.GRAM_R2, *presented(p, Order.AB))[0] for p in pairs]
    # The same token ids the studio sends (its chat template already holds the special tokens).
    prompts = [{"prompt_token_ids": backend.tokenizer.encode(t, add_special_tokens=False)} for t in texts]
    params = SamplingParams(temperature=0.0, max_tokens=tokens, min_tokens=tokens)
    started = time.perf_counter()
    outputs = backend.llm.generate(prompts, params, use_tqdm=False)
    raw_s = time.perf_counter() - started
    raw_tokens = sum(len(o.outputs[0].token_ids) for o in outputs)

    started = time.perf_counter()
    score_pairs(backend, pairs)
    fast_s = time.perf_counter() - started
    backend.close()

    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "pairs": len(pairs),
        "new_tokens_per_pair": tokens,
        "vllm_startup_s": round(startup_s, 1),
        "studio": {"seconds": round(studio_s, 2), "tokens": studio_tokens, "tokens_per_s": studio_tokens / studio_s},
        "raw_vllm": {"seconds": round(raw_s, 2), "tokens": raw_tokens, "tokens_per_s": raw_tokens / raw_s},
        "studio_over_raw": (studio_tokens / studio_s) / (raw_tokens / raw_s),
        "fast_path_pairs_per_s": len(pairs) / fast_s,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
