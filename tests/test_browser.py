"""The composer in a real browser (Chromium), on a desktop window (1400x1800) and a phone screen
(390x844): what a musician types, clicks, reads and downloads. Needs Chromium and chromedriver
(CI installs them).

Leaves screenshots in tests/artifacts/ (composer.png, dark.png, laptop.png, phone.png); the README's
assets/screenshot.png is copied from composer.png by hand when the page changes.
"""
import io
import wave
from pathlib import Path

import httpx
import pytest

from abcgen.tune_types import TUNE_TYPES
import conftest
from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Waits end as soon as what they wait for happens; the limits are generous so that a busy machine
# only makes a test slower, never wrong.
UI_TIMEOUT = 60           # the page reacting in itself (a preset filling in, a tab opening)
WORK_TIMEOUT = 120        # the server's work for a page event (render, play, a link)
COMPOSE_TIMEOUT = 240     # the model writing, maybe after another test's compose
PHONE = (390, 844)
TUNE = "X:1\nT:Browser Tune\nM:6/8\nL:1/8\nQ:3/8=116\nK:D\n|:dAF DFA|dfe dcB|AFA dfa|gfe d3:|\n"
BROKEN_BAR = "X:1\nT:Broken\nM:6/8\nL:1/8\nK:D\ndAF DFA|dfe dcB d|AFA dfa|gfe d3|]\n"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason="needs /usr/bin/chromium and /usr/bin/chromedriver "
                              "(apt install chromium chromium-driver)"),
]


@pytest.fixture(scope="module")
def app_url(plain_app):
    return plain_app.url


def chromium(profile: Path, size=(1400, 1800), phone=False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--window-size={max(size[0], 500)},{size[1]}",
                "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    if phone:  # Chromium's window is at least 500 px wide; the phone is emulated
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": size[0], "height": size[1], "deviceScaleFactor": 2, "mobile": True})
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


@pytest.fixture
def own_browser(tmp_path):
    """A browser of the test's own, for tests that reload or navigate: after the tempo tests have
    played audio, the module's shared browser sometimes never finishes loading the next page."""
    driver = chromium(tmp_path / "profile")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("phone"), PHONE, phone=True)
    yield driver
    driver.quit()


@pytest.fixture(params=["desktop", "phone"])
def screen(request, browser, phone):
    return browser if request.param == "desktop" else phone


def wait_for(condition, timeout: float, what: str):
    """conftest's wait, looking at the page every 0.2 s; an element that the page redraws while it is
    read (stale, or not there yet) counts as not yet."""
    return conftest.wait_for(condition, timeout, what, ignoring=Exception, poll=0.2)


# --------------------------------------------------------------------------- helpers

def find(b, css):
    from selenium.webdriver.common.by import By
    return b.find_element(By.CSS_SELECTOR, css)


def finds(b, css):
    from selenium.webdriver.common.by import By
    return b.find_elements(By.CSS_SELECTOR, css)


# The page's load events (the history kept in the browser, a link's settings) have answered: each
# event joins the queue, and its answer comes on a stream that the page closes once no event is left
# waiting, so the last stream has ended after the last join.
LOADED = """
    const entries = performance.getEntriesByType('resource');
    const last = (part) => Math.max(-1, ...entries.filter(e => e.name.includes(part)).map(e => e.responseEnd));
    return last('/queue/join') >= 0 && last('/queue/data') >= last('/queue/join');"""


def open_page(b, url):
    b.get(url)
    wait_for(lambda: find(b, "#compose") and b.execute_script("return !!window.abcgen"), WORK_TIMEOUT, "the page")
    wait_for(lambda: b.execute_script(LOADED), WORK_TIMEOUT, "the page's load events to answer")


def type_into(b, css, text, *keys):
    from selenium.webdriver.common.keys import Keys
    el = find(b, css)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(text, *keys)
    return el


def paste(b, css, text):
    """Put text in a field at once, as a paste does (typing thousands of characters is slow)."""
    b.execute_script("const el = document.querySelector(arguments[0]); el.value = arguments[1];"
                     "el.dispatchEvent(new Event('input', {bubbles: true}));", css, text)


def value(b, css):
    return find(b, css).get_attribute("value")


def status(b) -> str:
    """The message line's text ("" while there is none)."""
    return " ".join(el.text for el in finds(b, "#status .status"))


def click(b, css):
    b.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", css)
    find(b, css).click()


