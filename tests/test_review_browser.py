"""`asg-parse review` end to end in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium): open the page, change an existence, add a triplet by selecting report text with the mouse, accept with
the keyboard, and read the gold line written; the hostile report's markup stays text.

Skips when the [review] extra, Selenium, Chromium or chromedriver is missing. With ASG_REVIEW_SCREENSHOT=PATH it
also saves a screenshot of the page (docs/review.png is made this way)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the [review] extra is not installed (pip install -e '.[review]')")
pytest.importorskip("uvicorn", reason="the [review] extra is not installed (pip install -e '.[review]')")
pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")

from review_fixtures import HOSTILE, UNKNOWN_FINDING, UNKNOWN_PHRASE, items  # noqa: E402

CHROMIUM = os.environ.get("ASG_CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = os.environ.get("ASG_CHROMEDRIVER") or shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="no Chromium/chromedriver (apt-get install chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, asg_nlp):
    """The review app over the fixture reports, served by uvicorn on a free local port: (url, store)."""
    import uvicorn

    from asg_parse.review.app import create_app
    from asg_parse.review.store import ReviewStore

    store = ReviewStore(items(), tmp_path / "reviewed.jsonl", ontology_out=tmp_path / "additions", nlp=asg_nlp)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning",
                                        access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the review server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1680,1000", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except WebDriverException as exc:
        pytest.skip(f"Chromium does not start headless here: {exc.msg}")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, what: str, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition, message=f"timed out waiting for {what}")


def _rows(driver) -> list[dict]:
    """The triplet table as the page shows it."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#triplets tbody tr[data-tid]')].map(tr => ({
          region: tr.cells[0].querySelector('select').value, finding: tr.cells[1].textContent,
          existence: tr.cells[2].querySelector('select').value, text: tr.cells[4].textContent}));""")


def _drag_select(driver, phrase: str) -> None:
    """Select `phrase` in the report with the mouse: press before its first letter, release after its last."""
    from selenium.webdriver.common.action_chains import ActionChains

    box = driver.execute_script("""
        const phrase = arguments[0];
        const walker = document.createTreeWalker(document.getElementById('report'), NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const i = n.data.indexOf(phrase);
          if (i < 0) continue;
          const r = document.createRange();
          r.setStart(n, i); r.setEnd(n, i + phrase.length);
          const b = r.getBoundingClientRect();
          return {left: b.left, right: b.right, y: (b.top + b.bottom) / 2};
        }
        return null;""", phrase)
    assert box, f"'{phrase}' is not on the page"
    body = driver.find_element("tag name", "body")
    origin = driver.execute_script("const b = document.body.getBoundingClientRect();"
                                   "return {x: b.left + b.width / 2, y: b.top + b.height / 2};")
    ActionChains(driver) \
        .move_to_element_with_offset(body, int(box["left"] + 1 - origin["x"]), int(box["y"] - origin["y"])) \
        .click_and_hold() \
        .move_to_element_with_offset(body, int(box["right"] - 1 - origin["x"]), int(box["y"] - origin["y"])) \
        .release().perform()


def _keys(driver, *keys: str) -> None:
    """Type keys at the page (the focused element is a button or the body: the shortcuts apply)."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("document.activeElement && document.activeElement.blur()")
    ActionChains(driver).send_keys(*keys).perform()


