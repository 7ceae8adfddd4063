"""Every file in ../shared/data imports through `gram import` with the counts its README gives."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.tables import Dataset, Pair
from tests.helpers import gram_output as gram


def summary(output: str) -> tuple[int, dict[str, int]]:
    match = re.search(r"imported (\d+) pairs \(([^)]*)\)", output)
    assert match, output
    labels = dict(
        (name, int(n)) for name, n in (part.split() for part in match.group(2).split(", ") if part != "no labels")
    )
    return int(match.group(1)), labels


def labels_in(session: Session, dataset: str) -> Counter[str | None]:
    query = select(Pair.reference_label).join(Dataset).where(Dataset.name == dataset)
    return Counter(session.scalars(query))


# The README's table: pairs and label counts. HHH's A/B split belongs to common/ only: upstream
# BIG-bench lists the better response first, and the importer places it by a stable coin.
README_COUNTS = {
    "pandalm": (999, {"A": 422, "B": 472, "tie": 105}),
    "llmbar": (419, {"A": 206, "B": 213}),
    "bigbench_hhh": (221, {"A": 125, "B": 96}),
}
LLMBAR_SUBSETS = {
    "Natural": 100,
    "Adversarial_Neighbor": 134,
    "Adversarial_GPTInst": 92,
    "Adversarial_GPTOut": 47,
    "Adversarial_Manual": 46,
}


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_common_files_import_with_the_readme_counts(shared_data: Path, session: Session, name: str) -> None:
    pairs, labels = README_COUNTS[name]
    output = gram("import", str(shared_data / "common" / f"{name}.jsonl"), "--dataset", name, "--allow-empty")
    assert summary(output) == (pairs, labels)
    assert labels_in(session, name) == Counter(labels)
    # Without --allow-empty, PandaLM's 54 pairs with an empty response are rejected, each named.
    if name == "pandalm":
        output = gram("import", str(shared_data / "common" / "pandalm.jsonl"), "--dataset", "strict")
        assert summary(output)[0] == 999 - 54
        assert "54 rows rejected" in output


def test_upstream_pandalm_matches_common(shared_data: Path, session: Session) -> None:
    output = gram("import", str(shared_data / "pandalm" / "testset-v1.json"), "--dataset", "raw", "--allow-empty")
    assert summary(output) == (999, {"A": 422, "B": 472, "tie": 105})
    raw = {
        int(p.external_id): (p.prompt.strip(), p.response_a, p.response_b, p.reference_label)
        for p in session.scalars(select(Pair).join(Dataset).where(Dataset.name == "raw"))
    }
    for line in (shared_data / "common" / "pandalm.jsonl").read_text().splitlines():
        row = json.loads(line)
        index = int(row["id"].removeprefix("pandalm-"))
        assert raw[index] == (row["prompt"].strip(), row["response_a"], row["response_b"], row["label"])


def test_upstream_llmbar_files_import_with_subset_counts(shared_data: Path, session: Session) -> None:
    total = 0
    for subset, count in LLMBAR_SUBSETS.items():
        output = gram("import", str(shared_data / "llmbar" / f"LLMBar_{subset}.json"), "--dataset", subset)
        assert summary(output)[0] == count
        total += count
    assert total == 419
    a_b = sum((labels_in(session, s) for s in LLMBAR_SUBSETS), Counter())
    assert a_b == Counter({"A": 206, "B": 213})


def test_upstream_bigbench_hhh_imports_every_pair_and_keeps_the_canary(shared_data: Path, session: Session) -> None:
    files = sorted(str(p) for p in (shared_data / "bigbench_hhh").glob("*_task.json"))
    output = gram("import", *files, "--dataset", "hhh")
    pairs, labels = summary(output)
    assert pairs == 221 and labels["A"] + labels["B"] == 221
    stored = session.scalars(select(Pair).join(Dataset).where(Dataset.name == "hhh")).all()
    assert all("BENCHMARK DATA SHOULD NEVER APPEAR" in p.meta["canary"] for p in stored)
    # Importing again adds nothing.
    assert summary(gram("import", *files, "--dataset", "hhh"))[0] == 0