def render(b, abc, expect="tune"):
    """On a fresh page, put a tune in the ABC box and press Render; wait for the message line."""
    click(b, "#abc-tab-button")
    paste(b, "#abc textarea", abc)
    click(b, "#render")
    wait_for(lambda: expect in status(b), WORK_TIMEOUT, f"the message line to mention {expect!r}")


def compose(b, timeout=COMPOSE_TIMEOUT):
    """On a fresh page, press Compose and wait for the tune."""
    click(b, "#compose")
    wait_for(lambda: "valid" in status(b).lower() and finds(b, "#notation svg"), timeout, "a composed tune")


def rect(b, css):
    return b.execute_script("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                            "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};", css)


def midi_tempo_and_end(data: bytes) -> tuple[float, float]:
    """(quarter notes a minute, seconds until the last note ends) of a MIDI file."""
    from music21 import midi
    mf = midi.MidiFile()
    mf.readstr(data)
    bpm, end = None, 0
    for track in mf.tracks:
        tick = 0
        for event in track.events:
            if isinstance(event, midi.DeltaTime):
                tick += event.time
            elif event.type == midi.MetaEvents.SET_TEMPO:
                bpm = bpm or 60e6 / int.from_bytes(event.data, "big")
            elif event.isNoteOff() or (event.isNoteOn() and event.velocity == 0):
                end = max(end, tick)
    return bpm, end / mf.ticksPerQuarterNote * 60 / bpm


def audio_src(b) -> str | None:
    src = b.execute_script("return document.querySelector('#audio audio')?.src") or ""
    return src if src.endswith(".wav") else None


def downloads(b, ending):
    click(b, "#downloads-tab-button")
    return wait_for(lambda: [a.get_attribute("href") for a in finds(b, "#downloads a")
                             if (a.get_attribute("href") or "").endswith(ending)], UI_TIMEOUT, f"a {ending} download")


# --------------------------------------------------------------------------- composing

def test_compose_a_jig_in_the_browser(browser, app_url):
    b = browser
    open_page(b, app_url)
    click(b, "#tune-type input[value='reel']")
    wait_for(lambda: value(b, "#meter input") == "4/4", UI_TIMEOUT, "the reel preset to fill in the meter")
    click(b, "#tune-type input[value='jig']")
    wait_for(lambda: value(b, "#meter input") == "6/8", UI_TIMEOUT, "the jig preset to fill in the meter")

    type_into(b, "#title textarea", "The Browser Jig")
    type_into(b, "#opening textarea", "A|dAF DFA|dfe dcB|")
    compose(b)
    notes = finds(b, "#notation svg g.note")
    assert len(notes) > 3
    assert "The Browser Jig" in find(b, "#notation").text

    abc = value(b, "#abc textarea")
    assert abc.startswith("X:1\nT:The Browser Jig\nR:jig\nM:6/8\nL:1/8\nQ:3/8=116\n")
    assert "A|dAF DFA|dfe dcB|" in abc
    # A jig's tempo is counted in dotted quarters: 116, not 174 quarter notes.
    assert value(b, "#playback-tempo input[type=number]") == "116"
    assert "dotted quarters" in find(b, "#playback-tempo").text

    midi = httpx.get(downloads(b, ".mid")[0], timeout=30)
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"
    # Audio is made when asked for: no WAV among the files until Play is pressed.
    assert not [a for a in finds(b, "#downloads a") if (a.get_attribute("href") or "").endswith(".wav")]

    click(b, "#play")
    wait_for(lambda: audio_src(b), WORK_TIMEOUT, "the audio after Play")
    b.execute_script("document.querySelector('#audio audio').play()")
    wait_for(lambda: finds(b, "#notation g.note.playing"), UI_TIMEOUT, "a highlighted note while the audio plays")
    b.execute_script("document.querySelector('#audio audio').pause()")
    save_screenshot(b)


def test_candidates_are_labelled_so_they_can_be_told_apart(browser, app_url):
    b = browser
    open_page(b, app_url)
    click(b, "#sampling button, #sampling .label-wrap")
    # The accordion draws its controls after the click: on a loaded machine, not at once.
    wait_for(lambda: finds(b, "#num input[type=number]"), UI_TIMEOUT, "the sampling controls")
    type_into(b, "#num input[type=number]", "3", "\t")
    compose(b)
    labels = wait_for(lambda: [el.text for el in finds(b, "#candidates label")], UI_TIMEOUT, "the candidates")
    assert len(labels) == 3
    assert len(set(labels)) == 3, labels
    assert all("bars" in label and "ends on" in label for label in labels), labels


