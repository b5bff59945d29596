"""The composer in a real browser: pick a preset, type a title and an opening, compose, and get
engraved notes and a MIDI file. Needs Chromium and chromedriver (CI installs them).

Leaves a screenshot in tests/artifacts/composer.png and assets/screenshot.png (for the README).
"""
import shutil
import time
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, app_checkpoint, running_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
COMPOSE_TIMEOUT = 120

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason="needs /usr/bin/chromium and /usr/bin/chromedriver "
                              "(apt install chromium chromium-driver)"),
]


@pytest.fixture(scope="module")
def app_url(request, tmp_path_factory):
    with running_app(app_checkpoint(request), tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1200", "--autoplay-policy=no-user-gesture-required",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float, what: str):
    """Poll `condition` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = condition()
        except Exception:
            found = None
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_compose_a_jig_in_the_browser(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url)
    jig = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#tune-type input[value='jig']"), 60, "the page")
    browser.find_element(By.CSS_SELECTOR, "#tune-type input[value='reel']").click()
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#meter input").get_attribute("value") == "4/4",
             10, "the reel preset to fill in the meter")
    jig.click()
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#meter input").get_attribute("value") == "6/8",
             10, "the jig preset to fill in the meter")

    browser.find_element(By.CSS_SELECTOR, "#title textarea").send_keys("The Browser Jig")
    browser.find_element(By.CSS_SELECTOR, "#opening textarea").send_keys("A|dAF DFA|dfe dcB|")
    browser.find_element(By.CSS_SELECTOR, "#compose").click()

    notes = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#notation svg g.note"),
                     COMPOSE_TIMEOUT, "engraved notes in the notation panel")
    assert len(notes) > 3
    assert "The Browser Jig" in browser.find_element(By.CSS_SELECTOR, "#notation").text

    browser.find_element(By.CSS_SELECTOR, "#downloads-tab-button").click()
    midi_link = wait_for(lambda: [a for a in browser.find_elements(By.CSS_SELECTOR, "#downloads a")
                                  if (a.get_attribute("href") or "").endswith(".mid")],
                         30, "a MIDI download link")[0]
    midi = httpx.get(midi_link.get_attribute("href"), timeout=30)
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"

    abc = browser.find_element(By.CSS_SELECTOR, "#abc textarea").get_attribute("value")
    assert abc.startswith("X:1\nT:The Browser Jig\nM:6/8\nL:1/8\n")
    assert "A|dAF DFA|dfe dcB|" in abc

    # Playing the audio lights up the engraved notes as they sound.
    browser.find_element(By.CSS_SELECTOR, "#abc-tab-button").click()
    browser.execute_script("document.querySelector('#audio audio').play()")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#notation g.note.playing"), 20,
             "a highlighted note while the audio plays")
    time.sleep(1.5)
    browser.execute_script("document.querySelector('#audio audio').pause()")
    save_screenshot(browser)


def test_a_bad_field_is_named_beside_it(browser, app_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(app_url)
    key = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#key input"), 60, "the page")
    key.send_keys(Keys.CONTROL, "a")
    key.send_keys("Xyz", Keys.TAB)
    browser.find_element(By.CSS_SELECTOR, "#compose").click()
    message = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#key .validation-error").text, 20,
                       "the key field's error message")
    assert message.startswith("key:") and "Xyz" in message
    assert "Traceback" not in browser.page_source


def save_screenshot(browser):
    """Notation and controls at the top of the page, for the test artifacts and the README."""
    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.5)
    shot = ROOT / "tests" / "artifacts" / "composer.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    shutil.copyfile(shot, ROOT / "assets" / "screenshot.png")
