"""Drive the running UI in Debian's headless Chromium: ask a question, predict, and save a screenshot per page.

Used by the browser test (tests/ui/test_e2e_browser.py) and by hand to refresh the README images::

    genaiops up &            # API + UI
    python -m ui.screenshots --ui-url http://127.0.0.1:8501 --out docs/screenshots \
        --seed-api http://127.0.0.1:8000   # optional: demo /predict traffic first, so drift charts have data

Playwright drives the system's ``/usr/bin/chromium`` (never a downloaded browser).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION = "Qu'est-ce que le MLOps ?"
PAGES = {"predict": "Predict", "monitoring": "Monitoring", "prompts": "Prompts_and_eval"}


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A fresh page of the system Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_rendered(page: Any, timeout_ms: float = 60_000, quiet_checks: int = 3) -> None:
    """Streamlit has drawn the page: its script state has stayed ``notRunning`` for a few looks.

    A rerun starts a moment after an input changes, so one look is not enough: the state must hold
    for ``quiet_checks`` looks 300 ms apart (``data-test-script-state`` is set by Streamlit on stApp).
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    idle = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    deadline = time.monotonic() + timeout_ms / 1000
    quiet = 0
    while quiet < quiet_checks:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page at {page.url} was still running after {timeout_ms / 1000:g} s")
        quiet = quiet + 1 if idle.count() == 1 else 0
        page.wait_for_timeout(300)


def ask(page: Any, ui_url: str, question: str = QUESTION, timeout_ms: float = 240_000) -> dict[str, str]:
    """Ask in the chat and wait for the final answer and its sources; returns what the page shows."""
    page.goto(ui_url)
    wait_rendered(page)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    sources = page.get_by_test_id("stExpander").filter(has_text="Sources (")
    sources.first.wait_for(timeout=timeout_ms)
    sources.first.get_by_text("Sources (").click()
    page.get_by_test_id("stExpanderDetails").first.wait_for(timeout=10_000)
    answer = page.get_by_test_id("stChatMessage").last
    return {
        "answer": answer.get_by_test_id("stMarkdown").first.inner_text(),
        "sources": sources.first.inner_text(),
        "caption": answer.get_by_test_id("stCaptionContainer").first.inner_text(),
    }


def predict(page: Any, ui_url: str, timeout_ms: float = 60_000) -> str:
    """Submit the Predict form with its defaults; returns the prediction shown."""
    page.goto(f"{ui_url}/{PAGES['predict']}")
    wait_rendered(page)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").or_(
        page.get_by_test_id("stBaseButton-primaryFormSubmit")
    ).first.click()
    metric = page.get_by_test_id("stMetricValue").first
    metric.wait_for(timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=timeout_ms)
    return metric.inner_text()


def seed_predictions(api_url: str, windows: int = 4, size: int = 50, seed: int = 7) -> int:
    """Score ``windows * size`` synthetic records through the API, the later half shifted, so drift shows."""
    import random

    from ui.client import ApiClient

    client = ApiClient(api_url, timeout_s=60)
    fields = client.predict_schema()["fields"]
    rng = random.Random(seed)
    for window in range(windows):
        shift = window >= windows // 2
        records = [_record(fields, rng, shift) for _ in range(size)]
        for start in range(0, size, 25):
            client.predict(records[start : start + 25])
    client.close()
    return windows * size


def _record(fields: list[dict[str, Any]], rng: Any, shift: bool) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for field in fields:
        if field["type"] == "number":
            low, high = field.get("min") or 0.0, field.get("max") or 1.0
            value = rng.uniform(low, high)
            record[field["name"]] = round(value + (high - low) * 0.4 if shift else value, 2)
        else:
            categories = field.get("categories") or ["x"]
            record[field["name"]] = categories[0] if shift else rng.choice(categories)
    return record


def set_window(page: Any, size: int) -> None:
    """Type a window size into the Monitoring page's sidebar input."""
    box = page.get_by_label("Window size", exact=True).and_(page.get_by_test_id("stNumberInputField"))
    box.fill(str(size))
    box.press("Enter")
    wait_rendered(page)


def shoot(page: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(3000)  # data grids and charts draw after the script run ends
    page.screenshot(path=str(path), full_page=True)
    return path


def capture_all(ui_url: str, out_dir: Path, window: int | None = None) -> dict[str, Any]:
    """Chat (after a real answer), Predict (after a prediction), Monitoring and Prompts, one PNG each."""
    out_dir = Path(out_dir)
    seen: dict[str, Any] = {}
    with browser_page(1280, 1400) as page:  # tall: Streamlit scrolls inside the page, full_page cannot
        seen["chat"] = ask(page, ui_url)
        shoot(page, out_dir / "chat.png")
        seen["predict"] = predict(page, ui_url)
        shoot(page, out_dir / "predict.png")
        for name in ("monitoring", "prompts"):
            page.goto(f"{ui_url}/{PAGES[name]}")
            wait_rendered(page)
            if name == "monitoring" and window:
                set_window(page, window)
            seen[name] = page.get_by_test_id("stMain").inner_text()
            shoot(page, out_dir / f"{name}.png")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ui-url", default="http://127.0.0.1:8501")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--seed-api", help="First score demo traffic through this API URL (drift shows on Monitoring)")
    parser.add_argument("--window", type=int, default=50, help="Monitoring window size used with --seed-api")
    args = parser.parse_args()
    window = None
    if args.seed_api:
        print(f"scored {seed_predictions(args.seed_api, size=args.window)} demo records")
        window = args.window
    for name, text in capture_all(args.ui_url, args.out, window).items():
        print(f"{name}: {str(text)[:120]!r}")


if __name__ == "__main__":
    main()