def test_typing_a_key_name_picks_that_key(browser, app_url):
    from selenium.webdriver.common.keys import Keys
    b = browser
    open_page(b, app_url)
    for typed in ["A", "Bm", "Dmix"]:
        type_into(b, "#key input", typed, Keys.ENTER)
        wait_for(lambda: not [ul for ul in finds(b, "ul.option-list") if ul.is_displayed()], UI_TIMEOUT,
                 "the list of keys to close on Enter")
        assert value(b, "#key input") == typed


def test_tune_types_come_from_the_library(browser, app_url):
    b = browser
    open_page(b, app_url)
    shown = [el.get_attribute("value") for el in finds(b, "#tune-type input[type=radio]")]
    assert shown == list(TUNE_TYPES)
    click(b, "#tune-type input[value='slip jig']")
    kind = TUNE_TYPES["slip jig"]
    wait_for(lambda: value(b, "#meter input") == kind.meter, UI_TIMEOUT, "the slip jig's meter")
    assert value(b, "#tempo textarea") == kind.tempo
    assert value(b, "#form input") == kind.form


# --------------------------------------------------------------------------- messages

@pytest.mark.parametrize("field, typed, label, hint", [
    ("#meter input", "7/0", "M: meter", "like 4/4"),
    ("#key input", "H", "K: key", "Dmix"),
])
def test_field_errors_are_shown_above_the_tune_covering_nothing(screen, app_url, field, typed, label, hint):
    from selenium.webdriver.common.keys import Keys
    b = screen
    open_page(b, app_url)
    type_into(b, field, typed, Keys.TAB)
    click(b, "#compose")
    message = wait_for(lambda: status(b), UI_TIMEOUT, "the message line")
    assert message.startswith(label) and typed in message and hint in message, message
    assert not finds(b, ".validation-error")          # nothing laid over the fields
    box = find(b, "#status .status")
    assert b.execute_script("const e = arguments[0]; return e.scrollWidth <= e.clientWidth + 1 && "
                            "e.scrollHeight <= e.clientHeight + 1", box), "the message is cut off"
    b.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    covered = b.execute_script("""
        const m = arguments[0].getBoundingClientRect();
        return [...document.querySelectorAll('#inputs input, #inputs textarea, #inputs button')]
          .filter(e => { const r = e.getBoundingClientRect();
                         return r.width && r.left < m.right && r.right > m.left && r.top < m.bottom && r.bottom > m.top; })
          .map(e => e.outerHTML.slice(0, 80));""", box)
    assert covered == []


def test_a_long_opening_is_refused_by_name_not_cut(browser, app_url):
    b = browser
    open_page(b, app_url)
    paste(b, "#opening textarea", "dAF " * 1250)
    click(b, "#compose")
    message = wait_for(lambda: status(b), UI_TIMEOUT, "the message line")
    assert message.startswith("Opening") and "5000" in message.replace(",", "") and "1000" in message.replace(",", "")
    assert len(value(b, "#opening textarea")) == 5000


def test_a_broken_bar_is_named_on_the_main_view(browser, app_url):
    b = browser
    open_page(b, app_url)
    render(b, BROKEN_BAR, expect="not valid")
    message = status(b)
    assert "bar 2" in message and "7 eighths" in message, message
    assert finds(b, "#notation svg")  # the tune is still engraved, as written


def test_messages_speak_of_the_tune_not_of_the_software(browser, app_url):
    b = browser
    open_page(b, app_url)
    render(b, TUNE.replace("|:dAF DFA|", "|:dAF [DFA|"), expect="not valid")
    click(b, "#report-tab-button")
    text = status(b) + value(b, "#report textarea")
    assert "chord" in text
    for internal in ("Exception", "music21", "ABCHandler", "Traceback"):
        assert internal not in text, text


# --------------------------------------------------------------------------- tempo

