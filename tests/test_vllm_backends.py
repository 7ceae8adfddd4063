"""vLLM, offline and as `vllm serve` behind the openai backend, against plain transformers.

Both engines start worker processes and take about a minute to start on 2 cores, so each
runs once per module. Skipped where vLLM is not installed (`scripts/setup.sh --test` installs
vLLM's CPU build).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from core.backends.base import Backend
from core.backends.precision import tolerance_of
from core.data.demo import demo_paths
from core.errors import ModelError
from core.head.fast_path import score_pairs
from core.judge.generative import JudgeOptions, answer_slot, judge_pairs
from core.model.spec import ModelSpec
from core.text.pair import PairText
from core.text.prompting import gram_r2_user_message, label_only_user_message
from core.train.proving import prove
from core.vocab import Protocol, verdict_for
from storage.database import Database
from tests import helpers
from tests.conftest import FIXTURES
from tests.helpers import free_port, wait_for

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow
# Each backend is held to the tolerance of the precision it states (core/backends/precision.py):
# the offline engine picks float32 on a CPU by itself; `vllm serve` is started in float32 and the
# openai backend is told so, as GRAM_OPENAI_PRECISION would tell it.


@pytest.fixture(scope="module")
def reference(embedded_model_dir: Path):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32).eval()
    return tokenizer, model


@pytest.fixture(scope="module")
def demo_pairs() -> list[PairText]:
    """Twelve demo pairs, six from each source."""
    found = []
    for path in demo_paths():
        rows = [json.loads(line) for line in path.read_text().splitlines()][:6]
        found += [PairText(r["prompt"], r["response_a"], r["response_b"]) for r in rows]
    return found


@pytest.fixture(scope="module")
def pairs() -> list[PairText]:
    rows = [json.loads(line) for line in (FIXTURES / "trl_standard.jsonl").read_text().splitlines()]
    rows.sort(key=lambda r: len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]))
    return [PairText(r["prompt"], r["chosen"], r["rejected"]) for r in rows[:3]]


def check_against_reference(backend: Backend, reference, pairs: list[PairText], demo: list[PairText]) -> None:  # type: ignore[no-untyped-def]
    """The fast path on the demo pairs and the generative path's answer slot, against transformers
    in float32, within the backend's stated tolerance; a P(A) that close to 0.5 is undecided."""
    tokenizer, model = reference
    tolerance = backend.undecided_within
    for pair, score in zip(demo, score_pairs(backend, demo), strict=True):
        ab = backend.chat_prompt(label_only_user_message(pair.prompt, pair.response_a, pair.response_b))
        ba = backend.chat_prompt(label_only_user_message(pair.prompt, pair.response_b, pair.response_a))
        exact = [helpers.reference_p_a(tokenizer, model, ab), 1 - helpers.reference_p_a(tokenizer, model, ba)]
        assert [o["prob_a"] for o in score.orders] == pytest.approx(exact, abs=tolerance)
        assert score.label == verdict_for(score.prob_a, tolerance)
        if abs(sum(exact) / 2 - 0.5) > 2 * tolerance:  # clear of the boundary: the same verdict as float32
            assert score.label == verdict_for(sum(exact) / 2, tolerance)
    # The proof score's terms: a continuation's log-probability after a prompt, and on its own.
    continuation = "Feedback: Response A answers the question; Response B does not.\nConclusion: Response A."
    texts = [
        (backend.chat_prompt(label_only_user_message(p.prompt, p.response_a, p.response_b)), continuation)
        for p in pairs
    ]
    texts.append((backend.chat_prompt(""), continuation))
    for (prefix, text), logp in zip(texts, backend.continuation_logprobs(texts), strict=True):
        assert logp == pytest.approx(helpers.reference_continuation_logprob(tokenizer, model, prefix, text), rel=1e-3)
    (proofs,) = prove(backend, pairs[:1], ["A"], k=2, max_new_tokens=12, guided=True)
    assert len(proofs) == 2 and all(p.logp_given_task < 0 and p.logp_alone < 0 for p in proofs)
    for pair, result in zip(pairs, judge_pairs(backend, pairs, JudgeOptions(max_new_tokens=16)), strict=True):
        (order,) = result.orders
        prompt = backend.chat_prompt(gram_r2_user_message(pair.prompt, pair.response_a, pair.response_b))
        has_label = "label read" not in (order["problem"] or "")
        expected = helpers.reference_p_a(tokenizer, model, prompt + answer_slot(order["raw_output"], has_label))
        assert order["prob_a"] == pytest.approx(expected, abs=tolerance)
        assert 0 < order["tokens"] <= 16 and order["raw_output"]


