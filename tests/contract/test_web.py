"""The web page at ``GET /``, driven in a real headless Chromium (Debian ``chromium`` + Python Playwright).

One uvicorn server (in a background thread of this process) serves a private copy of the session's tiny catalog
(8 images + 1 video, see conftest); every test opens the page afresh. The page's answers are checked against the
API's own answers for the same query, so the page neither invents nor drops results.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; never ``playwright install``): skipped without it.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.catalogs import TinyCatalog
from helpers.media import make_shapes

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/styledex_web.png")
SCREENSHOT_EXPLAIN = Path("/tmp/styledex_web_explain.png")
DEFAULT_K = 12  # the page's initial k (index.html): more than the 8 other items, so every result shows
EXPLAIN_TIMEOUT_MS = 90_000  # style transfer on CPU: seconds, more on a loaded machine

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser test needs Debian chromium at /usr/bin/chromium (apt-get install chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test needs the playwright Python package")
expect = sync_api.expect


# Chromium does not hand multipart bodies with files to Playwright: record what the page's fetch() sends.
RECORD_FORMS = """
window.__forms = [];
const realFetch = window.fetch;
window.fetch = (url, options) => {
  if (options && options.body instanceof FormData) {
    const fields = {};
    for (const [key, value] of options.body.entries()) {
      fields[key] = value instanceof File ? {filename: value.name, size: value.size} : value;
    }
    window.__forms.push({url: String(url), method: options.method || 'GET', fields});
  }
  return realFetch(url, options);
};
"""


def last_form(page: Any) -> dict[str, Any]:
    """The fields of the last multipart form the page sent (files as {filename, size})."""
    forms = page.evaluate("window.__forms")
    assert forms, "the page sent no multipart form"
    return forms[-1]


# -- the server ---------------------------------------------------------------------------------------------
@dataclass
class Server:
    url: str
    catalog: TinyCatalog


@pytest.fixture(scope="module")
def server(tiny_catalog: TinyCatalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import uvicorn

    from styledex.config import load_config
    from styledex.serve.app import create_app

    directory = tmp_path_factory.mktemp("web") / "catalog"
    shutil.copytree(tiny_catalog.directory, directory)  # the session catalog stays read-only
    app = create_app(directory, config=load_config(tiny_catalog.config))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with another process
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive(), "the server thread died while starting"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", tiny_catalog)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def web(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh page on ``GET /``, with console errors and failed requests collected on ``page.problems``."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.add_init_script(RECORD_FORMS)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} {req.failure}"))
    page.problems = problems
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    try:
        yield page
    finally:
        context.close()


# -- helpers ------------------------------------------------------------------------------------------------
def api_json(page: Any, url: str, **kwargs: Any) -> Any:
    """The API's own answer (through the page's request context, outside the page's JS)."""
    resp = page.request.post(url, **kwargs) if "multipart" in kwargs else page.request.get(url, **kwargs)
    assert resp.ok, (url, resp.status, resp.text())
    return resp.json()


def card_ids(page: Any) -> list[int]:
    return page.locator("[data-testid=result-card]").evaluate_all("els => els.map(e => Number(e.dataset.id))")


def wait_results(page: Any, query: str, space: str) -> None:
    """Wait until the results grid shows the answer to ``query`` ("item:ID" or "file:NAME") in ``space``."""
    page.wait_for_function(
        """([query, space]) => {
             const r = document.getElementById('results');
             return r.dataset.query === query && r.dataset.space === space && !r.hasAttribute('aria-busy');
           }""",
        arg=[query, space],
    )


def assert_images_loaded(page: Any, selector: str, expected: int) -> None:
    """Every ``<img>`` under ``selector`` finished loading and decoded to a real picture (naturalWidth > 0)."""
    imgs = page.locator(f"{selector} img")
    expect(imgs).to_have_count(expected)
    page.wait_for_function("sel => [...document.querySelectorAll(sel + ' img')].every(i => i.complete)", arg=selector)
    widths = imgs.evaluate_all("els => els.map(i => [i.getAttribute('src'), i.naturalWidth, i.alt])")
    for src, width, alt in widths:
        assert width > 0, f"thumbnail {src} did not load"
        assert alt, f"thumbnail {src} has no alt text"


def click_item(page: Any, item_id: int, space: str) -> dict[str, Any]:
    """Click catalog item ``item_id``; return the /similar request's query parameters once results show."""
    with page.expect_request(re.compile(rf"/items/{item_id}/similar\?")) as request:
        page.locator(f"[data-testid=catalog-item][data-id='{item_id}']").click()
    wait_results(page, f"item:{item_id}", space)
    return query_params(request.value.url)