def test_tempo_counts_in_the_beat_and_notation_midi_and_audio_follow_it(browser, app_url):
    b = browser
    open_page(b, app_url)
    render(b, TUNE)
    assert value(b, "#playback-tempo input[type=number]") == "116"
    type_into(b, "#playback-tempo input[type=number]", "90", "\n")
    click(b, "#rerender")
    mark = lambda: " ".join(find(b, "#notation g.tempo").text.split())  # noqa: E731
    wait_for(lambda: "Q:3/8=90\n" in value(b, "#abc textarea") and mark().endswith("= 90"),
             60, "the new tempo in the ABC and the sheet music")
    bpm, midi_seconds = midi_tempo_and_end(httpx.get(downloads(b, ".mid")[0], timeout=30).content)
    assert bpm == pytest.approx(135, abs=0.5)   # 90 dotted quarters are 135 quarter notes
    click(b, "#play")
    src = wait_for(lambda: audio_src(b), WORK_TIMEOUT, "the audio")
    with wave.open(io.BytesIO(httpx.get(src, timeout=30).content)) as w:
        wav_seconds = w.getnframes() / w.getframerate()
    assert wav_seconds == pytest.approx(midi_seconds, abs=0.5)


@pytest.mark.parametrize("q, shown", [("1/4=500", "400"), ("1/4=20", "20")])
def test_a_tempo_beyond_the_control_is_clamped_and_said(browser, app_url, q, shown):
    b = browser
    open_page(b, app_url)
    render(b, TUNE.replace("Q:3/8=116", f"Q:{q}"))
    assert value(b, "#playback-tempo input[type=number]") == shown
    if q.endswith("500"):
        assert "outside what the tempo control offers" in status(b)
    click(b, "#rerender")
    wait_for(lambda: f"Q:1/4={shown}\n" in value(b, "#abc textarea") and "Valid tune" in status(b)
             and "outside" not in status(b), WORK_TIMEOUT, "the clamped tempo applied")


# --------------------------------------------------------------------------- history and links

def test_history_survives_a_reload_and_downloads_as_a_tune_book(own_browser, app_url):
    from selenium.webdriver.common.keys import Keys
    b = own_browser
    open_page(b, app_url)
    type_into(b, "#title textarea", "Kept Across Reloads")
    compose(b)
    b.refresh()
    open_page(b, app_url)
    click(b, "#history-tab-button")
    click(b, "#history input")
    wait_for(lambda: any("Kept Across Reloads" in (o.get_attribute("aria-label") or "")
                         for o in finds(b, "[role=option]")), 20, "the tune in the history after a reload")
    find(b, "#history input").send_keys(Keys.ESCAPE)   # close the list before pressing a button below it
    click(b, "#tune-book")
    link = wait_for(lambda: [a.get_attribute("href") for a in finds(b, "#tune-book-file a")
                             if (a.get_attribute("href") or "").endswith(".abc")], UI_TIMEOUT, "the tune book")[0]
    book = httpx.get(link, timeout=30).text
    assert "T:Kept Across Reloads" in book and book.startswith("X:1")


def test_a_share_link_brings_the_tune_back_in_a_fresh_browser(own_browser, app_url, tmp_path):
    b = own_browser
    open_page(b, app_url)
    type_into(b, "#title textarea", "Shared Settings")
    type_into(b, "#tempo textarea", "3/8=100")
    render(b, TUNE)
    click(b, "#share")
    link = wait_for(lambda: "#tune=" in (value(b, "#share-link textarea") or "") and value(b, "#share-link textarea"),
                    30, "the link")
    assert link.startswith(app_url)
    fresh = chromium(tmp_path / "fresh")
    try:
        fresh.get(link)
        wait_for(lambda: value(fresh, "#abc textarea") == TUNE, WORK_TIMEOUT, "the shared tune in a fresh browser")
        assert value(fresh, "#title textarea") == "Shared Settings"
        assert value(fresh, "#tempo textarea") == "3/8=100"
        wait_for(lambda: finds(fresh, "#notation svg g.note"), WORK_TIMEOUT, "the shared tune engraved")
    finally:
        fresh.quit()


# --------------------------------------------------------------------------- phone

def test_on_a_phone_the_tune_comes_first_and_is_readable(phone, app_url):
    b = phone
    open_page(b, app_url)
    assert rect(b, "#outputs")["top"] < rect(b, "#inputs")["top"]
    type_into(b, "#opening textarea", "A|dAF DFA|dfe dcB|")
    click(b, "#compose")
    wait_for(lambda: -2 <= rect(b, "#status")["top"] < PHONE[1] / 2, UI_TIMEOUT, "the result in view after Compose")
    wait_for(lambda: finds(b, "#notation svg g.note"), COMPOSE_TIMEOUT, "engraved notes")
    staff = b.execute_script("""
        const lines = [...document.querySelector('#notation g.staff').querySelectorAll(':scope > path')]
          .map(p => p.getBoundingClientRect());
        return Math.max(...lines.map(r => r.bottom)) - Math.min(...lines.map(r => r.top));""")
    assert staff >= 30, f"staff {staff:.1f} px tall"
    assert b.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]


