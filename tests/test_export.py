"""Export: TRL DPO and GRAM-R² SFT rows, and a full dump that imports back without loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.demo import demo_paths
from core.data.importer import import_files
from core.errors import NotFoundError
from core.export.rows import export_rows, to_hf_dataset, write_rows
from core.review.reviews import save_review, undo
from core.text.prompting import gram_r2_user_message, instruction_text
from storage.tables import Dataset, Judgment, Pair

LIMITS = {"max_bytes": 2**30, "max_chars": 200_000}
RATIONALE = (
    "Feedback:\nResponse A answers the question directly; Response B drifts off topic.\n\n"
    "Comparision:\nA is more precise.\n\nConclusion:\nA is better."
)


def pairs_of(session: Session, dataset: str) -> list[Pair]:
    return list(session.scalars(select(Pair).join(Dataset).where(Dataset.name == dataset).order_by(Pair.id)))


@pytest.fixture
def judged(session: Session) -> list[Pair]:
    """The demo's LLMBar pairs with judgments (both orders) and a few reviews with history."""
    import_files(session, [demo_paths()[0]], dataset="demo", **LIMITS)
    pairs = pairs_of(session, "demo")[:6]
    for index, pair in enumerate(pairs):
        label = "A" if index % 2 == 0 else "B"
        session.add(
            Judgment(
                pair=pair,
                model="SmolLM2-135M-Instruct",
                backend="transformers",
                label=label,
                confidence=0.5 + index / 20,
                prob_a=0.7 if label == "A" else 0.3,
                rationale=RATIONALE if label == "A" else RATIONALE.replace("A is", "B is"),
                orders=[
                    {"order": "AB", "label": label, "confidence": 0.7},
                    {"order": "BA", "label": "B", "confidence": 0.6},
                ],
                consistent=label == "A",
                votes={"A": 3, "B": 1} if label == "A" else None,
                raw_output=f"<think>\n{RATIONALE}\n</think>\n<answer>\n{label}\n</answer>",
                timings={"generate_s": 1.5, "tokens": 120},
            )
        )
    session.flush()
    # 0: accepted the model's label (confirmed); 1: corrected label and rationale;
    # 2: corrected label, no rationale; 3: tie; 4: edited then undone (no label); 5: untouched.
    save_review(
        session, pairs[0].id, reviewer="ana", label="A", judgment_id=pairs[0].judgments[0].id, rationale_seen=True
    )
    save_review(session, pairs[1].id, reviewer="ana", label="A", rationale=RATIONALE, tags=["fixed"], note="B misread")
    save_review(session, pairs[2].id, reviewer="bo", label="A")
    save_review(session, pairs[2].id, reviewer="bo", label="B")  # the model said A
    save_review(session, pairs[3].id, reviewer="bo", label="tie")
    save_review(session, pairs[4].id, reviewer="bo", label="B", note="first look")
    undo(session, pairs[4].id, reviewer="bo")
    session.commit()
    return pairs


def test_dpo_rows_come_from_pairs_a_person_labelled(session: Session, judged: list[Pair]) -> None:
    result = export_rows(session, "demo", "dpo")
    assert len(result.rows) == 3  # pairs 0, 1, 2; the tie and the undone review are left out
    assert result.skipped["tied"] == 1
    first = judged[0]
    assert result.rows[0] == {"prompt": first.prompt, "chosen": first.response_a, "rejected": first.response_b}
    assert result.rows[1]["chosen"] == judged[1].response_a
    with_reference = export_rows(session, "demo", "dpo", include_reference=True)
    assert len(with_reference.rows) == 3 + sum(
        1 for p in pairs_of(session, "demo")[4:] if p.reference_label in ("A", "B")
    )
    conversational = export_rows(session, "demo", "dpo", conversational=True).rows[0]
    assert conversational["prompt"] == [{"role": "user", "content": first.prompt}]
    assert conversational["chosen"] == [{"role": "assistant", "content": first.response_a}]