def query_params(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


# -- the tests ----------------------------------------------------------------------------------------------
def test_page_shows_catalog_size_and_thumbnails(web: Any, server: Server) -> None:
    health = api_json(web, "/health")
    listing = api_json(web, "/items?offset=0&limit=24")
    expect(web.get_by_test_id("item-count")).to_have_text(str(health["items"]))
    expect(web.locator("#catalog-size")).to_contain_text("items in the catalog")
    n = len(listing["items"])
    assert n == health["items"] == len(server.catalog.items) == 9
    ids = web.get_by_test_id("catalog-item").evaluate_all("els => els.map(e => Number(e.dataset.id))")
    assert ids == [item["id"] for item in listing["items"]]
    assert_images_loaded(web, "#catalog-grid", n)
    expect(web.get_by_test_id("page-info")).to_have_text(f"1–{n} of {listing['total']}")
    expect(web.get_by_test_id("error")).to_be_hidden()
    # Accessible basics: the file picker, the mode radios, the slider and k all have labels.
    for control in ("file-input", "mode-style", "mode-content", "mode-mix", "mix-weight", "k-input"):
        assert web.locator(f"label[for={control}]").count() == 1, control
    assert web.problems == []


def test_catalog_pages(browser: Any, server: Server) -> None:
    page = browser.new_page(base_url=server.url)
    try:
        page.goto("/?per_page=4")
        grid = page.get_by_test_id("catalog-item")
        expect(grid).to_have_count(4)
        expect(page.get_by_test_id("page-prev")).to_be_disabled()
        page.get_by_test_id("page-next").click()
        expect(page.get_by_test_id("page-info")).to_have_text("5–8 of 9")
        second = api_json(page, "/items?offset=4&limit=4")["items"]
        expect(grid.first).to_have_attribute("data-id", str(second[0]["id"]))
        assert grid.evaluate_all("els => els.map(e => Number(e.dataset.id))") == [i["id"] for i in second]
        page.get_by_test_id("page-next").click()
        expect(page.get_by_test_id("page-info")).to_have_text("9–9 of 9")
        expect(page.get_by_test_id("page-next")).to_be_disabled()
    finally:
        page.close()


def test_clicking_an_item_shows_its_style_matches(web: Any, server: Server) -> None:
    item = server.catalog.ids["A_restyled"]
    params = click_item(web, item, "style")
    assert params == {"space": "style", "k": str(DEFAULT_K)}
    expected = api_json(web, f"/items/{item}/similar?space=style&k={DEFAULT_K}")["results"]
    assert card_ids(web) == [r["id"] for r in expected]
    assert item not in card_ids(web)
    assert len(expected) == 8  # every other item
    # Scores as the API gives them, to 3 decimals; the video card names the frame that matched best.
    scores = web.get_by_test_id("score").all_inner_texts()
    assert scores == [f"{r['score']:.3f}" for r in expected]
    (video,) = [r for r in expected if r["kind"] == "video"]
    frame_time = web.locator(f"[data-testid=result-card][data-id='{video['id']}'] [data-testid=frame-time]")
    expect(frame_time).to_have_text(f"best frame at {video['time']:.2f} s")
    expect(web.get_by_test_id("query-name")).to_contain_text(f"item {item}")
    expect(web.locator(f"[data-testid=catalog-item][data-id='{item}']")).to_have_attribute("aria-pressed", "true")
    assert_images_loaded(web, "#results", len(expected))
    web.screenshot(path=str(SCREENSHOT), full_page=True)
    assert web.problems == []


def test_content_and_mix_change_the_request(web: Any, server: Server) -> None:
    item = server.catalog.ids["A_restyled"]  # A's content in B_restyled's style
    click_item(web, item, "style")

    # Content, chosen with the keyboard: the radio group is reachable and switches on a key press.
    with web.expect_request(re.compile(rf"/items/{item}/similar\?.*space=content")) as request:
        web.get_by_test_id("mode-style").focus()
        web.keyboard.press("ArrowRight")
    assert query_params(request.value.url)["space"] == "content"
    wait_results(web, f"item:{item}", "content")
    content = api_json(web, f"/items/{item}/similar?space=content&k={DEFAULT_K}")["results"]
    assert card_ids(web) == [r["id"] for r in content]
    order = card_ids(web)
    assert order.index(server.catalog.ids["A"]) < order.index(server.catalog.ids["B_restyled"])

    # The slider makes a mix request, style weight as set, content the rest.
    mix = "style:0.7,content:0.3"
    with web.expect_request(re.compile(rf"/items/{item}/similar\?")) as request:
        web.get_by_test_id("mix-weight").fill("0.7")
    assert query_params(request.value.url)["space"] == mix
    wait_results(web, f"item:{item}", mix)
    expect(web.get_by_test_id("mode-mix")).to_be_checked()
    expect(web.get_by_test_id("mix-weight-text")).to_have_text("style 0.7 · content 0.3")
    mixed = api_json(web, f"/items/{item}/similar", params={"space": mix, "k": DEFAULT_K})["results"]
    assert card_ids(web) == [r["id"] for r in mixed]
    assert web.get_by_test_id("score").all_inner_texts() == [f"{r['score']:.3f}" for r in mixed]

    # k: fewer results on request.
    with web.expect_request(re.compile(r"k=3")):
        web.get_by_test_id("k-input").fill("3")
        web.get_by_test_id("k-input").press("Enter")
    wait_results(web, f"item:{item}", mix)
    expect(web.get_by_test_id("result-card")).to_have_count(3)
    assert card_ids(web) == [r["id"] for r in mixed[:3]]

    # A catalog item can be picked with the keyboard too.
    other = server.catalog.ids["checker"]
    with web.expect_request(re.compile(rf"/items/{other}/similar\?")):
        web.locator(f"[data-testid=catalog-item][data-id='{other}']").focus()
        web.keyboard.press("Enter")
    wait_results(web, f"item:{other}", mix)
    assert web.problems == []


def check_a_box_and_see_its_results(
    web: Any, item: int, box: str, param: str, mode: str = "style"
) -> list[dict[str, Any]]:
    """Check the search option ``box`` for ``item`` in ``mode`` (style, content): the page asks with ``param=true``
    and shows what the API answers to that request (returned)."""
    click_item(web, item, "style")  # the page starts in style mode
    if mode != "style":
        with web.expect_request(re.compile(rf"/items/{item}/similar\?.*space={mode}")):
            web.locator(f"label[for=mode-{mode}]").click()
        wait_results(web, f"item:{item}", mode)
    with web.expect_request(re.compile(rf"/items/{item}/similar\?.*{param}=true")):
        web.get_by_test_id(box).check()
    wait_results(web, f"item:{item}", mode)
    params = {"space": mode, "k": DEFAULT_K, param: "true"}
    results = api_json(web, f"/items/{item}/similar", params=params)["results"]
    assert card_ids(web) == [r["id"] for r in results]
    return results


def test_the_fold_checkbox_asks_for_folded_results(web: Any, server: Server) -> None:
    folded = check_a_box_and_see_its_results(web, server.catalog.ids["A"], "collapse-input", "collapse")
    expect(web.get_by_test_id("duplicates")).to_have_count(sum(1 for r in folded if r["duplicates"]))
    assert web.problems == []


def test_the_same_subject_checkbox_asks_for_a_style_ranking_by_style_alone(web: Any, server: Server) -> None:
    item = server.catalog.ids["A"]
    plain = check_a_box_and_see_its_results(web, item, "same-subject-input", "same_subject")
    # By style alone: A's restyled copy (its subject in another look) is no longer lowered.
    lowered = api_json(web, f"/items/{item}/similar", params={"space": "style", "k": DEFAULT_K})["results"]
    restyled = server.catalog.ids["A_restyled"]
    assert [r["id"] for r in plain].index(restyled) < [r["id"] for r in lowered].index(restyled)
    assert web.problems == []


def test_the_same_look_checkbox_asks_for_a_content_ranking_by_content_alone(web: Any, server: Server) -> None:
    item = server.catalog.ids["A_restyled"]
    plain = check_a_box_and_see_its_results(web, item, "same-look-input", "same_look", mode="content")
    assert all(set(r["scores"]) == {"content"} for r in plain)  # no look cosine: ranked by content alone
    assert web.problems == []


def test_upload_searches_the_file(web: Any, server: Server, tmp_path: Path) -> None:
    query = make_shapes(tmp_path / "upload_query.png", seed=11)
    with web.expect_request(lambda r: r.method == "POST" and r.url.endswith("/search")) as request:
        web.get_by_test_id("file-input").set_input_files(str(query))
    assert request.value.headers["content-type"].startswith("multipart/form-data")
    form = last_form(web)
    assert form["fields"] == {
        "file": {"filename": "upload_query.png", "size": query.stat().st_size},
        "space": "style",
        "k": str(DEFAULT_K),
    }
    wait_results(web, "file:upload_query.png", "style")
    expected = api_json(
        web,
        "/search",
        multipart={
            "file": {"name": query.name, "mimeType": "image/png", "buffer": query.read_bytes()},
            "space": "style",
            "k": str(DEFAULT_K),
        },
    )["results"]
    assert card_ids(web) == [r["id"] for r in expected]
    assert len(expected) == 9  # an upload excludes nothing
    expect(web.get_by_test_id("query-name")).to_contain_text("upload_query.png")
    assert web.locator("#query-media img").evaluate("i => i.complete && i.naturalWidth > 0")
    assert_images_loaded(web, "#results", len(expected))
    assert web.problems == []


def _check_explain(page: Any, open_why: Any, what: str) -> None:
    """Click a "why?" button; the modal shows a loading indicator, then a loaded PNG (or the API's error)."""
    modal = page.get_by_test_id("explain-modal")
    with page.expect_response(lambda r: "/explain" in r.url, timeout=EXPLAIN_TIMEOUT_MS) as response:
        open_why()
        expect(modal).to_be_visible()
        # Explanations take seconds: the loading indicator shows while the request is in flight.
        assert page.get_by_test_id("explain-loading").is_visible()
    resp = response.value
    if resp.status != 200:
        detail = resp.json().get("detail") if "json" in (resp.headers.get("content-type") or "") else resp.text()
        error = page.get_by_test_id("explain-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text(str(resp.status))
        expect(page.get_by_test_id("explain-loading")).to_be_hidden()
        pytest.xfail(f"{what}: the explain route answered {resp.status} ({detail}); explain.py may not be ready")
    assert resp.headers["content-type"].startswith("image/png")
    image = page.get_by_test_id("explain-image")
    expect(image).to_be_visible(timeout=10_000)
    assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    magic = image.evaluate("async i => [...new Uint8Array(await (await fetch(i.src)).arrayBuffer()).slice(0, 8)]")
    assert bytes(magic) == b"\x89PNG\r\n\x1a\n"
    assert image.get_attribute("alt")
    expect(page.get_by_test_id("explain-loading")).to_be_hidden()
    expect(page.get_by_test_id("explain-error")).to_be_hidden()


def test_why_opens_the_explanation(web: Any, server: Server) -> None:
    item = server.catalog.ids["A"]
    click_item(web, item, "style")
    first = web.get_by_test_id("why-button").first
    match = int(web.get_by_test_id("result-card").first.get_attribute("data-id"))

    with web.expect_request(re.compile(r"/explain\?")) as request:
        _check_explain(web, first.click, "GET /explain")
    assert query_params(request.value.url) == {"query": str(item), "match": str(match), "space": "style"}
    web.screenshot(path=str(SCREENSHOT_EXPLAIN))
    # Keyboard: Escape closes the modal and gives the focus back to the button that opened it.
    web.keyboard.press("Escape")
    expect(web.get_by_test_id("explain-modal")).to_be_hidden()
    assert web.evaluate("document.activeElement.dataset.testid") == "why-button"
    assert web.problems == []


def test_why_on_an_upload_posts_the_file(web: Any, tmp_path: Path) -> None:
    query = make_shapes(tmp_path / "why_query.png", seed=12)
    with web.expect_response(lambda r: r.url.endswith("/search")):
        web.get_by_test_id("file-input").set_input_files(str(query))
    wait_results(web, "file:why_query.png", "style")
    web.locator("label[for=mode-content]").click()  # the explanation follows the mode
    wait_results(web, "file:why_query.png", "content")
    match = int(web.get_by_test_id("result-card").first.get_attribute("data-id"))
    with web.expect_request(lambda r: r.method == "POST" and r.url.endswith("/explain")):
        _check_explain(web, web.get_by_test_id("why-button").first.click, "POST /explain")
    form = last_form(web)
    assert form["url"] == "/explain"
    assert form["fields"] == {
        "file": {"filename": "why_query.png", "size": query.stat().st_size},
        "match": str(match),
        "space": "content",
    }
    web.get_by_test_id("explain-close").click()
    expect(web.get_by_test_id("explain-modal")).to_be_hidden()


def test_api_errors_are_shown(web: Any, server: Server, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image at all")
    with web.expect_response(lambda r: r.url.endswith("/search")) as response:
        web.get_by_test_id("file-input").set_input_files(str(broken))
    resp = response.value
    assert resp.status == 422
    detail = resp.json()["detail"]
    error = web.get_by_test_id("error-text")
    expect(error).to_be_visible()
    expect(error).to_contain_text("422")
    expect(error).to_contain_text(str(detail))
    expect(web.get_by_test_id("result-card")).to_have_count(0)
    expect(web.get_by_test_id("results-status")).to_contain_text("failed")

    # A search that works clears the message; a k out of range brings the server's reason back.
    item = server.catalog.ids["A"]
    click_item(web, item, "style")
    expect(web.get_by_test_id("error")).to_be_hidden()
    with web.expect_response(re.compile(rf"/items/{item}/similar\?.*k=0")) as response:
        web.get_by_test_id("k-input").fill("0")
        web.get_by_test_id("k-input").press("Enter")
    assert response.value.status == 422
    expect(error).to_be_visible()
    expect(error).to_contain_text("422")
    web.get_by_role("button", name="Dismiss the error message").click()
    expect(web.get_by_test_id("error")).to_be_hidden()