def test_on_a_phone_the_meter_is_not_covered_by_its_arrow(phone, app_url):
    b = phone
    open_page(b, app_url)
    assert value(b, "#meter input") == "6/8"
    text_right, arrow_left = b.execute_script("""
        const input = document.querySelector('#meter input');
        const style = getComputedStyle(input);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = style.font;
        const r = input.getBoundingClientRect();
        const textRight = r.left + parseFloat(style.paddingLeft) + ctx.measureText(input.value).width;
        return [textRight, document.querySelector('#meter .icon-wrap').getBoundingClientRect().left];""")
    assert text_right <= arrow_left, (text_right, arrow_left)


def save_screenshot(b):
    """Notation and controls at the top of the page, for the test artifacts and the README."""
    b.execute_script("window.scrollTo(0, 0)")
    wait_for(lambda: b.execute_script("return window.scrollY") == 0, UI_TIMEOUT, "the page scrolled to the top")
    shot = ROOT / "tests" / "artifacts" / "composer.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    b.save_screenshot(str(shot))



def test_the_flute_is_chosen_played_and_named(browser, app_url):
    """Sound and practice: choose the flute, press Play; the WAV served is the flute's (its MIDI
    carries General MIDI program 73) and the player names the soundfont that made it."""
    from selenium.webdriver.common.keys import Keys
    from music21 import midi

    from abcgen.render import soundfont
    b = browser
    open_page(b, app_url)
    render(b, TUNE)
    click(b, "#sound button")
    wait_for(lambda: finds(b, "#instrument input") and find(b, "#instrument input").is_displayed(), UI_TIMEOUT,
             "the Sound and practice controls")
    type_into(b, "#instrument input", "flute", Keys.ENTER)
    wait_for(lambda: value(b, "#instrument input") == "flute", UI_TIMEOUT, "the flute to be chosen")
    click(b, "#play")
    src = wait_for(lambda: audio_src(b), WORK_TIMEOUT, "the audio")
    label = wait_for(lambda: "flute" in find(b, "#audio").text and find(b, "#audio").text, UI_TIMEOUT, "the player's label")
    font = soundfont.soundfont_path()
    assert (f"soundfont {font.name}" if font else "built-in synthesizer") in label
    with wave.open(io.BytesIO(httpx.get(src, timeout=30).content)) as w:
        frames = w.readframes(w.getnframes())
    assert max(abs(int.from_bytes(frames[i:i + 2], "little", signed=True)) for i in range(0, len(frames), 64)) > 1000
    mf = midi.MidiFile()
    mf.readstr(httpx.get(downloads(b, ".mid")[0], timeout=30).content)
    programs = [e.data for t in mf.tracks for e in t.events if e.type == midi.ChannelVoiceMessages.PROGRAM_CHANGE]
    assert programs[0] == 73


# --------------------------------------------------------------------------- dark mode, laptop, phone, keyboard

LAPTOP = (1366, 625)      # a 1366x768 screen less the browser's bars
JIG = ("X:1\nT:Kept\nM:6/8\nL:1/8\nQ:3/8=110\nK:D\n|:AAA AcA|BAA AcA|AAA AcA|GfB dcA|\nAAA AcA|BAA A2c|dcd AcA|"
       "GEE E2 D:|\n|:ABd e2 d|cde ecA|AAA AcA|GfB dBG|\nABd e2 d|cAA G2 E|FGd AcA|GEE E2 D:|\n")
CONTRAST = """
    const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lum = (c) => { const v = rgb(c).map(x => { x /= 255;
                           return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
                         return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
    const ratio = (a, b) => { const [l1, l2] = [lum(a), lum(b)].sort((x, y) => y - x);
                              return (l1 + 0.05) / (l2 + 0.05); };
    const bg = (el) => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor;
                         if (!/rgba\\(.*, 0\\)|transparent/.test(c)) return c; } return 'rgb(255, 255, 255)'; };
"""