def test_sft_rows_use_the_exact_protocol_and_a_rationale_for_the_label(session: Session, judged: list[Pair]) -> None:
    result = export_rows(session, "demo", "sft")
    # 0: model's rationale, confirmed; 1: the person's rationale; 2: no rationale for B -> skipped.
    assert len(result.rows) == 2
    assert result.skipped["without a rationale for the chosen label"] == 1
    row = result.rows[0]
    user = row["prompt"][0]["content"]
    assert user == gram_r2_user_message(judged[0].prompt, judged[0].response_a, judged[0].response_b)
    assert user.startswith(instruction_text("gram_r2")[:200]) and "{user_input}" not in user
    assert row["completion"][0]["content"] == f"<think>\n{RATIONALE}\n</think>\n<answer>\nA\n</answer>"
    dataset = to_hf_dataset(result.rows)
    assert dataset.column_names == ["prompt", "completion"] and len(dataset) == 2


def test_full_dump_round_trips_pairs_judgments_reviews_and_history(
    session: Session, judged: list[Pair], tmp_path: Path
) -> None:
    undecided = {"model": "m", "backend": "vllm", "label": "tie", "confidence": 0.5, "prob_a": 0.5, "orders": []}
    session.add(Judgment(pair=judged[5], **undecided))  # a judge that named no winner: kept as it is
    session.flush()
    first = export_rows(session, "demo", "jsonl").rows
    path = write_rows(first, tmp_path / "dump.jsonl")
    report = import_files(session, [path], dataset="copy", **LIMITS)
    session.commit()
    assert report.imported == 100 and not report.errors
    second = export_rows(session, "copy", "jsonl").rows
    assert json.dumps(second, sort_keys=True) == json.dumps(first, sort_keys=True)
    # Not vacuous: the dump carries what the fixture wrote.
    copied = pairs_of(session, "copy")
    assert len(copied[0].judgments) == 1 and copied[0].reviews[0].judgment_id == copied[0].judgments[0].id
    assert [e.action for e in copied[4].reviews[0].events] == ["edit", "undo"]
    assert copied[4].reviews[0].events[1].target_event_id == copied[4].reviews[0].events[0].id
    assert copied[1].reviews[0].tags == ["fixed"] and copied[1].reviews[0].note == "B misread"
    assert [j.label for j in copied[5].judgments] == ["B", "tie"]
    # Importing the dump into the same dataset again adds nothing.
    assert import_files(session, [path], dataset="copy", **LIMITS).imported == 0


def test_export_writes_jsonl_and_parquet(session: Session, judged: list[Pair], tmp_path: Path) -> None:
    import datasets

    rows = export_rows(session, "demo", "dpo").rows
    write_rows(rows, tmp_path / "dpo.parquet")
    write_rows(rows, tmp_path / "dpo.jsonl")
    assert datasets.Dataset.from_parquet(str(tmp_path / "dpo.parquet")).to_list() == rows
    assert [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()] == rows


def test_unknown_dataset_names_the_known_ones(session: Session, judged: list[Pair]) -> None:
    with pytest.raises(NotFoundError, match="known: demo"):
        export_rows(session, "nope", "dpo")


def test_a_json_export_is_json_that_import_reads_back(session: Session, tmp_path: Path) -> None:
    """`.json` means one JSON document (an array of rows), not JSON Lines under another name."""
    import_files(session, [demo_paths()[0]], dataset="demo", max_bytes=2**30, max_chars=200_000)
    rows = export_rows(session, "demo", "jsonl").rows
    out = write_rows(rows, tmp_path / "demo.json")
    assert len(json.loads(out.read_text(encoding="utf-8"))) == len(rows) == 100
    report = import_files(session, [out], dataset="again", max_bytes=2**30, max_chars=200_000)
    assert (report.imported, report.errors) == (100, [])