def test_vllm_offline_engine(
    embedded_model_dir: Path, reference, pairs: list[PairText], demo_pairs: list[PairText], db: Database
) -> None:  # type: ignore[no-untyped-def]
    from core.backends.vllm_backend import VLLMBackend
    from core.data.importer import import_files
    from core.judge.run import run_judging
    from core.judge.work import JudgeRun
    from storage.tables import Judgment

    backend = VLLMBackend(ModelSpec("smollm2", str(embedded_model_dir)), max_model_len=4096)
    try:
        assert backend.precision == "float32"  # its own choice on a CPU, even one with native bf16
        check_against_reference(backend, reference, pairs, demo_pairs)
        # voting@k through vLLM's n, and a judging job that stores vLLM's judgments.
        (voted,) = judge_pairs(backend, pairs[:1], JudgeOptions(votes=3, max_new_tokens=8))
        assert voted.votes is not None and voted.votes["k"] == 3
        with db.session() as session:
            import_files(session, [FIXTURES / "trl_standard.jsonl"], dataset="d", max_bytes=2**30, max_chars=10**5)
        job = run_judging(
            db,
            backend,
            JudgeRun("d", options=JudgeOptions(both_orders=True, max_new_tokens=8), limit=4),
            show_progress=False,
        )
        assert (job.status, job.done) == ("succeeded", 4)
        with db.session() as session:
            stored = session.query(Judgment).all()
            assert len(stored) == 4 and {j.backend for j in stored} == {"vllm"}
            assert all(j.consistent is not None and len(j.orders) == 2 for j in stored)
    finally:
        backend.close()


@contextmanager
def serving(model_dir: Path, name: str, memory_share: float) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `vllm serve` of the embedded model on loopback, in float32: (process, URL)."""
    port = free_port()
    cores = sorted(os.sched_getaffinity(0))
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": f"{cores[0]}-{cores[-1]}", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    # The server `vllm serve` runs. The `vllm` command itself fails in vllm-cpu 0.32.0: it asks
    # for the version of a distribution named "vllm", and this one is named "vllm-cpu".
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        "4096",
        "--enforce-eager",
        "--dtype",
        "float32",
        "--gpu-memory-utilization",
        str(memory_share),
        "--served-model-name",
        "smollm2",
    ]
    log = open(Path(model_dir).parent / f"vllm-serve-{name}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/v1/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, seconds=600, what=f"vllm serve (log: {log.name})", process=server, interval=1)
        yield server, url
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def vllm_serve(embedded_model_dir: Path) -> Iterator[str]:
    with serving(embedded_model_dir, "main", 0.3) as (_, url):
        yield url


def test_openai_backend_against_vllm_serve(
    vllm_serve: str, embedded_model_dir: Path, reference, pairs: list[PairText], demo_pairs: list[PairText]
) -> None:  # type: ignore[no-untyped-def]
    from core.backends.openai_backend import OpenAIBackend

    spec = ModelSpec("smollm2", str(embedded_model_dir))
    # A server listed first that is down is passed over; the dtype, not told, is taken as the widest.
    untold = OpenAIBackend(spec, base_url=f"http://127.0.0.1:{free_port()},{vllm_serve}")
    assert untold.served_model == "smollm2" and untold.pool.servers[0].failures >= 1
    assert untold.undecided_within == tolerance_of("bfloat16")
    untold.close()
    backend = OpenAIBackend(spec, base_url=vllm_serve, concurrency=4, precision="float32")
    try:
        assert backend.served_model == "smollm2" and backend.max_model_len == 4096
        check_against_reference(backend, reference, pairs, demo_pairs)
    finally:
        backend.close()


def test_openai_backend_retries_then_says_what_failed(embedded_model_dir: Path) -> None:
    from core.backends.openai_backend import OpenAIBackend

    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"failed after 2 tries"):
        OpenAIBackend(ModelSpec("m", str(embedded_model_dir)), base_url=f"http://127.0.0.1:{free_port()}", retries=1)
    assert time.perf_counter() - started >= 1.0  # it waited before the retry


def test_judging_through_two_servers_goes_on_when_one_dies(
    vllm_serve: str, embedded_model_dir: Path, demo_pairs: list[PairText], db: Database
) -> None:
    """Requests spread over two `vllm serve` processes; one is killed while it answers: the run
    finishes on the other, every pair judged exactly once."""
    from core.backends.openai_backend import OpenAIBackend
    from core.data.importer import import_files
    from core.judge.run import run_judging
    from core.judge.work import JudgeRun
    from storage.tables import Judgment

    rows = [json.loads(line) for path in demo_paths() for line in path.read_text().splitlines()[:8]]
    source = embedded_model_dir.parent / "two-servers.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with db.session() as session:
        import_files(session, [source], dataset="two", max_bytes=2**30, max_chars=10**5)
    with serving(embedded_model_dir, "second", 0.1) as (second, url):
        spec = ModelSpec("smollm2", str(embedded_model_dir))
        backend = OpenAIBackend(spec, base_url=f"{vllm_serve}, {url}", concurrency=2, precision="float32")
        doomed = backend.pool.servers[1]

        def kill_when_busy() -> None:  # mid-batch: once the second server has answered a few requests
            wait_for(lambda: doomed.served >= 3, seconds=600, what="the second server's first answers")
            second.kill()

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        try:
            run = JudgeRun("two", protocol=Protocol.LABEL_ONLY, batch_size=4)
            job = run_judging(db, backend, run, show_progress=False)
        finally:
            backend.close()
        killer.join(timeout=5)
    assert second.returncode is not None and doomed.failures >= 1  # it died during the run
    assert backend.pool.servers[0].served > 0 and doomed.served >= 3  # both worked
    assert (job.status, job.done) == ("succeeded", len(rows))
    with db.session() as session:
        judged = [j.pair_id for j in session.query(Judgment)]
    assert len(judged) == len(set(judged)) == len(rows)
