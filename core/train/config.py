"""The settings of training, task adaptation and self-training: one dataclass each.

Written the way TRL writes its configs: every field carries its help text in
`metadata={"help": ...}` and `__post_init__` checks the values, so the CLI (`gram adapt`,
`gram selftrain`, whose options are generated from these fields), the studio and the Python
API share one definition of each default and each rule. `metadata["flag"]` names a CLI option
where the field's own name would be long (`--lr`); `metadata["cli"] = False` keeps a field off it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from core.errors import ConfigError

Method = Literal["lora", "full", "head"]
Objective = Literal["rationale", "label-only", "both"]


def _check(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name} {rule} (got {value!r})")


# What `gram adapt` and the Adapt page do unless told otherwise: the judge head, which measured best
# at a team's scale (16-128 reviews; benchmarks/adapt_curves.py, README "Measured"). TrainConfig's
# own default stays LoRA: it is also self-training's fine-tuning, which a head cannot do.
ADAPT_METHOD: Method = "head"


@dataclass(frozen=True)
class TrainConfig:
    """How a judge is fine-tuned (core/train/trainer.py)."""

    method: Method = field(
        default="lora",
        metadata={
            "help": "LoRA adapters (peft), full fine-tuning, or a judge head: a logistic layer on the frozen "
            "model's hidden states (seconds; the fast path's verdict; the other training options do not apply)."
        },
    )
    objective: Objective = field(
        default="both",
        metadata={
            "help": "Which examples each pair gives: its rationale target (GRAM-R²), "
            "its label-only target (GRAM), or both."
        },
    )
    label_loss_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of GRAM's A/B cross-entropy at the label token, added to the token loss."},
    )
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing of that cross-entropy (GRAM: 0.1)."})
    swap_augment: bool = field(
        default=True,
        metadata={"help": "Also train each pair in the other order, label flipped.", "flag": "--swap/--no-swap"},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (all linear layers)."})
    lora_alpha: int = field(default=0, metadata={"help": "LoRA alpha (0: twice the rank)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate.", "flag": "--lr"})
    epochs: float = field(default=2.0, metadata={"help": "Passes over the training examples."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; > 0 overrides --epochs."})
    batch_size: int = field(default=4, metadata={"help": "Examples per device step.", "flag": "--train-batch-size"})
    grad_accum: int = field(default=1, metadata={"help": "Gradient accumulation steps."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps spent warming up (GRAM: 0.1)."})
    scheduler: str = field(default="cosine", metadata={"help": "Learning-rate schedule (a transformers name)."})
    max_length: int = field(
        default=1024, metadata={"help": "Tokens per example; prompts are cut by the judge's truncation rule to fit."}
    )
    val_fraction: float = field(
        default=0.1, metadata={"help": "Share of the training pairs kept for early stopping (used from 10 pairs on)."}
    )
    early_stopping_patience: int = field(
        default=2, metadata={"help": "Validations without improvement before stopping."}
    )
    save_steps: int = field(
        default=10,
        metadata={"help": "Checkpoint (and validate) every N steps; a killed job resumes from the last checkpoint."},
    )
    seed: int = field(default=0, metadata={"help": "Random seed."})

    def __post_init__(self) -> None:
        _check(self.method in ("lora", "full", "head"), "method", "is lora, full or head", self.method)
        _check(
            self.objective in ("rationale", "label-only", "both"),
            "objective",
            "is rationale, label-only or both",
            self.objective,
        )
        _check(self.label_loss_weight >= 0, "label_loss_weight", "must be 0 or more", self.label_loss_weight)
        _check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)", self.label_smoothing)
        _check(self.lora_r >= 1, "lora_r", "must be at least 1", self.lora_r)
        _check(self.lora_alpha >= 0, "lora_alpha", "must be 0 (twice the rank) or more", self.lora_alpha)
        if self.lora_alpha == 0:
            object.__setattr__(self, "lora_alpha", 2 * self.lora_r)
        _check(0 <= self.lora_dropout < 1, "lora_dropout", "must be in [0, 1)", self.lora_dropout)
        _check(self.learning_rate > 0, "learning_rate", "must be positive", self.learning_rate)
        _check(self.max_steps > 0 or self.epochs > 0, "epochs", "must be positive unless max_steps is", self.epochs)
        _check(self.batch_size >= 1, "batch_size", "must be at least 1", self.batch_size)
        _check(self.grad_accum >= 1, "grad_accum", "must be at least 1", self.grad_accum)
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)", self.warmup_ratio)
        _check(self.max_length >= 64, "max_length", "must be at least 64 tokens", self.max_length)
        _check(0 <= self.val_fraction < 1, "val_fraction", "must be in [0, 1)", self.val_fraction)
        _check(
            self.early_stopping_patience >= 1,
            "early_stopping_patience",
            "must be at least 1",
            self.early_stopping_patience,
        )
        _check(self.save_steps >= 1, "save_steps", "must be at least 1", self.save_steps)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AdaptConfig:
    """Task adaptation from reviewed pairs (core/train/adaptation.py)."""

    dataset: str = field(metadata={"help": "The dataset whose reviewed pairs train.", "cli": False})
    holdout_fraction: float = field(
        default=0.25,
        metadata={
            "help": "Share of reviewed pairs held out for the before/after figures (a fixed split).",
            "flag": "--holdout",
        },
    )
    prove_missing: bool = field(
        default=True,
        metadata={
            "help": "Write rationales for corrected labels that have none (else they train label-only).",
            "flag": "--prove/--no-prove",
        },
    )
    proof_samples: int = field(default=2, metadata={"help": "Proofs sampled per corrected label; the best is kept."})
    proof_max_tokens: int = field(default=256, metadata={"help": "Longest proof, in tokens."})
    eval_batch_size: int = field(default=8, metadata={"help": "Pairs per batch when scoring held-out pairs."})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"cli": False})

    def __post_init__(self) -> None:
        _check(bool(self.dataset), "dataset", "must be named", self.dataset)
        _check(0 <= self.holdout_fraction < 1, "holdout_fraction", "must be in [0, 1)", self.holdout_fraction)
        _check(self.proof_samples >= 1, "proof_samples", "must be at least 1", self.proof_samples)
        _check(self.proof_max_tokens >= 1, "proof_max_tokens", "must be at least 1", self.proof_max_tokens)
        _check(self.eval_batch_size >= 1, "eval_batch_size", "must be at least 1", self.eval_batch_size)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AdaptConfig:
        return cls(**{**raw, "train": TrainConfig(**raw["train"])})


@dataclass(frozen=True)
class SelfTrainConfig:
    """GRAM-R²'s self-training loop (core/train/selftrain.py)."""

    dataset: str = field(metadata={"help": "The dataset whose unreviewed pairs are pseudo-labelled.", "cli": False})
    iterations: int = field(default=1, metadata={"help": "Label → prove → retrain rounds."})
    pairs_per_iteration: int = field(
        default=64, metadata={"help": "Fresh unreviewed pairs labelled per iteration.", "flag": "--pairs"}
    )
    votes: int = field(default=4, metadata={"help": "Sampled labelling runs per pair (majority vote)."})
    temperature: float = field(default=0.75, metadata={"help": "Sampling temperature of the labelling runs."})
    threshold: float = field(default=0.7, metadata={"help": "Lowest confidence a pseudo-label may have."})
    label_max_tokens: int = field(default=256, metadata={"help": "Longest labelling rationale, in tokens."})
    proof_samples: int = field(default=4, metadata={"help": "Proofs sampled per label.", "flag": "--proofs"})
    proof_temperature: float = field(default=0.75, metadata={"help": "Sampling temperature of the proofs."})
    proof_max_tokens: int = field(default=256, metadata={"help": "Longest proof, in tokens."})
    max_rationale_tokens: int = field(default=256, metadata={"help": "The rule check's 'too long', in tokens."})
    prover: str | None = field(
        default=None, metadata={"help": "Proving model (id or folder); default: the current one."}
    )
    holdout_fraction: float = field(
        default=0.25,
        metadata={
            "help": "Share of reviewed pairs held out for each iteration's figures (as in adaptation).",
            "flag": "--holdout",
        },
    )
    batch_size: int = field(default=8, metadata={"help": "Pairs per inference batch."})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"cli": False})

    def __post_init__(self) -> None:
        _check(bool(self.dataset), "dataset", "must be named", self.dataset)
        for name in (
            "iterations",
            "pairs_per_iteration",
            "votes",
            "label_max_tokens",
            "proof_samples",
            "proof_max_tokens",
            "max_rationale_tokens",
            "batch_size",
        ):
            _check(getattr(self, name) >= 1, name, "must be at least 1", getattr(self, name))
        _check(self.temperature > 0, "temperature", "must be positive (the votes are sampled)", self.temperature)
        _check(self.proof_temperature > 0, "proof_temperature", "must be positive", self.proof_temperature)
        _check(0.5 <= self.threshold <= 1, "threshold", "must be in [0.5, 1] (a confidence)", self.threshold)
        _check(0 <= self.holdout_fraction < 1, "holdout_fraction", "must be in [0, 1)", self.holdout_fraction)
        _check(self.train.method != "head", "method", "is lora or full (self-training fine-tunes)", self.train.method)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SelfTrainConfig:
        return cls(**{**raw, "train": TrainConfig(**raw["train"])})
