"""How far each precision's fast-path probabilities may stray from transformers in float32, and
so which probabilities are too close to 0.5 to name a winner.

Measured by `benchmarks/backend_agreement.py` on 48 demo pairs
(`benchmarks/agreement-2026-12-03-cpu2.json`), per presentation order, against transformers in
float32: vLLM in float32 strayed by at most 7e-6, transformers in bf16 by 0.031 and vLLM in bf16
by 0.027 (their swap-averaged P(A) by 0.022 and 0.019; 10 and 9 of 48 labels flipped under a
plain P >= 0.5 rule). Each tolerance is that figure rounded up with room to spare; float16 was not
measured here (no CPU kernel worth timing): it has three more mantissa bits than bf16, so bf16's
figure bounds it. Half precision strays by a different amount on each machine: CPU kernels differ
(this machine casts bf16 through float32; another computes in bf16), and the CI machine's bf16 run
strayed by 0.045 on one of 12 demo pairs where this one stayed under 0.031. So the half-precision
tolerance is 0.1, twice the largest stray seen anywhere. A backend states its precision;
`tests/test_vllm_backends.py` holds every backend to its tolerance. A judgment whose P(A) lies
within that tolerance of 0.5 is undecided (`core.vocab.verdict_for`): in another precision it
could have gone either way, so it is counted, never scored as A.
"""

from __future__ import annotations

from core.errors import ModelError

# precision -> the largest |P(A) - P_fp32(A)| allowed on the fast path.
TOLERANCE: dict[str, float] = {
    "float32": 1e-4,
    "float16": 0.1,
    "bfloat16": 0.1,
}


def tolerance_of(precision: str) -> float:
    """The fast-path tolerance of `precision` (a torch/vLLM dtype name)."""
    name = precision.removeprefix("torch.")
    try:
        return TOLERANCE[name]
    except KeyError:
        raise ModelError(f"unknown precision '{precision}'; known: {', '.join(TOLERANCE)}") from None
