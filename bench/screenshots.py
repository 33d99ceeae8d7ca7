"""Drive the running UI in Debian's headless Chromium: ask a question, predict, and save a screenshot per page.

Used by the browser test (tests/ui/test_e2e_browser.py) and by hand to refresh the README images::

    genaiops prompts push && genaiops prompts promote rag_answer 1 --alias production
    genaiops eval rag --limit 2            # an eval run per prompt version you want on the charts
    genaiops up &                          # API + UI
    python -m bench.screenshots --ui-url http://127.0.0.1:8501 --out docs/screenshots \
        --seed-api http://127.0.0.1:8000   # optional: demo /predict and /ask traffic first, so the charts have data

The seeding goes through the API only (like any client): ``seed_predictions`` scores synthetic
records, the later windows shifted; ``seed_asks`` asks in-scope questions then off-topic ones
(refused before the LLM) with some thumbs up / down. Playwright drives the system's
``/usr/bin/chromium`` (never a downloaded browser).
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


def seed_predictions(api_url: str, windows: int = 4, size: int = 50) -> int:
    """Score ``windows * size`` penguins through the API with the traffic simulator (``bench.traffic``):
    the first half of the windows drawn from the training data, the rest with longer bills and flippers
    and heavier bodies, so the drift charts show calm windows, then drifted ones."""
    import httpx

    from bench.traffic import penguins, send_predictions

    calm = windows // 2
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for window in range(windows):
            frame = penguins(size, seed=window, shifted=window >= calm)
            send_predictions(client, frame, f"demo-{window}", batch=25)
    return windows * size


def seed_asks(api_url: str, window: int = 10) -> dict[str, int]:
    """A window of in-scope questions (answered by the LLM, half rated up), then a window of off-topic ones
    (refused before the LLM, half rated down): the RAG monitor's reference, then a regression to show."""
    from bench.traffic import golden_questions
    from ui.client import ApiClient

    client = ApiClient(api_url, timeout_s=60, ask_timeout_s=600)
    modes: dict[str, int] = {}
    try:
        for kind, rating in (("in_scope", "up"), ("out_of_scope", "down")):
            questions = golden_questions(kind)
            for n, question in enumerate((questions * (window // len(questions) + 1))[:window]):
                answer = client.ask(question)
                modes[answer["mode"]] = modes.get(answer["mode"], 0) + 1
                if n % 2 == 0:
                    client.feedback(answer["request_id"], rating)
    finally:
        client.close()
    return modes


def set_window(page: Any, label: str, size: int) -> None:
    """Type a window size into one of the Monitoring page's sidebar inputs ("Predictions per window"...)."""
    box = page.get_by_label(label, exact=True).and_(page.get_by_test_id("stNumberInputField"))
    box.fill(str(size))
    box.press("Enter")
    box.blur()  # no focus ring in the screenshot
    wait_rendered(page)


CONTENT_HEIGHT_JS = """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
    '[data-testid="stMainBlockContainer"]'].map(s => document.querySelector(s)?.scrollHeight || 0))"""


def fit_height(page: Any, min_height: int = 1400, max_height: int = 6000) -> None:
    """Grow the viewport to the page's content: Streamlit scrolls inside its own container, so a
    ``full_page`` screenshot alone would cut a long page (Monitoring) at the window's height."""
    height = int(page.evaluate(CONTENT_HEIGHT_JS)) + 80
    width = page.viewport_size["width"] if page.viewport_size else 1280
    page.set_viewport_size({"width": width, "height": max(min_height, min(height, max_height))})
    wait_rendered(page)


def shoot(page: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(3000)  # data grids and charts draw after the script run ends
    fit_height(page)
    page.wait_for_timeout(1500)  # charts lay out again at the new size
    page.screenshot(path=str(path), full_page=True)
    width = page.viewport_size["width"] if page.viewport_size else 1280
    page.set_viewport_size({"width": width, "height": 1400})  # the next page starts from the usual window
    return path


def capture_all(ui_url: str, out_dir: Path, window: int | None = None, rag_window: int | None = None) -> dict[str, Any]:
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
                set_window(page, "Predictions per window", window)
            if name == "monitoring" and rag_window:
                set_window(page, "Questions per window", rag_window)
            seen[name] = page.get_by_test_id("stMain").inner_text()
            shoot(page, out_dir / f"{name}.png")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ui-url", default="http://127.0.0.1:8501")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--seed-api", help="First score demo traffic through this API URL (drift shows on Monitoring)")
    parser.add_argument("--window", type=int, default=50, help="Predictions per window, used with --seed-api")
    parser.add_argument("--rag-window", type=int, default=10, help="Questions per window, used with --seed-api")
    args = parser.parse_args()
    window = rag_window = None
    if args.seed_api:
        print(f"scored {seed_predictions(args.seed_api, size=args.window)} demo records")
        print(f"asked {seed_asks(args.seed_api, window=args.rag_window)} (answers per mode)")
        window, rag_window = args.window, args.rag_window
    for name, text in capture_all(args.ui_url, args.out, window, rag_window).items():
        print(f"{name}: {str(text)[:120]!r}")


if __name__ == "__main__":
    main()
