"""The studio in a real headless Chromium (Playwright driving Debian's chromium): the fixtures
that start it and a signed-in tab with the steps the browser tests share. Screenshots go to
test-artifacts/ (or GRAM_TEST_ARTIFACTS). Registered in tests/conftest.py (pytest_plugins)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from storage.database import Database
from storage.tables import Review
from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("GRAM_TEST_ARTIFACTS", ROOT / "test-artifacts"))
USERS = {"ana": "secret-a", "ben": "secret-b"}


@contextmanager
def launched_studio(gram_home: Path, model: Path | str, logins: list[str]) -> Iterator[str]:
    """launch.py on `gram_home` with this --model and these login arguments (--auth / --admin),
    until the block ends."""
    port = free_port()
    log = gram_home.parent / f"studio-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "launch.py", "--port", str(port), "--model", str(model), *logins],
        cwd=ROOT,
        env={**os.environ, "GRAM_HOME": str(gram_home)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"

    def serving() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(serving, seconds=180, what=f"launch.py (log: {log})", process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def studio(gram_home: Path, embedded_model_dir: Path, db: Database) -> Iterator[str]:
    """The studio with two logins, ana and ben, who may both do everything (no admin named)."""
    logins = [arg for user, password in USERS.items() for arg in ("--auth", f"{user}:{password}")]
    with launched_studio(gram_home, embedded_model_dir, logins) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: scripts/setup.sh --test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        yield launched
        launched.close()


class Studio:
    """One signed-in browser tab on the studio, with the steps the tests need."""

    def __init__(
        self, browser: object, url: str, user: str, shots: str, viewport: tuple[int, int] = (1400, 1600)
    ) -> None:
        size = {"width": viewport[0], "height": viewport[1]}
        self.page = browser.new_page(viewport=size)  # type: ignore[attr-defined]
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.shots, self.step = ARTIFACTS / shots, 0
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.goto(url)
        self.page.fill("input[data-testid=textbox]", user)
        self.page.fill("input[type=password]", USERS[user])
        self.page.get_by_role("button", name="Login").click()
        self.page.wait_for_selector("#pair-header h3", timeout=60_000)

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"), full_page=True)

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()

    def choose(self, elem_id: str, value: str) -> None:
        self.page.click(f"#{elem_id} input")
        self.page.locator("ul[role=listbox] li", has_text=value).first.click()

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def wait_text(self, selector: str, expected: str, timeout: float = 60_000) -> None:
        self.page.locator(selector, has_text=expected).first.wait_for(timeout=timeout)

    def key(self, key: str) -> None:
        self.page.locator("body").click(position={"x": 5, "y": 5})  # focus off any text box
        self.page.keyboard.press(key)

    def open_dataset(self, name: str) -> None:
        self.tab("Review")
        self.choose("review-dataset", name)
        self.wait_text("#queue-page", f"{name} · page")
        self.page.wait_for_timeout(500)  # the pair view is filled by the same event


def review_of(db: Database, pair_id: int, reviewer: str = "ana") -> Review | None:
    """`reviewer`'s own review of the pair."""
    with db.session() as session:
        return session.scalar(
            select(Review).where(Review.pair_id == pair_id, Review.reviewer == reviewer, Review.final.is_(False))
        )


def first_pair_id(studio: Studio) -> int:
    return int(studio.text("#pair-header h3").split()[1])


def table_rows(ui: Studio, table: str) -> list[list[str]]:
    """The cells of each row a gr.Dataframe shows (header included; it draws the rows in view)."""
    rows = ui.page.eval_on_selector_all(
        f"#{table} [role=row]",
        "rows => rows.map(r => Array.from(r.querySelectorAll('[data-col]')).map(c => c.innerText.trim()))",
    )
    return [cells for cells in rows if cells]


def queue_row(ui: Studio, pair_id: int) -> list[str]:
    """The cells of the queue's row for `pair_id`, as shown."""
    return next((cells for cells in table_rows(ui, "queue-table") if cells[0] == str(pair_id)), [])