def laptop(profile: Path, dark=False):
    driver = chromium(profile, (LAPTOP[0], 768))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": LAPTOP[0], "height": LAPTOP[1], "deviceScaleFactor": 1, "mobile": False})
    if dark:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    return driver


@pytest.fixture(scope="module")
def laptop_browser(tmp_path_factory):
    driver = laptop(tmp_path_factory.mktemp("laptop"))
    yield driver
    driver.quit()


def shot(b, name):
    path = ROOT / "tests" / "artifacts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    b.save_screenshot(str(path))


def test_dark_mode_reads_score_messages_report_and_the_bad_bar(app_url, tmp_path):
    b = laptop(tmp_path / "dark", dark=True)
    try:
        open_page(b, app_url)
        assert b.execute_script("return document.body.classList.contains('dark')"), "the page is not in dark mode"
        render(b, BROKEN_BAR, expect="not valid")
        click(b, "#report-tab-button")
        wait_for(lambda: finds(b, "#report textarea"), UI_TIMEOUT, "the report")
        staff, stem, message, report = b.execute_script(CONTRAST + """
            const line = document.querySelector('#notation g.staff > path');
            const stem = document.querySelector('#notation g.stem path, #notation g.stem rect') || line;
            const paper = bg(line.closest('#notation'));
            const ink = (el) => { const s = getComputedStyle(el); return s.stroke !== 'none' ? s.stroke : s.fill; };
            const msg = document.querySelector('#status .status p');
            const rep = document.querySelector('#report textarea');
            return [ratio(ink(line), paper), ratio(ink(stem), paper),
                    ratio(getComputedStyle(msg).color, bg(msg)), ratio(getComputedStyle(rep).color, bg(rep))];""")
        assert staff >= 4.5 and stem >= 4.5, (staff, stem)       # WCAG AA for text, asked of the staff too
        assert message >= 4.5 and report >= 4.5, (message, report)
        assert "bar 2" in status(b)
        bad = finds(b, "#notation g.measure.bad")
        assert [m.get_attribute("data-n") for m in bad] == ["2"]
        shot(b, "dark.png")
    finally:
        b.quit()


def test_on_a_laptop_the_first_screen_has_the_fields_compose_and_the_score(laptop_browser, app_url):
    b = laptop_browser
    open_page(b, app_url)
    b.execute_script("window.scrollTo(0, 0)")
    for css in ("#tune-type", "#title", "#meter", "#key", "#opening", "#form", "#compose"):
        r = rect(b, css)
        assert 0 <= r["top"] and r["bottom"] <= LAPTOP[1], (css, r)
    assert rect(b, "#notation")["top"] < LAPTOP[1] - 100
    # Play and Apply tempo wait for a tune, and say so.
    assert not find(b, "#play").is_enabled() and not find(b, "#rerender").is_enabled()
    assert "once there is a tune" in find(b, "#no-tune-hint").text
    shot(b, "laptop.png")
    render(b, TUNE)
    wait_for(lambda: find(b, "#play").is_enabled() and find(b, "#rerender").is_enabled(), UI_TIMEOUT, "Play enabled")
    assert not finds(b, "#no-tune-hint p") or not find(b, "#no-tune-hint").is_displayed()


def test_the_keyboard_reaches_compose_in_ten_tabs_and_focus_never_falls_to_the_body(laptop_browser, app_url):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    b = laptop_browser
    open_page(b, app_url)
    b.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    stops = []
    left_open = ("return [...document.querySelectorAll('ul.option-list')].filter(l => l.offsetParent && "
                 "document.activeElement.getAttribute('aria-controls') !== l.id).length")
    for _ in range(10):
        ActionChains(b).send_keys(Keys.TAB).perform()
        stops.append(b.execute_script("const e = document.activeElement; return e === document.body ? 'BODY' : "
                                      "(e.closest('[id]') || {}).id"))
        # A list opened by the field before closes as the focus leaves it (the page redraws a moment later).
        wait_for(lambda: b.execute_script(left_open) == 0, UI_TIMEOUT, f"the lists to close, focus at {stops}")
        if stops[-1] == "compose":
            break
    assert "BODY" not in stops, stops
    assert stops[-1] == "compose", stops
    assert stops.count("tune-type") == 1, stops          # the radio group is one stop
    # Arrow keys move through the tune types, and the type fills in the fields.
    find(b, "#tune-type input:checked").send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: value(b, "#meter input") == TUNE_TYPES["slip jig"].meter, UI_TIMEOUT, "the slip jig by arrow key")
    assert find(b, "#tune-type input[value='slip jig']").is_selected()


