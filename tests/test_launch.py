"""launch.py starts the studio on the demo data and serves it (a real process, over HTTP)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def studio(gram_home: Path, embedded_model_dir: Path) -> Iterator[str]:
    port = free_port()
    # The model flag takes the session's converted checkpoint, so this start converts nothing.
    process = subprocess.Popen(
        [sys.executable, "launch.py", "--port", str(port), "--model", str(embedded_model_dir), "--auth", "ana:secret"],
        cwd=ROOT,
        env={**os.environ, "GRAM_HOME": str(gram_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail(f"launch.py exited: {process.stdout.read() if process.stdout else ''}")
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the studio did not start within 120 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_launch_serves_the_demo_dataset_behind_a_login(studio: str) -> None:
    from gradio_client import Client

    with pytest.raises(Exception):
        Client(studio, verbose=False).predict(api_name="/datasets")
    client = Client(studio, auth=("ana", "secret"), verbose=False)
    table = client.predict(api_name="/datasets")
    rows = table["data"] if isinstance(table, dict) else table
    assert [row[:4] for row in rows] == [["demo", 400, 0, 0]]
    pairs = client.predict("demo", api_name="/pairs")
    assert "400 pairs" in pairs[1]
    assert len(pairs[0]["data"]) == 25
