"""launch.py starts the studio on the demo data and serves it (a real process, over HTTP)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from storage.database import Database
from tests.browser import launched_studio
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def studio(gram_home: Path, embedded_model_dir: Path) -> Iterator[str]:
    with _launch(gram_home, embedded_model_dir) as url:
        yield url


@pytest.fixture
def home_outside_temp() -> Iterator[Path]:
    """A data folder where the default one is: neither under the system temp folder nor the working one."""
    import shutil
    import uuid

    home = Path.home() / ".cache" / f"gram-test-{uuid.uuid4().hex[:8]}"
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _launch(gram_home: Path, embedded_model_dir: Path) -> AbstractContextManager[str]:
    # The model flag takes the session's converted checkpoint, so this start converts nothing.
    return launched_studio(gram_home, embedded_model_dir, ["--auth", "ana:secret"])


@pytest.mark.slow
def test_launch_serves_the_demo_dataset_behind_a_login(studio: str) -> None:
    from gradio_client import Client

    with pytest.raises(Exception):  # noqa: B017  (whatever gradio_client raises for a refused login)
        Client(studio, verbose=False).predict(api_name="/datasets")
    # The page a visitor gets before login (its embedded API description included) names no dataset.
    assert "demo" not in httpx.get(studio, timeout=10).text
    client = Client(studio, auth=("ana", "secret"), verbose=False)
    table = client.predict(api_name="/datasets")
    rows = table["data"] if isinstance(table, dict) else table
    assert [row[:4] for row in rows] == [["demo", 400, 0, 0]]


@pytest.mark.slow
def test_a_fresh_studio_of_the_embedded_model_starts_untrained_on_a_judged_demo(
    gram_home: Path, embedded_model_dir: Path, settings: Settings, db: Database
) -> None:
    """The shipped head fails off its training sources (core/head/default_judge.py), so a fresh
    studio starts on the untrained model, whose shipped fast-path verdicts of the demo are stored."""
    from sqlalchemy import func, select

    from core.head.default_judge import NAME
    from core.model.versions import active_version, list_versions
    from storage.tables import Judgment

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / embedded_model_dir.name).symlink_to(embedded_model_dir)  # converted once per session
    with launched_studio(gram_home, "embedded", ["--auth", "ana:secret"]), db.session() as session:
        assert active_version(session) is None  # the settings' model: the untrained embedded one
        names = {v.name for v in list_versions(session)}
        judged = session.scalar(select(func.count(Judgment.id)))
    assert NAME not in names and judged == 400
    assert (gram_home / "imports").is_dir()  # the import folder, made at the first start


@pytest.mark.slow
def test_an_export_from_the_studio_downloads_wherever_the_data_folder_is(
    home_outside_temp: Path, embedded_model_dir: Path, tmp_path: Path
) -> None:
    from gradio_client import Client

    with _launch(home_outside_temp, embedded_model_dir) as url:
        client = Client(url, auth=("ana", "secret"), verbose=False, download_files=str(tmp_path))
        path, note = client.predict("demo", "jsonl", False, api_name="/export")
        assert "400 rows" in note
        assert len(Path(path).read_text(encoding="utf-8").splitlines()) == 400
        # dpo rows need a label: nobody reviewed the demo, so only with the reference labels ticked.
        _, without = client.predict("demo", "dpo", False, api_name="/export")
        _, with_reference = client.predict("demo", "dpo", True, api_name="/export")
        assert "0 rows" in without and re.search(r": [1-9]\d* rows", with_reference), (without, with_reference)
    # Every export is its own file: a colleague's export never replaces the one being downloaded.
    notes = [n.replace("\\", "") for n in (note, without, with_reference)]  # the note escapes Markdown
    names = [re.search(r"wrote (\S+):", n).group(1) for n in notes]  # type: ignore[union-attr]
    assert len(set(names)) == 3 and all(n.startswith("demo-") for n in names), names
    assert {p.name for p in (home_outside_temp / "exports").iterdir()} >= set(names)


@pytest.mark.slow
def test_self_training_from_the_studio_takes_its_step_limit_and_can_be_cancelled(studio: str, db: object) -> None:
    from gradio_client import Client
    from sqlalchemy import select

    from storage.tables import Job

    client = Client(studio, auth=("ana", "secret"), verbose=False)
    said = client.predict("demo", 1, 1, 1, 0.7, 3, 1, api_name="/selftrain")
    match = re.match(r"Self-training job (\d+) started", said)
    assert match, said
    job_id = int(match.group(1))
    cancelled = client.predict(api_name="/selftrain_cancel")  # the page's job (a State: not an API input)
    assert re.match(rf"(Cancel requested for job {job_id}|Job {job_id} cancelled)", cancelled), cancelled

    def ended() -> bool:
        with db.session() as session:  # type: ignore[attr-defined]
            job = session.scalar(select(Job).where(Job.id == job_id))
            return job is not None and job.status in ("cancelled", "succeeded", "failed")

    wait_for(ended, seconds=300, what="the self-training job to stop")
    with db.session() as session:  # type: ignore[attr-defined]
        job = session.scalar(select(Job).where(Job.id == job_id))
        assert job.status == "cancelled", (job.status, job.error, job.log)
        train = job.config["selftrain"]["train"]
        assert train["max_steps"] == 3 and train["epochs"] == 1
