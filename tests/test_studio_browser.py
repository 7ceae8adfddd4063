"""The studio in a real headless Chromium (Playwright driving Debian's chromium): the whole loop,
untrusted HTML, and a team of two reviewing one dataset. Screenshots of each step go to
test-artifacts/ (or GRAM_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from core.review.queue import QUEUE_COLUMNS
from storage.database import Database
from storage.tables import Dataset, InstantScore, Job, Pair, ReviewHold
from tests.browser import Studio, first_pair_id, queue_row, review_of, table_rows
from tests.conftest import FIXTURES
from tests.helpers import criterion_file, wait_for
from tests.helpers import gram_output as gram

pytestmark = pytest.mark.slow


def test_the_whole_loop_in_the_browser(studio: str, browser: object, db: Database) -> None:
    ui = Studio(browser, studio, "ana", "whole-loop")
    ui.shot("opened")

    # Import a file through the upload box.
    ui.tab("Datasets")
    ui.page.set_input_files("#import-files input[type=file]", str(FIXTURES / "trl_standard.jsonl"))
    ui.page.fill("#import-name textarea, #import-name input", "e2e")
    ui.page.click("#import-preview")
    ui.wait_text("#import-detected", "trl-preference")
    ui.page.click("#import-run")
    ui.wait_text("#import-summary", "imported 20 pairs")
    ui.shot("imported")

    # Judge a few pairs with the active (embedded) model, watching the job's progress.
    ui.tab("Judge")
    ui.choose("judge-dataset", "e2e")
    ui.page.fill("#judge-limit input", "3")
    ui.page.fill("#judge-max-tokens input", "24")
    ui.page.click("#judge-start")
    # The bar moves per pair (a 3-pair run once sat at 0/3 until it ended), with the rate and time left.
    line = re.compile(r"[12]/3 pairs, \d+\.\d\d pairs/s, [\d.]+ tokens/s, about \d+ (?:s|min) left")
    ui.page.locator("#judge-progress .job[data-status=running]", has_text=line).wait_for(timeout=300_000)
    ui.page.locator("#judge-progress .job[data-status=succeeded]").wait_for(timeout=300_000)
    assert "3/3" in ui.text("#judge-progress")
    ui.shot("judged")

    # The evaluation page reads the stored judgments.
    ui.tab("Evaluate")
    ui.choose("eval-dataset", "e2e")
    ui.page.wait_for_timeout(500)
    ui.page.click("#eval-run")
    ui.wait_text("#eval-summary", "Against reference labels")
    assert "on 3" in ui.text("#eval-summary") and "reference" in ui.text("#eval-confusion")
    ui.shot("evaluated")

    # Review with the keyboard: edit the rationale (e, Ctrl+Enter), change the label (b).
    ui.open_dataset("e2e")
    pair_id = first_pair_id(ui)
    assert "Rationale" in ui.text("#pair-verdict")  # the model's judgment is shown
    ui.key("e")
    ui.page.keyboard.press("Control+a")
    ui.page.keyboard.type(
        "Feedback: A is vague. B is specific.\nComparision: B helps more.\nConclusion: Response B is better."
    )
    ui.page.keyboard.press("Control+Enter")
    ui.wait_text("#review-message", f"Saved pair {pair_id}")
    ui.wait_text("#rationale-diff", "yours")
    ui.shot("rationale-edited")
    ui.key("b")
    ui.wait_text("#pair-header h3", f"Pair {pair_id + 1} ")  # saved, and auto-advanced to the next pair
    review = review_of(db, pair_id)
    assert review.label == "B" and review.rationale.startswith("Feedback: A is vague") and review.reviewer == "ana"
    ui.shot("labelled")

    ui.key("z")  # undo the label change
    ui.wait_text("#review-message", f"Undid the last change on pair {pair_id}")
    assert review_of(db, pair_id).label is None and review_of(db, pair_id).rationale.startswith("Feedback: A is vague")
    ui.shot("undone")
    ui.key("y")
    ui.wait_text("#review-message", f"Redid the change on pair {pair_id}")
    assert review_of(db, pair_id).label == "B"
    assert [row for row in ui.text("#pair-history").splitlines() if "redo" in row]
    ui.shot("redone")

    # Review a few more by keyboard (accepting the reference), then adapt with one click.
    ui.key("j")
    ui.wait_text("#pair-header h3", f"Pair {pair_id + 1} ")
    for _ in range(7):
        current = first_pair_id(ui)
        reference = ui.text("#pair-header").split("reference label:")[1].split()[0]
        ui.key("a" if reference == "A" else "b")
        ui.wait_text("#review-message", f"Saved pair {current}")
        ui.wait_text("#pair-header h3", f"Pair {current + 1} ")
    ui.tab("Adapt")
    ui.choose("adapt-dataset", "e2e")
    ui.wait_text("#adapt-plan", "reviewed pairs will train")
    assert ui.page.get_by_label("judge head (seconds; the fast path)").is_checked()  # the measured best
    ui.page.get_by_label("fine-tune (LoRA; minutes)").check()  # this test follows a fine-tune's steps
    ui.page.get_by_text("Training settings").click()
    ui.page.get_by_label("label-only", exact=True).check()
    ui.page.fill("#adapt-steps input", "2")
    ui.page.fill("#adapt-max-length input", "320")
    ui.page.locator("#adapt-prove input").uncheck()  # corrected labels without a rationale train label-only
    ui.shot("adapt-settings")
    ui.page.click("#adapt-start")
    ui.wait_text("#adapt-message", "started in a worker process")
    ui.page.locator("#adapt-progress .job[data-status=succeeded]").wait_for(timeout=600_000)
    ui.wait_text("#adapt-result", "accuracy", timeout=30_000)
    ui.wait_text("#adapt-lists", "(inactive)")
    # The loss is a chart: one point per logged step.
    ui.wait_text("#adapt-loss svg", "2 steps logged")
    ui.shot("adapted")
    with db.session() as session:
        job = session.scalars(select(Job).where(Job.kind == "adapt")).one()
        assert job.status == "succeeded" and job.result["training"]["steps"] == 2
        made = job.result["version"]
    # Activation asks first; "no" changes nothing, "yes" updates the header and the result line at once.
    ui.page.click("#adapt-activate")
    ui.wait_text("#adapt-confirm-text", f"Activate {made}")
    ui.page.click("#adapt-keep")
    ui.page.locator("#adapt-confirm").wait_for(state="hidden")
    assert made not in ui.text("#studio-header")
    ui.page.click("#adapt-activate")
    ui.page.click("#adapt-confirm")
    ui.wait_text("#adapt-message", "Active:")
    ui.wait_text("#studio-header", f"model: {made}", timeout=5_000)
    ui.wait_text("#adapt-lists", f"New version {made} (active)", timeout=5_000)
    ui.wait_text("#model-versions", "active")
    assert "signed in as ana" in ui.text("#studio-header")
    ui.shot("activated")
    assert not ui.errors


def test_untrusted_html_in_a_pair_runs_nothing(studio: str, browser: object, gram_home: Path) -> None:
    hostile = {
        "prompt": "Say hi <script>window.__pwned = 'prompt'</script>",
        "response_a": "<script>window.__pwned = 'script'; alert('script')</script>Hi",
        "response_b": (
            "<img src=x onerror=\"window.__pwned='onerror'; alert('img')\"> **hello**\n\n```html\n<b>code</b>\n```"
        ),
        "label": "B",
    }
    path = gram_home / "imports" / "hostile.jsonl"  # the folder the studio may import from by path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(hostile) + "\n", encoding="utf-8")
    ui = Studio(browser, studio, "ana", "untrusted-html")
    ui.tab("Datasets")
    ui.page.fill("#import-path textarea, #import-path input", str(path))
    ui.page.fill("#import-name textarea, #import-name input", "hostile")
    ui.page.click("#import-run")
    ui.wait_text("#import-summary", "imported 1 pairs")
    ui.open_dataset("hostile")
    ui.wait_text("#response-a", "<script>")
    ui.page.wait_for_timeout(1500)  # give any injected handler time to fire
    ui.shot("hostile-pair")
    assert "<script>window.__pwned = 'script'" in ui.text("#response-a")  # shown as text
    assert "<img src=x onerror=" in ui.text("#response-b")
    assert ui.page.locator("#response-b strong", has_text="hello").count() == 1  # Markdown still renders
    assert ui.page.evaluate("() => window.__pwned") is None
    assert ui.page.locator("#response-b img").count() == 0 and ui.page.locator("#pair-prompt script").count() == 0
    assert not ui.dialogs


# Two people's labels on the six pairs of "duo", by pair position. By hand: they agree on 4 of 6
# (p_o = 2/3) and each chose A three times (p_e = 1/2), so Cohen's kappa = (2/3 - 1/2) / (1/2) = 1/3;
# Krippendorff's alpha (nominal) = 1 - (4/12) / (2*6*6 / (12*11)) = 7/18 = 0.39.
DUO = {"ana": "A A B B A B", "ben": "A B B B A A"}
REVIEWED = QUEUE_COLUMNS.index("reviewed")


def _duo(db: Database, folder: Path) -> list[int]:
    from core.data.importer import import_files

    path = folder / "duo.jsonl"
    rows = [
        {"prompt": f"Question {i}?", "response_a": f"First answer {i}", "response_b": f"Second {i}"} for i in range(6)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with db.session() as session:
        import_files(session, [path], dataset="duo", max_bytes=2**20, max_chars=10_000)
    with db.session() as session:
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == "duo"))
        return list(session.scalars(select(Pair.id).where(Pair.dataset_id == dataset_id).order_by(Pair.id)))


def holder_pair(db: Database, reviewer: str) -> int | None:
    """The pair `reviewer` holds now (their "needs you" queue took it), if any."""
    with db.session() as session:
        return session.scalar(select(ReviewHold.pair_id).where(ReviewHold.reviewer == reviewer))


def test_two_reviewers_with_overlap_two_both_review_every_pair_and_their_agreement_is_computed(
    studio: str, browser: object, db: Database, tmp_path: Path
) -> None:
    from core.review.consensus import final_labels

    ids = _duo(db, tmp_path)
    ana = Studio(browser, studio, "ana", "team-ana")
    ben = Studio(browser, studio, "ben", "team-ben")
    ana.tab("Team")
    ana.choose("team-dataset", "duo")
    # The chosen dataset's figures and overlap are shown first (the box would be reset to 1 after a fill):
    # the figures name their dataset, as those of the first one, shown when the page opened, also say nobody.
    ana.wait_text("#team-agreement", "Nobody has reviewed duo yet")
    ana.page.fill("#team-overlap input", "2")
    ana.page.click("#team-overlap-save")
    ana.wait_text("#team-note", "now needs 2 review")
    plan = {who: dict(zip(ids, labels.split(), strict=True)) for who, labels in DUO.items()}
    held: dict[str, int] = {}
    for who, person in (("ana", ana), ("ben", ben)):
        person.open_dataset("duo")
        person.choose("review-status", "needs you")
        person.wait_text("#queue-page", "6 pairs")
        person.wait_text("#review-progress", "reviewed by 2 people", timeout=20_000)
        # The "needs you" queue has opened once this person holds a pair and the page shows it (the
        # same texts are on the page before the filter's event ends, under load).
        wait_for(lambda who=who: holder_pair(db, who) is not None, seconds=60, what=f"{who}'s hold")
        held[who] = holder_pair(db, who)  # type: ignore[assignment]
        person.wait_text("#pair-header h3", f"Pair {held[who]} ")
    assert held["ana"] != held["ben"]  # two people at once start on different pairs
    assert (first_pair_id(ana), first_pair_id(ben)) == (held["ana"], held["ben"])
    ana.shot("spread")
    done: dict[str, list[int]] = {"ana": [], "ben": []}
    for _ in range(len(ids)):
        for who, ui in (("ana", ana), ("ben", ben)):
            pair_id = first_pair_id(ui)
            assert pair_id not in done[who], (who, pair_id, done)  # never sent back to a pair they labelled
            ui.key(plan[who][pair_id].lower())
            ui.wait_text("#review-message", f"Saved pair {pair_id}")
            done[who].append(pair_id)
    assert sorted(done["ana"]) == ids and sorted(done["ben"]) == ids  # both reviewed every pair
    for who in ("ana", "ben"):
        assert [review_of(db, i, who).label for i in ids] == DUO[who].split()  # type: ignore[union-attr]
    ana.wait_text("#review-message", "last pair of this queue")
    ana.wait_text("#review-progress", "6 / 6 reviewed by 2 people, 6 by ana", timeout=20_000)
    # Agreement on the Team page, as computed by hand above.
    ana.tab("Team")
    ana.page.click("#team-refresh")
    ana.wait_text("#team-agreement", "Cohen's kappa, ana and ben: 0.33 (n = 6")
    figures = ana.text("#team-agreement")
    assert "Krippendorff's alpha, everyone: 0.39 (n = 6" in figures and "too few pairs to tell" in figures
    ana.wait_text("#team-people", "4 of 6")
    disputed = [ids[1], ids[5]]
    rows = [cells for cells in table_rows(ana, "team-disagreements") if cells[0].isdigit()]
    assert [int(cells[0]) for cells in rows] == disputed and rows[0][1] == "ana: A, ben: B", rows
    ana.shot("agreement")
    # The lead settles the first disagreement: training and exports then use her label.
    ana.page.locator("#team-disagreements [data-col]", has_text=str(disputed[0])).first.click()
    ana.wait_text("#adjudicate-reviews", "ben: B")
    assert "ana: A" in ana.text("#adjudicate-reviews")
    ana.page.locator("#adjudicate-label label", has_text="B").first.click()
    ana.page.fill("#adjudicate-rationale textarea", "B answers the question that was asked.")
    ana.page.click("#adjudicate-save")
    ana.wait_text("#team-note", f"Pair {disputed[0]}: final label B")
    ana.shot("settled")
    with db.session() as session:
        finals = final_labels(session, ids)
    assert (finals[disputed[0]].label, finals[disputed[0]].how) == ("B", "adjudicated")
    assert (finals[disputed[1]].label, finals[disputed[1]].how) == (None, "disputed")
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)


def test_shortcuts_act_only_on_the_visible_review_page_and_never_on_a_focused_button(
    studio: str, browser: object, db: Database
) -> None:
    ui = Studio(browser, studio, "ana", "shortcuts")
    ui.open_dataset("demo")
    first = first_pair_id(ui)
    # On the Adapt tab, `j` then `a` would have labelled a pair the person cannot see.
    ui.tab("Adapt")
    ui.key("j")
    ui.key("a")
    ui.page.wait_for_timeout(1500)
    ui.tab("Review")
    assert first_pair_id(ui) == first and review_of(db, first) is None
    # Enter on a focused button presses that button; it does not accept the model's label.
    ui.page.focus("#key-next")
    ui.page.keyboard.press("Enter")
    wait_for(lambda: first_pair_id(ui) != first, seconds=60, what="the next pair", interval=0.2)
    assert review_of(db, first) is None
    # On the visible Review page, with nothing focused, the keys still work.
    shown = first_pair_id(ui)
    ui.key("a")
    ui.wait_text("#review-message", f"Saved pair {shown}")
    saved = review_of(db, shown)
    assert saved is not None and saved.label == "A"
    assert not ui.errors, ui.errors


def _agreement(panel: str, before: str) -> tuple[int, int]:
    """The 'K of N' right after `before` in the instant judge's panel ('none yet': 0 of 0)."""
    if f"{before} none yet" in panel:
        return 0, 0
    match = re.search(re.escape(before) + r" (\d+) of (\d+)", panel)
    assert match, (before, panel)
    return int(match.group(1)), int(match.group(2))


