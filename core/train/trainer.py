"""Fine-tuning a judge: supervised "rationale, then label" targets, plus GRAM's label-only loss.

The engine is TRL's SFTTrainer on a prompt-completion dataset whose prompts are exactly what the
judge sends (the same chat template and truncation rule, core/text/prompting.py), so the loss falls
on the reply only. Two objectives, mixed by weight:

- rationale: the negative log-likelihood of `<think>rationale</think><answer>L</answer>` after
  the GRAM-R² prompt (GRAM-R²'s objective);
- label-only: cross-entropy over the two logits A and B at the label token, with label
  smoothing (GRAM's), added for every example; examples of the label-only protocol (the
  '#Preferred: ' prompt, target one letter) train the fast path.

Swap augmentation adds each pair in the other order with the label flipped (and the rationale's
"Response A"/"Response B" names swapped). LoRA through peft by default, full fine-tuning as an
option. Checkpoints go to a job folder so a killed run resumes; the finished model is saved under
a temporary name and renamed into place, so a crash never leaves a half-written model.
One process: under `accelerate launch` every rank would run the whole job (its own model version),
so several GPUs are not supported yet.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import GramError
from core.judge.verdict import swap_letters
from core.model.spec import ModelSpec
from core.text.prompting import PromptBuilder, label_slot, rationale_target
from core.train.config import TrainConfig
from core.train.split import LabelledPair
from core.vocab import Label, Protocol


@dataclass
class TrainProgress:
    step: int
    max_steps: int
    loss: float | None
    eta_s: float | None
    epoch: float | None


@dataclass
class TrainResult:
    output_dir: str
    steps: int
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    resumed_from: str | None = None
    stopped: bool = False  # cancelled before the end: nothing was saved
    seconds: float = 0.0
    examples: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # what the rows left out, and why


def swap_rationale(rationale: str) -> str | None:
    """The rationale for the swapped order ('Response A' <-> 'Response B', every way the format
    names a response), or None when it names one by a bare letter: then the swapped example trains
    its label alone, and the count of such rationales is reported."""
    return swap_letters(rationale)


SWAP_REFUSED = "swapped rationales left out (a response named by a bare letter)"
TOO_LONG = "examples left out: longer than max_length even with their texts cut (a long rationale)"
CUT = "examples kept with their texts cut to max_length (judging cuts only at the model's context)"


def training_rows(
    examples: Sequence[LabelledPair], tokenizer: Any, config: TrainConfig, skipped: Counter[str] | None = None
) -> list[dict[str, str]]:
    """Prompt-completion rows (TRL's standard form) for the examples under the config; what was
    left out, and why, is counted in `skipped`."""
    builder = PromptBuilder(tokenizer, config.max_length, reserved=0)
    skipped = Counter() if skipped is None else skipped
    rows: list[dict[str, Any]] = []
    for example in examples:
        views = [(example.text.response_a, example.text.response_b, example.label, example.rationale)]
        if config.swap_augment:
            flipped = Label(example.label).flipped
            swapped = swap_rationale(example.rationale) if example.rationale else None
            if example.rationale and swapped is None:
                skipped[SWAP_REFUSED] += 1  # that view still trains its label (label-only)
            views.append((example.text.response_b, example.text.response_a, flipped, swapped))
        for first, second, label, rationale in views:
            if config.objective in ("rationale", "both") and rationale:
                target = rationale_target(rationale, label)
                reserved = len(tokenizer.encode(target, add_special_tokens=False)) + 2
                prompt, cut = builder.build(Protocol.GRAM_R2, example.text.prompt, first, second, reserved=reserved)
                rows.append({"prompt": prompt, "completion": target, "pair_id": example.pair_id, "cut": cut})
            if config.objective in ("label-only", "both") or not rationale:
                prompt, cut = builder.build(Protocol.LABEL_ONLY, example.text.prompt, first, second, reserved=2)
                rows.append({"prompt": prompt, "completion": label, "pair_id": example.pair_id, "cut": cut})
    kept, longest = [], 0
    for row in rows:
        length = len(tokenizer.encode(row["prompt"] + row["completion"], add_special_tokens=False))
        if length > config.max_length:  # even with its texts cut (a long rationale): left out, counted
            skipped[TOO_LONG] += 1
            longest = max(longest, length)
            continue
        if row.pop("cut"):
            # The judge cuts by the model's context, training by max_length: say how often they differ.
            skipped[CUT] += 1
        kept.append(row)
    if not kept and rows:
        raise GramError(
            f"max_length {config.max_length} is too short for the prompt template: the examples need up to "
            f"{longest} tokens even with their texts cut (the GRAM-R² instruction alone is about 450 tokens, "
            "the label-only one 240)"
        )
    return kept


def label_token_ids(tokenizer: Any) -> tuple[int, int]:
    """The ids of A and B as the label token after a newline (both protocols' answer slots)."""
    slot = label_slot(tokenizer, "<answer>\n")
    return slot.token_a, slot.token_b


def gram_loss(
    logits: Any,
    labels: Any,
    token_a: int,
    token_b: int,
    label_weight: float,
    smoothing: float,
    *,
    num_items: Any = None,
    accumulation: int = 1,
) -> Any:
    """Token NLL over the reply, plus `label_weight` x the smoothed A/B cross-entropy at the label.

    The label token is the last A or B among each row's target tokens (the answer comes last).
    Under gradient accumulation this micro-batch is one of `accumulation`: the token part is summed
    and divided by `num_items` (the reply tokens of the whole accumulated batch, as transformers
    counts them) and the label part divided by `accumulation`, so N micro-batches weigh like one batch."""
    import torch
    import torch.nn.functional as F

    logits, labels = logits[:, :-1, :].float(), labels[:, 1:]
    flat_logits, flat_labels = logits.reshape(-1, logits.size(-1)), labels.reshape(-1)
    if num_items is None:
        loss = F.cross_entropy(flat_logits, flat_labels, ignore_index=-100) / accumulation
    else:
        summed = F.cross_entropy(flat_logits, flat_labels, ignore_index=-100, reduction="sum")
        loss = summed / torch.as_tensor(num_items, device=summed.device).clamp(min=1)
    if label_weight:
        is_label = (labels == token_a) | (labels == token_b)
        has = is_label.any(dim=1)
        if has.any():
            positions = torch.arange(labels.size(1), device=labels.device)
            where = (is_label * positions).argmax(dim=1)
            rows = torch.arange(labels.size(0), device=labels.device)
            pair_logits = logits[rows, where][:, [token_a, token_b]]
            target = (labels[rows, where] == token_b).long()
            label_loss = F.cross_entropy(pair_logits[has], target[has], label_smoothing=smoothing)
            loss = loss + label_weight * label_loss / accumulation
    return loss


def _split_validation(
    rows: list[dict[str, Any]], config: TrainConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hold out whole pairs (both orders together) for early stopping."""
    import random

    pair_ids = sorted({row["pair_id"] for row in rows})
    if config.val_fraction <= 0 or len(pair_ids) < 10:
        return rows, []
    chosen = set(random.Random(config.seed).sample(pair_ids, max(1, round(len(pair_ids) * config.val_fraction))))
    return [r for r in rows if r["pair_id"] not in chosen], [r for r in rows if r["pair_id"] in chosen]


def latest_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(found, key=lambda p: int(p.name.split("-")[1]), default=None)


def train(
    spec: ModelSpec,
    examples: Sequence[LabelledPair],
    output_dir: Path,
    work_dir: Path,
    config: TrainConfig = TrainConfig(),
    *,
    on_progress: Callable[[TrainProgress], bool] | None = None,
    show_progress: bool = True,
) -> TrainResult:
    """Fine-tune `spec` (continuing its adapter, if it has one) on the examples.

    Checkpoints go to `work_dir` and a run resumes from the latest one there. The model is
    written to `output_dir` only when training completes (via a temporary folder and a rename).
    `on_progress` is called after each logged step; returning False stops the run (cancel)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(spec.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    token_a, token_b = label_token_ids(tokenizer)
    skipped: Counter[str] = Counter()
    rows = training_rows(examples, tokenizer, config, skipped)
    train_rows, val_rows = _split_validation(rows, config)
    on_gpu = torch.cuda.is_available()
    model: Any = AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch.bfloat16 if on_gpu else torch.float32)
    peft_config = None
    if spec.adapter:  # continue the parent's adapter
        model = PeftModel.from_pretrained(model, spec.adapter, is_trainable=True)
        if config.method == "full":
            model = model.merge_and_unload()
    elif config.method == "lora":
        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )

    work_dir.mkdir(parents=True, exist_ok=True)
    result = TrainResult(output_dir=str(output_dir), steps=0, examples=len(train_rows), skipped=dict(skipped))
    validate = bool(val_rows)
    args = SFTConfig(
        output_dir=str(work_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if validate else "no",
        eval_steps=config.save_steps if validate else None,
        load_best_model_at_end=validate,
        metric_for_best_model="eval_loss" if validate else None,
        greater_is_better=False if validate else None,
        seed=config.seed,
        data_seed=config.seed,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        max_length=config.max_length,
        completion_only_loss=True,
        report_to="none",
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )

    class Report(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any) -> None:
            logs = logs or {}
            if "loss" in logs:
                result.losses.append((state.global_step, float(logs["loss"])))
            if "eval_loss" in logs:
                result.eval_losses.append((state.global_step, float(logs["eval_loss"])))
            elapsed = time.perf_counter() - started
            done = max(state.global_step - first_step, 1)
            eta = elapsed / done * (state.max_steps - state.global_step) if state.max_steps else None
            progress = TrainProgress(state.global_step, state.max_steps, logs.get("loss"), eta, state.epoch)
            if on_progress is not None and on_progress(progress) is False:
                result.stopped = True
                control.should_training_stop = True
                control.should_save = False

    callbacks: list[Any] = [Report()]
    if validate:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))

    class GramTrainer(SFTTrainer):
        # The loss below is already scaled for gradient accumulation; the trainer must not divide it again.
        loss_is_scaled_for_ga = True  # type: ignore[assignment]  # the base class declares it None

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels = inputs.pop("labels")
            inputs.pop("completion_mask", None)
            outputs = model(**inputs, use_cache=False)
            accumulation = getattr(self, "current_gradient_accumulation_steps", 1) if model.training else 1
            loss = gram_loss(
                outputs.logits,
                labels,
                token_a,
                token_b,
                config.label_loss_weight,
                config.label_smoothing,
                num_items=num_items_in_batch if model.training else None,
                accumulation=accumulation,
            )
            return (loss, outputs) if return_outputs else loss

    def dataset(part: list[dict[str, Any]]) -> Any:
        return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in part])

    trainer = GramTrainer(
        model=model,
        args=args,
        train_dataset=dataset(train_rows),
        eval_dataset=dataset(val_rows) if validate else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    checkpoint = latest_checkpoint(work_dir)
    result.resumed_from = str(checkpoint) if checkpoint else None
    first_step = int(checkpoint.name.split("-")[1]) if checkpoint else 0
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    result.steps = int(output.global_step)
    result.seconds = time.perf_counter() - started
    if result.stopped:
        return result
    _save_atomically(trainer, tokenizer, output_dir, merge=config.method == "full")
    return result


def _save_atomically(trainer: Any, tokenizer: Any, output_dir: Path, *, merge: bool) -> None:
    """Write the model beside its final place, then rename: readers see all of it or none."""
    staging = output_dir.with_name(f".{output_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model = trainer.model
    if merge and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    if output_dir.exists():
        raise FileExistsError(f"{output_dir} already exists")
    os.replace(staging, output_dir)


def is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").exists()
