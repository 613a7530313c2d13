"""The review page in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright) against a real ``veil ui`` process whose black box is a real ``veil serve-reference``.

Opens an image, sees both views and the outlined regions, switches to a guided-policy model,
asks a question on the protected and the original image, saves, and compares the saved file
with ``veil protect``'s output. Set ``VEIL_UI_SCREENSHOT=PATH`` to keep the screenshot
(docs/ui-screenshot.png was taken this way).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from veil.blackbox.server import stop_server_process

from .conftest import QUESTION

pytestmark = pytest.mark.browser
FAST_SPEC = "reference:work_size=320"


@contextmanager
def veil_ui(args: list[str], startup_s: float = 120) -> Iterator[str]:
    """``python -m veil.cli ui --port 0 ARGS`` as a subprocess; yields the page URL."""
    proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "ui", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout or []], daemon=True).start()
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("veil ui did not start: " + "".join(seen)[-2000:])
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if "review UI at http://" in line:
                yield line.rsplit(" at ", 1)[1].strip()
                return
    finally:
        stop_server_process(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    assert exe, "Debian's chromium is missing: `apt-get install --no-install-recommends chromium` (make test does it)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_review_page_end_to_end(browser: Any, start_server: Callable[..., Any], photo_jpeg: Path,
                                guided_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "saved"
    with start_server("--blackbox", FAST_SPEC) as bb_url, veil_ui(
            ["--backend", "openai", "--base-url", bb_url, "--model", "reference", "--budget", "10",
             "--cache", str(tmp_path / "cache.sqlite"), "-o", str(out)]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        external: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(url.rstrip("/")) or r.url.startswith(("data:", "blob:"))
                else external.append(r.url))
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")

        # 1. open an image: both views, regions outlined with their category
        page.set_input_files("#file", str(photo_jpeg))
        page.wait_for_selector("#status[data-ready^='faceblur']", timeout=60_000)
        for img in ("#original-img", "#protected-img"):
            assert page.eval_on_selector(img, "el => el.naturalWidth") == 512
        assert page.locator("#original-overlay polygon[data-category='face']").count() == 1
        assert page.locator("#regions tbody tr[data-category='face'] td").nth(3).inner_text() == "yes"
        assert page.locator("#regions tbody tr.leak").count() >= 1  # faceblur leaves the name readable
        first_src = page.get_attribute("#protected-img", "src")

        # 2. change the anonymizer: a guided-policy model, levels per category
        page.fill("#anonymizer", str(guided_model))
        page.click("#apply")
        page.wait_for_selector(f"#status[data-ready^='{guided_model}']", timeout=60_000)
        assert page.get_attribute("#protected-img", "src") != first_src
        assert "guided-policy" in page.inner_text("#kind")
        assert page.locator("#regions tbody tr.leak").count() == 0
        assert "/ 6" in page.locator("#regions tbody tr[data-category='face'] td").nth(4).inner_text()

        # 3. ask on the protected image and (after ticking the warning box) the original
        page.fill("#question", QUESTION)
        page.check("#send-original")
        assert page.is_visible("#original-warning")
        page.click("#ask")
        page.wait_for_selector("#stats[data-queries='2']", timeout=60_000)
        assert page.inner_text("#answer-original").startswith("yes")
        assert page.inner_text("#answer-protected").split()[0] in ("yes", "no")
        assert "8 of 10 left" in page.inner_text("#stats")

        # errors are shown in the page
        page.fill("#anonymizer", "no-such-anonymizer")
        page.click("#apply")
        page.wait_for_selector("#error:not([hidden])")
        assert "unknown anonymizer" in page.inner_text("#error")
        page.fill("#anonymizer", str(guided_model))
        page.click("#apply")
        page.wait_for_selector("#error[hidden]", state="attached", timeout=60_000)
        page.wait_for_selector(f"#status[data-ready^='{guided_model}']", timeout=60_000)

        # 4. save: the same bytes as `veil protect`
        page.click("#save")
        page.wait_for_selector("#saved[data-file]")
        shot = tmp_path / "ui.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("VEIL_UI_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["VEIL_UI_SCREENSHOT"])
        page.close()
        assert not external, f"the page fetched outside the app: {external}"

    saved = Path(out / photo_jpeg.name).read_bytes()
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "veil.cli", "protect", str(photo_jpeg), "-o", str(ref), "--anonymizer",
                    str(guided_model), "--quiet"], check=True, capture_output=True)
    assert saved == (ref / photo_jpeg.name).read_bytes()
    assert (out / f"{photo_jpeg.name}.veil.json").is_file()