def test_review_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url, store = server
    out = tmp_path / "reviewed.jsonl"
    browser.get(url + "/")  # opens on the first report, its triplets shown at once
    _wait(browser, lambda d: len(_rows(d)) == 5, "the triplets of calm-1")
    assert browser.find_element(By.ID, "report-title").text == "Report calm-1"
    _keys(browser, "a")  # accepted as parsed: the page moves on to the next report to do
    _wait(browser, lambda d: d.find_element(By.ID, "report-title").text == "Report nodule-2", "the next report")
    _wait(browser, lambda d: "triplet F1 1.000" in d.find_element(By.ID, "agreement").text, "the agreement")
    browser.find_element(By.XPATH, "//ol[@id='queue']/li[span[text()='cyst-3']]").click()
    _wait(browser, lambda d: d.find_element(By.ID, "report-title").text == "Report cyst-3", "cyst-3")
    _wait(browser, lambda d: len(_rows(d)) == 2, "the triplets of cyst-3")
    assert browser.find_element(By.ID, "report-title").text == "Report cyst-3"
    assert {(r["finding"], r["existence"]) for r in _rows(browser)} == {("pneumothorax", "absent")}

    # change an existence from the table
    Select(browser.find_element(By.CSS_SELECTOR, "#triplets tbody tr select[aria-label=existence]")) \
        .select_by_value("uncertain")
    _wait(browser, lambda d: {r["existence"] for r in _rows(d)} == {"uncertain"}, "the existence change")

    # add a triplet by selecting the phrase in the report text
    _drag_select(browser, UNKNOWN_PHRASE)
    _wait(browser, lambda d: d.find_element(By.ID, "add-form").is_displayed(), "the add form")
    assert browser.find_element(By.ID, "add-text").text == UNKNOWN_PHRASE
    Select(browser.find_element(By.ID, "add-finding")).select_by_value(UNKNOWN_FINDING)
    Select(browser.find_element(By.ID, "add-regions")).select_by_value("right upper lung zone")
    Select(browser.find_element(By.ID, "add-existence")).select_by_value("present")
    # the re-parse preview of an ontology addition shows before anything is saved
    browser.find_element(By.ID, "form-button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "preview").is_displayed(), "the re-parse preview")
    preview = browser.find_element(By.ID, "preview-triplets").text
    assert UNKNOWN_FINDING in preview and UNKNOWN_PHRASE in preview
    if os.environ.get("ASG_REVIEW_SCREENSHOT"):
        browser.save_screenshot(os.environ["ASG_REVIEW_SCREENSHOT"])

    browser.find_element(By.ID, "add-button").click()
    _wait(browser, lambda d: any(r["text"] == UNKNOWN_PHRASE for r in _rows(d)), "the added triplet")
    marked = browser.find_element(By.XPATH, f"//div[@id='report']//span[text()='{UNKNOWN_PHRASE}']")
    assert "m-present" in marked.get_attribute("class")  # coloured as a present mention at once
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1  # nothing saved before the accept

    # accept with the keyboard shortcut: the gold line is written at once
    _keys(browser, "a")
    _wait(browser, lambda d: len(out.read_text(encoding="utf-8").splitlines()) == 2, "the gold line")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["review"]["state"] for x in lines] == ["accepted", "corrected"]
    gold = json.loads(lines[1])
    assert gold["id"] == "cyst-3" and gold["review"]["state"] == "corrected"
    got = {(t["finding"], t["region"], t["existence"], t["text"]) for t in gold["triplets"]}
    assert got == {("pneumothorax", "right lung", "uncertain", "pneumothorax"),
                   ("pneumothorax", "left lung", "uncertain", "pneumothorax"),
                   (UNKNOWN_FINDING, "right upper lung zone", "present", UNKNOWN_PHRASE)}
    start = gold["text"].index(UNKNOWN_PHRASE)
    assert next(t for t in gold["triplets"] if t["finding"] == UNKNOWN_FINDING)["start"] == start

    # the page moves on to the next report to do: the hostile one, whose markup is shown as text
    _wait(browser, lambda d: d.find_element(By.ID, "report-title").text == "Report hostile-4", "the next report")
    assert browser.execute_script("return window.pwned === undefined")
    shown = browser.find_element(By.ID, "report").text
    assert "<script>window." in shown and "pwned = 1</script>" in shown  # the parser splits at "window."
    assert '</textarea><img src=x onerror="window.' in shown
    assert not browser.find_elements(By.CSS_SELECTOR, "#report img, #report script")
    _wait(browser, lambda d: "triplet F1" in d.find_element(By.ID, "agreement").text, "the agreement header")
    queue = {li.find_element(By.CLASS_NAME, "qid").text: li.find_element(By.CLASS_NAME, "state").text
             for li in browser.find_elements(By.CSS_SELECTOR, "#queue li")}
    assert queue == {"calm-1": "reviewed", "nodule-2": "to do", "cyst-3": "reviewed", "hostile-4": "to do"}
    assert HOSTILE not in store.out.read_text(encoding="utf-8")  # only the accepted report was saved

    # j / k move through the queue
    _keys(browser, "k")
    _wait(browser, lambda d: d.find_element(By.ID, "report-title").text == "Report cyst-3", "the previous report")
    _keys(browser, Keys.ARROW_DOWN, "2")
    _wait(browser, lambda d: _rows(d) and _rows(d)[0]["existence"] == "absent", "the shortcut existence change")