def _trained_on(ui: Studio) -> int:
    match = re.search(r"now trained on (\d+)", ui.text("#instant-judge"))
    return int(match.group(1)) if match else 0


def test_the_instant_judge_learns_while_a_person_reviews(
    studio: str, browser: object, db: Database, embedded_model_dir: Path, tmp_path: Path
) -> None:
    # A team's criterion (the answer with a digit is better), read once by the fast path.
    gram("import", str(criterion_file(tmp_path / "numbers.jsonl")), "--dataset", "numbers")
    gram("judge", "numbers", "--fast", "--model", str(embedded_model_dir))
    with db.session() as session:
        truth = dict(
            session.execute(
                select(Pair.id, Pair.reference_label).join(Pair.dataset).where(Dataset.name == "numbers")
            ).all()
        )
    ui = Studio(browser, studio, "ana", "instant-judge")
    ui.open_dataset("numbers")
    ui.wait_text("#instant-judge", "not trained yet")
    figures, given = [], set()
    for done in range(1, 25):
        shown = first_pair_id(ui)
        ui.key(truth[shown].lower())
        given.add(truth[shown])
        wait_for(lambda s=shown: first_pair_id(ui) != s, seconds=60, what="the next pair", interval=0.1)
        if done % 4 == 0:
            # Every 4th review refits the head (the first waits for both labels), and the panel shows it
            # even when reviews came faster than the refits. Waiting here keeps the run alike on any machine.
            expected = done if len(given) == 2 else 0
            wait_for(lambda e=expected: _trained_on(ui) == e, seconds=60, what=f"the refit on {expected}", interval=0.2)
        if done % 8 == 0:
            figures.append(_agreement(ui.text("#instant-judge"), "agreed with ana on"))
            ui.shot(f"after-{done}-reviews")
    panel = ui.text("#instant-judge")
    # Each review after the first head was a held-out test; the agreements pile up faster than the
    # untrained model's on the same pairs, and it beats the reference labels of the unreviewed pairs.
    assert [n for _, n in figures] == sorted(n for _, n in figures) and figures[-1][1] >= 12, figures
    assert figures[-1][0] > figures[0][0], figures  # the live figure rose as the person reviewed
    agreed, n = _agreement(panel, "agreed with ana on")
    shown_agreed, shown_n = _agreement(panel, "on the same pairs:")
    assert n == shown_n and agreed > shown_agreed, panel
    ref_agreed, ref_n = _agreement(panel, "nobody reviewed:")
    assert ref_n == len(truth) - 24 and ref_agreed / ref_n >= 0.8, panel
    # The queue puts the pair the instant judge is least sure of first.
    ui.choose("review-order", "instant judge least sure first")
    ui.page.click("#queue-apply")
    ui.page.wait_for_timeout(1500)
    with db.session() as session:
        least_sure = session.scalar(select(InstantScore.pair_id).order_by(InstantScore.margin, InstantScore.pair_id))
    wait_for(lambda: first_pair_id(ui) == least_sure, seconds=30, what="the least sure pair", interval=0.2)
    assert not ui.errors, ui.errors


