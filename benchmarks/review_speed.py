"""Review speed in the browser: the time from a keypress to the next pair on screen.

Starts the studio (launch.py) on a fresh store holding the demo (400 pairs) and N generated pairs
(benchmarks/queue_speed.py's fill: 80% judged, 10% reviewed), opens each dataset in headless
Chromium at 1366x768 and presses keys like a reviewer: `j` (next pair, nothing saved) and `a`
(label A, saved, then the next pair). Each step is timed in the page, from just before the key to
the moment the pair header names the next pair. Medians and 90th percentiles in milliseconds, per
dataset, in one run (so the ratio of the big store to the demo is on the same machine and moment).

    .venv/bin/python benchmarks/review_speed.py --pairs 100000 --steps 50 [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

# Records when the pair header names another pair (the page's own clock).
WATCH = """
() => {
  window.__shownAt = null;
  const header = document.getElementById('pair-header');
  let last = header.querySelector('h3') ? header.querySelector('h3').textContent : '';
  new MutationObserver(() => {
    const h3 = header.querySelector('h3');
    const now = h3 ? h3.textContent : '';
    if (now !== last) { last = now; window.__shownAt = performance.now(); }
  }).observe(header, {childList: true, subtree: true, characterData: true});
}
"""


def serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "launch.py", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "GRAM_HOME": str(home)},
        stdout=(home / "studio.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(1)
    process.terminate()
    raise SystemExit(f"the studio did not start; see {home / 'studio.log'}")


def steps(page, key: str, n: int) -> list[float]:  # noqa: ANN001
    """n presses of `key`, each timed from the press to the next pair shown (ms)."""
    times = []
    for _ in range(n):
        page.evaluate("window.__shownAt = null")
        started = page.evaluate("performance.now()")
        page.keyboard.press(key)
        page.wait_for_function("window.__shownAt !== null", timeout=30_000)
        times.append(page.evaluate("window.__shownAt") - started)
        page.wait_for_timeout(100)  # a reviewer's pause: let the follow-up refresh land
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "n": len(ordered),
    }


def main() -> None:
    from playwright.sync_api import sync_playwright
    from queue_speed import fill

    from core.data.demo import seed_demo
    from core.settings import Settings
    from storage.database import Database
    from tests.helpers import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gram-review-speed-"))
    db = Database(f"sqlite:///{home / 'gram.db'}")
    with db.session() as session:  # first, as the studio would on an empty store
        seed_demo(session, Settings(home=home))
    started = time.perf_counter()
    fill(db, args.pairs)
    db.dispose()
    print(f"filled {args.pairs} pairs in {time.perf_counter() - started:.0f} s", flush=True)
    port = free_port()
    process = serve(home, port)
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#pair-header h3", timeout=120_000)
            page.wait_for_timeout(2000)  # the dataset list is filled by the page's load event
            for dataset in ("demo", "big"):
                page.click("#review-dataset input")
                page.locator("ul[role=listbox] li", has_text=dataset).first.click()
                page.locator("#queue-page", has_text=f"{dataset} · page").wait_for(timeout=60_000)
                page.wait_for_timeout(1000)
                page.evaluate(WATCH)
                page.locator("body").click(position={"x": 5, "y": 5})
                results[dataset] = {"next pair (j)": summary(steps(page, "j", args.steps))}
                results[dataset]["label A and next (a)"] = summary(steps(page, "a", args.steps))
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    for dataset, cases in results.items():
        for name, r in cases.items():
            print(f"{dataset:5} {name:22} median {r['median_ms']:7.1f} ms   p90 {r['p90_ms']:7.1f} ms   n={r['n']}")
    for name in results["big"]:
        ratio = results["big"][name]["median_ms"] / max(results["demo"][name]["median_ms"], 1e-9)
        print(f"{name}: {args.pairs:,} pairs vs 400, median ratio {ratio:.2f}")
    if args.out:
        record = {
            "pairs": args.pairs,
            "steps": args.steps,
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
            "date": time.strftime("%Y-%m-%d"),
            "results": results,
        }
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