def test_the_score_has_a_name_for_screen_readers(laptop_browser, app_url):
    b = laptop_browser
    open_page(b, app_url)
    render(b, TUNE)
    name = find(b, "#notation .sheet").get_attribute("aria-label")
    assert name == "Sheet music: Browser Tune, in D, 6/8, 4 bars", name
    assert find(b, "#notation .sheet").get_attribute("role") == "img"


COUNT_JOINS = """
    window.__joins = 0;
    if (!window.__counting) {
      window.__counting = true;
      const original = window.fetch;
      window.fetch = function (url, options) {
        if (String(url).includes('/queue/join')) window.__joins += 1;
        return original.apply(this, arguments);
      };
    }"""


def test_tempo_is_applied_once_by_one_control(laptop_browser, app_url):
    b = laptop_browser
    open_page(b, app_url)
    render(b, TUNE)
    b.execute_script(COUNT_JOINS)
    type_into(b, "#playback-tempo input[type=number]", "90", "\n")
    slider = find(b, "#playback-tempo input[type=range]")
    b.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(b).click_and_hold(slider).move_by_offset(5, 0).release().perform()   # the slider alone applies nothing
    type_into(b, "#playback-tempo input[type=number]", "90", "\n")                      # nor Enter in the box
    click(b, "#rerender")
    # Whatever the slider or the box sent would have been sent before Apply's own request, so by the
    # time the applied tempo shows, every request the three controls made is counted.
    wait_for(lambda: "Q:3/8=90\n" in value(b, "#abc textarea"), WORK_TIMEOUT, "the tempo applied")
    assert b.execute_script("return window.__joins") == 1


def test_on_a_phone_the_score_fits_its_box_and_everything_is_near(phone, app_url):
    from selenium.webdriver.common.keys import Keys
    b = phone
    open_page(b, app_url)
    render(b, JIG)
    box, svg = rect(b, "#notation"), rect(b, "#notation svg")
    assert svg["right"] - svg["left"] <= box["right"] - box["left"], (svg, box)
    assert b.execute_script("return document.querySelector('#notation').scrollWidth <= "
                            "document.querySelector('#notation').clientWidth + 1")
    staff = b.execute_script("""
        const lines = [...document.querySelector('#notation g.staff').querySelectorAll(':scope > path')]
          .map(p => p.getBoundingClientRect());
        return Math.max(...lines.map(r => r.bottom)) - Math.min(...lines.map(r => r.top));""")
    assert staff >= 30, staff
    for button in ("#history-tab-button", "#share"):        # one tap away, not under "…"
        assert find(b, button).is_displayed(), button
    here, sheet = rect(b, "#compose-here"), rect(b, "#notation")
    assert 0 <= here["top"] - sheet["bottom"] < 400, (here, sheet)    # Compose next to the result
    shot(b, "phone.png")
    # An error brings its field into view, from the Compose next to the result.
    type_into(b, "#meter input", "7/0", Keys.TAB)
    click(b, "#compose-here")
    wait_for(lambda: "M: meter" in status(b), UI_TIMEOUT, "the meter's message")
    wait_for(lambda: 0 <= rect(b, "#meter")["top"] and rect(b, "#meter")["bottom"] <= PHONE[1], UI_TIMEOUT,
             "the meter field in view")


def test_the_highlighted_note_is_scrolled_into_view_while_playing(phone, app_url):
    b = phone
    open_page(b, app_url)
    render(b, JIG)
    click(b, "#play")
    wait_for(lambda: audio_src(b), WORK_TIMEOUT, "the audio")
    # Seeking needs the audio's length, known only once its metadata has loaded (a busy machine
    # may take a while after the source is set).
    wait_for(lambda: b.execute_script("const a = document.querySelector('#audio audio');"
                                      "return !!a && isFinite(a.duration) && a.duration > 0"),
             WORK_TIMEOUT, "the audio's length")
    b.execute_script("window.scrollTo(0, 0); const a = document.querySelector('#audio audio'); a.currentTime = "
                     "a.duration * 0.8; a.play()")
    note = wait_for(lambda: finds(b, "#notation g.note.playing"), UI_TIMEOUT, "a highlighted note")[0]
    wait_for(lambda: 0 <= note.rect["y"] - b.execute_script("return window.scrollY") <= PHONE[1], UI_TIMEOUT,
             "the highlighted note in view")
    b.execute_script("document.querySelector('#audio audio').pause()")