def test_each_action_updates_its_queue_row_and_a_colleagues_change_shows(studio: str, browser: object) -> None:
    ana = Studio(browser, studio, "ana", "fresh-rows-ana")
    ben = Studio(browser, studio, "ben", "fresh-rows-ben")
    for person in (ana, ben):
        person.open_dataset("demo")
    pair_id = first_pair_id(ana)
    assert queue_row(ana, pair_id)[1] != "reviewed", queue_row(ana, pair_id)
    ana.key("a")
    ana.wait_text("#review-message", f"Saved pair {pair_id}")
    # Her own row shows the review at once, without pressing Show.
    wait_for(lambda: queue_row(ana, pair_id)[1:2] == ["reviewed"], seconds=10, what="ana's row", interval=0.2)
    assert queue_row(ana, pair_id)[REVIEWED] == "A"
    # Ben's queue, open on the same pair, follows within a refresh (one person's review of one
    # needed; his own label column stays empty), and his pair view says it changed.
    wait_for(lambda: queue_row(ben, pair_id)[10:11] == ["1 of 1"], seconds=20, what="ben's row", interval=0.5)
    assert queue_row(ben, pair_id)[REVIEWED] == ""
    ben.wait_text("#pair-changed", "changed by ana (their label: A)", timeout=20_000)
    ben.shot("changed-by-ana")
    # Undo puts her row back.
    ana.key("z")
    ana.wait_text("#review-message", "Undid")
    wait_for(lambda: queue_row(ana, pair_id)[REVIEWED] == "", seconds=10, what="ana's row after undo", interval=0.2)
    assert not ana.errors and not ben.errors, (ana.errors, ben.errors)