# --------------------------------------------------------------------------- keep what you like

def abc_body(abc: str) -> str:
    return abc.split("K:D\n", 1)[1]


def test_regenerating_from_bar_5_keeps_bars_1_to_4_and_a_new_b_part_keeps_the_a_part(browser, app_url):
    from abcgen.abc.layout import first_part, kept_bars
    b = browser
    open_page(b, app_url)
    render(b, JIG)
    b.execute_script("document.querySelector('#notation g.measure[data-n=\"5\"] g.note')"
                     ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    wait_for(lambda: value(b, "#keep-bars textarea") == "4", UI_TIMEOUT, "bar 5 chosen: keep bars 1-4")
    click(b, "#rewrite")
    wait_for(lambda: "Bars 1-4 are kept" in status(b) and finds(b, "#notation svg"), COMPOSE_TIMEOUT, "bars kept")
    rewritten = value(b, "#abc textarea")
    assert abc_body(rewritten).startswith(kept_bars(JIG, 4)) and rewritten != JIG
    click(b, "#new-part")
    wait_for(lambda: "first part is kept" in status(b), COMPOSE_TIMEOUT, "a new B part")
    new_b = value(b, "#abc textarea")
    assert abc_body(new_b).startswith(first_part(rewritten)) and new_b != rewritten
    click(b, "#undo")
    wait_for(lambda: value(b, "#abc textarea") == rewritten, WORK_TIMEOUT, "undo: the tune before the new B part")
    click(b, "#history-tab-button")
    click(b, "#history input")
    labels = [o.get_attribute("aria-label") or o.text for o in finds(b, "[role=option]")]
    assert len([label for label in labels if "Kept" in label]) >= 2, labels


def test_continue_adds_a_part_to_a_finished_tune(browser, app_url):
    from abcgen.keep import tune_form
    b = browser
    open_page(b, app_url)
    render(b, JIG)
    click(b, "#continue")
    wait_for(lambda: "adds a part" in status(b), COMPOSE_TIMEOUT, "a third part")
    abc = value(b, "#abc textarea")
    assert abc_body(abc).startswith(abc_body(JIG).rstrip("\n")) and tune_form(abc) == "AABBCC", abc


WATCH_STATUS = """
    window.__statuses = [];
    window.__watcher?.disconnect();
    window.__watcher = new MutationObserver(() => window.__statuses.push(
        document.querySelector('#status').innerText));
    window.__watcher.observe(document.querySelector('#status'),
                             {subtree: true, childList: true, characterData: true});"""


def compose_again(b, timeout=2 * COMPOSE_TIMEOUT):
    """Press Compose on a page that shows a tune already; wait until the message line has said the model
    is writing and then shows a valid tune. Every message is recorded as the page shows it, so a
    compose that ends between two looks (the same tune again, when the seed is kept) is still seen."""
    b.execute_script(WATCH_STATUS)
    click(b, "#compose")

    def written():
        shown = b.execute_script("return window.__statuses")
        start = next((i for i, text in enumerate(shown) if "writing" in text), None)
        return start is not None and any("valid" in text.lower() for text in shown[start + 1:])
    wait_for(written, timeout, "the model to write a tune (may queue behind another test's compose)")
    wait_for(lambda: "valid" in status(b).lower() and finds(b, "#notation svg"), timeout, "a composed tune")


def test_compose_twice_gives_two_tunes_and_a_kept_seed_gives_the_same_one(browser, app_url):
    b = browser
    open_page(b, app_url)
    click(b, "#sampling button, #sampling .label-wrap")      # the seed and keep-seed fields are in there
    wait_for(lambda: finds(b, "#seed input") and finds(b, "#keep-seed input"), UI_TIMEOUT, "the seed fields")
    tunes, seeds = [], []
    for _ in range(2):
        compose_again(b)
        tunes.append(value(b, "#abc textarea"))
        seeds.append(value(b, "#seed input"))
    assert tunes[0] != tunes[1] and seeds[0] != seeds[1], seeds
    click(b, "#keep-seed input")
    compose_again(b)
    assert value(b, "#abc textarea") == tunes[1] and value(b, "#seed input") == seeds[1]
