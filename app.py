"""The composer's web page: header fields, an opening and a form in; sheet music, audio, ABC and files out.

`python app.py` serves it (GRADIO_SERVER_NAME and GRADIO_SERVER_PORT pick the address); the same file
runs as a Hugging Face Space. The model loads once at start: the shipped checkpoint, or the file named
by ABCGEN_CHECKPOINT. Only wiring lives here: `create` makes a Composer (abcgen.web.events: the
handlers, the file store, the model) from a Config, `build` lays out its page, `main` serves it.
Nothing is set up at import. The page's scripts and styles are in assets/.

Besides the page, `/compose` is a stable API endpoint (see `Composer.compose`), e.g. with gradio_client:
    Client(url).predict(meter="6/8", key="D", unit="1/8", title="My Jig", opening="A|dfa",
                        temperature=1.0, seed=3, api_name="/compose")

Every request that samples or renders shares one concurrency limit and has one deadline, counted
from its arrival (abcgen.web.limits); every file handed out lives in one folder with a byte budget
(abcgen.render.files).
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
from starlette.middleware import Middleware

from abcgen.judge import originality
from abcgen.render import outputs as renderer
from abcgen.sampling.asked import MAX_CANDIDATES, MAX_CHARS, MAX_OPENING
from abcgen.tune_types import TUNE_TYPES
from abcgen.web import limits, logbook, present, serve, sound, tempo
from abcgen.web.events import Composer, Config

log = logging.getLogger("abcgen.app")
ROOT = Path(__file__).resolve().parent
SCRIPTS = [ROOT / "assets" / "follow.js", ROOT / "assets" / "page.js"]
CSS = ROOT / "assets" / "app.css"

CONCURRENCY = 2           # requests that sample or render at once, all kinds together
QUEUE_SIZE = 20           # requests that may wait before new ones are turned away
WORK_QUEUE = {"concurrency_id": "work", "concurrency_limit": CONCURRENCY}

METERS = ["4/4", "6/8", "9/8", "12/8", "2/4", "3/4", "3/2", "C", "C|"]
UNITS = ["1/8", "1/16", "1/4"]
# Plain ABC key names: typing "A" finds "A" first (a label like "D major" would match its "a").
KEYS = ["D", "G", "A", "E", "C", "F", "Bb", "Em", "Bm", "Am", "Dm", "Gm", "F#m",
        "Dmix", "Amix", "Gmix", "Edor", "Ador", "Bdor", "Ddor", "Gdor"]
# Forms as musicians write them, so what is typed is what the field shows.
FORMS = ["AABB", "AABB 16", "AABBCC", "AB", "AB 16", "ABC", "AABBCCDD", "A 16", "S:2 B:9 E:5 B:9", "S:2"]

EXAMPLES = [  # tune type, title, key, opening; the type fills in the rest
    ("jig", "The Lamplighter", "D", "A|dAF DFA|dfe dcB|"),
    ("reel", "Morning on the Strand", "G", "|:GABc dBGB|cBAB cAFA|"),
    ("slip jig", "The Heather Path", "Em", "|:E2B BAB e2B|"),
    ("hornpipe", "The Harbour Lights", "A", "(3efg|a2ec A2ce|"),
    ("waltz", "Lough Arrow Waltz", "G", "D2|G2B2d2|"),
    ("reel", "", "Dmix", ""),
]


START = TUNE_TYPES["jig"]   # the page opens on a jig


def example_row(kind, title, key, opening) -> list:
    """An example as the values of: tune type, title, meter, unit, key, tempo, opening, form."""
    t = TUNE_TYPES[kind]
    return [kind, title, t.meter, t.unit, key, t.tempo, opening, t.form]


def example_label(kind, title, key, opening) -> str:
    return f"{title or 'A ' + kind} · {kind} in {key}" + ("" if opening else " · free start")


INTRO = """
# abcgen · folk tune composer
Pick a tune type, give it a title and, if you like, the first notes in ABC. The model writes the rest:
sheet music, a recording, the ABC to edit, and files for your notation program.
"""


def sound_controls() -> list:
    """The "Sound and practice" group under the player: instrument, lilt, key, loop, speed, count-in.
    Play uses them; the written tune keeps its Q: (only transposing rewrites the ABC)."""
    with gr.Accordion("Sound and practice", open=False, elem_id="sound"):
        with gr.Row():
            instrument = gr.Dropdown(sound.INSTRUMENT_CHOICES, value="fiddle", label="Instrument",
                                     allow_custom_value=True, min_width=140, elem_id="instrument")
            swing = gr.Dropdown(sound.SWING_CHOICES, value="", label="Swing", allow_custom_value=True,
                                min_width=140, elem_id="swing")
            transpose = gr.Dropdown([("Keep the key", ""), *KEYS], value="", label="Transpose to",
                                    allow_custom_value=True, min_width=120, elem_id="transpose")
        with gr.Row():
            loop = gr.Dropdown(sound.LOOP_CHOICES, value="", label="Loop", allow_custom_value=True, min_width=140,
                               elem_id="loop", info="A part, or bars such as 5-8")
            speed = gr.Slider(*sound.SPEED_RANGE, value=1.0, step=0.05, label="Speed", min_width=140,
                              elem_id="speed", info="Share of the tempo; Q: stays")
            count_in = gr.Checkbox(False, label="Count-in bar", min_width=100, elem_id="count-in")
    return [instrument, swing, transpose, loop, speed, count_in]


def create(config: Config | None = None, sampler=None) -> Composer:
    """A composer for `config` (default: read from the environment), its file store not yet opened
    and its model not yet loaded (unless `sampler` is given)."""
    config = config or Config.from_env()
    # Gradio's own file cache is the store's folder, so its file route serves nothing else.
    os.environ["GRADIO_TEMP_DIR"] = str(config.files_dir)
    return Composer(config, sampler)


def build(composer: Composer) -> gr.Blocks:
    """The page: the fields and Compose on the left (below the tune on phones), the tune on the right,
    and the /compose API. From the top, Compose is the tenth stop of the Tab key."""
    ui = composer.ui
    with gr.Blocks(title="abcgen · folk tune composer", analytics_enabled=False) as demo:
        ui.candidates_state = gr.State([])
        # Kept in the visitor's browser; the secret only keeps the format stable across restarts.
        ui.history_state = gr.BrowserState([], storage_key="abcgen-history", secret="abcgen-history-v1")
        # The sheet's box width in px: events that engrave send it in place of -1 (assets/page.js, withWidth).
        ui.width = gr.Number(-1, visible=False, elem_id="sheet-width")
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Row(equal_height=False, elem_id="main"):
            fields, left = input_column(ui)
            right = tune_column(ui)
        buttons = SimpleNamespace(**vars(left), **vars(right))
        ui.link_in = gr.Textbox("", visible=False)  # the #fragment of the address the page was opened at
        # The request fields the page has (abcgen.request.FIELDS names them; top_p is the API's only).
        ui.fields = {**fields, "keep_bars": ui.keep_bars,
                     **dict(zip(("instrument", "swing", "transpose", "loop", "speed", "count_in"), ui.sound))}
        api(composer)
        wire(composer, demo, buttons)
    # api_open=False: the REST routes cannot skip the queue, so every call meets the limits above.
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_SIZE, api_open=False)
    return demo


def input_column(ui: SimpleNamespace) -> tuple[dict, SimpleNamespace]:
    """The left column: tune type, header fields, opening, form, Compose, sampling and examples.
    Returns its request fields by name (in the order share links fill them) and its buttons."""
    with gr.Column(scale=2, min_width=340, elem_id="inputs"):
        tune_type = gr.Radio(list(TUNE_TYPES), label="Tune type: fills in meter, unit, tempo and form",
                             value=START.name, elem_id="tune-type")
        title = gr.Textbox(label="T: title", placeholder="Name your tune", elem_id="title")
        with gr.Row(elem_id="header-fields"):
            ui.meter = gr.Dropdown(METERS, value=START.meter, label="M: meter", allow_custom_value=True,
                                   min_width=110, elem_id="meter")
            ui.unit = gr.Dropdown(UNITS, value=START.unit, label="L: unit", allow_custom_value=True,
                                  min_width=110, elem_id="unit")
            key = gr.Dropdown(KEYS, value="D", label="K: key", allow_custom_value=True, min_width=110,
                              elem_id="key")
            ui.tempo_field = gr.Textbox(label="Q: tempo", value=START.tempo, placeholder="3/8=116",
                                        min_width=110, elem_id="tempo")
        with gr.Row(elem_id="opening-row"):
            opening = gr.Textbox(label="Opening (optional): the first notes, kept as written", lines=1,
                                 max_lines=4, elem_id="opening", scale=3,
                                 placeholder=f"e.g. A|dAF DFA|dfe dcB| (at most {MAX_OPENING:,} "
                                             "characters; empty for a free start)")
            ui.form = gr.Dropdown(FORMS, value=START.form, label="Form", allow_custom_value=True,
                                  elem_id="form", scale=1, min_width=120)
        with gr.Row(elem_id="compose-row"):
            buttons = SimpleNamespace(compose=gr.Button("Compose", variant="primary", scale=2, elem_id="compose"),
                                      continue_=gr.Button("Continue", scale=1, elem_id="continue"))
        gr.Markdown("Form: AABB (two parts, each played twice), AABBCC, AB; \"AB 16\" for 16-bar "
                    "parts; or a code such as S:2 B:8 E:5 B:8. Continue writes on from the tune "
                    "shown, or adds a part to a finished one.", elem_id="form-help")
        sampling = sampling_controls(ui)
        gr.Examples([example_row(*e) for e in EXAMPLES],
                    inputs=[tune_type, title, ui.meter, ui.unit, key, ui.tempo_field, opening, ui.form],
                    example_labels=[example_label(*e) for e in EXAMPLES], label="Try one of these",
                    elem_id="examples")
    fields = {"type": tune_type, "x": sampling["x"], "title": title, "meter": ui.meter, "unit": ui.unit,
              "key": key, "tempo": ui.tempo_field, "form": ui.form, "opening": opening}
    return {**fields, **{k: v for k, v in sampling.items() if k != "x"}}, buttons


def sampling_controls(ui: SimpleNamespace) -> dict:
    """The "Sampling, seed and X: number" group, closed at first: most musicians never need it.
    Returns temperature, top_k, seed, max_chars, num and x by request field name."""
    with gr.Accordion("Sampling, seed and X: number", open=False, elem_id="sampling"):
        with gr.Row():
            temperature = gr.Slider(0, 2, value=1.0, step=0.05, label="Temperature",
                                    info="Lower is safer, higher is wilder", elem_id="temperature")
            top_k = gr.Slider(0, 60, value=0, step=1, label="Top-k", info="0 keeps every choice",
                              elem_id="top-k")
        with gr.Row(equal_height=True):
            ui.seed = gr.Number(label="Seed (a new one on each Compose)", value=0, precision=0,
                                minimum=0, scale=3, elem_id="seed")
            ui.keep_seed = gr.Checkbox(False, label="Keep this seed (the same settings write the "
                                                    "same tune)", scale=3, elem_id="keep-seed")
            x = gr.Number(label="X: number", value=1, precision=0, minimum=0, scale=1, min_width=90,
                          elem_id="x")
        with gr.Row():
            max_chars = gr.Slider(100, MAX_CHARS, value=1200, step=50,
                                  label="Maximum length (characters)", elem_id="max-chars")
            num = gr.Slider(1, MAX_CANDIDATES, value=1, step=1, label="Candidates",
                            info="Several tunes at once; pick one", elem_id="num")
    return {"x": x, "temperature": temperature, "top_k": top_k, "seed": ui.seed, "max_chars": max_chars,
            "num": num}


def tune_column(ui: SimpleNamespace) -> SimpleNamespace:
    """The right column: status, candidates, the sheet, keeping bars, the player and tempo, sound
    and practice, the tabs and Share. Returns its buttons."""
    with gr.Column(scale=3, min_width=340, elem_id="outputs"):
        ui.status = gr.HTML("", elem_id="status")
        ui.candidates = gr.Radio([], label="Candidates, best first", visible=False, elem_id="candidates")
        ui.sheet = gr.HTML(present.empty_sheet(), min_height=160, elem_id="notation")
        with gr.Row(equal_height=True, elem_id="keep-row"):
            ui.keep_bars = gr.Textbox("", label="Keep bars 1 to (click a bar to write again from it)",
                                      placeholder="e.g. 4", scale=2, min_width=150, elem_id="keep-bars")
            buttons = SimpleNamespace(
                rewrite=gr.Button("Keep them, write the rest again", scale=2, min_width=150, elem_id="rewrite"),
                new_part=gr.Button("Keep the A part, new B part", scale=2, min_width=130, elem_id="new-part"),
                undo=gr.Button("Undo", scale=1, min_width=70, elem_id="undo"))
        buttons.compose_here = gr.Button("Compose a new tune", variant="primary", elem_id="compose-here")
        with gr.Row(equal_height=True, elem_id="listen-row"):
            ui.play = gr.Button("▶ Play", scale=1, min_width=90, elem_id="play", interactive=False)
            # The browser's own player (not the waveform view): assets/follow.js follows its clock.
            ui.audio = gr.Audio(label="Listen", type="filepath", interactive=False, buttons=["download"],
                                autoplay=True, scale=5, elem_id="audio",
                                waveform_options=gr.WaveformOptions(show_recording_waveform=False))
        with gr.Row(equal_height=True, elem_id="tempo-row"):
            control = tempo.control(f"M:{START.meter}\nQ:{START.tempo}\nK:D\n", START.quarter_bpm)
            ui.tempo = gr.Slider(control.low, control.high, value=control.value, step=1, scale=4,
                                 label=control.label, elem_id="playback-tempo")
            ui.tempo_btn = gr.Button("Apply tempo", scale=1, min_width=110, elem_id="rerender",
                                     interactive=False)
        ui.hint = gr.Markdown("Play and Apply tempo work once there is a tune: compose one, or paste "
                              "one in the ABC tab and press Render.", elem_id="no-tune-hint")
        ui.sound = sound_controls()
        buttons.render, buttons.book = tune_tabs(ui)
        # Share under the tabs, not in one: one tap away on a phone, where a fifth tab hides under "…".
        with gr.Row(equal_height=True, elem_id="share-row"):
            buttons.share = gr.Button("Share: a link to these settings and this tune", scale=1, min_width=150,
                                      elem_id="share")
            ui.share_link = gr.Textbox(label="Link: opens this tune and these settings anywhere",
                                       buttons=["copy"], interactive=False, scale=2, min_width=150,
                                       elem_id="share-link")
    return buttons


def tune_tabs(ui: SimpleNamespace) -> tuple[gr.Button, gr.Button]:
    """The tune as ABC to edit, its files, its report and this browser's history. Returns the Render
    and tune book buttons."""
    with gr.Tabs(elem_id="tune-tabs"):
        with gr.Tab("ABC", elem_id="abc-tab"):
            ui.abc = gr.Textbox(label="ABC: edit it, then Render", lines=12, max_lines=30,
                                buttons=["copy"], elem_id="abc")
            render_btn = gr.Button("Render", elem_id="render")
        with gr.Tab("Files", elem_id="downloads-tab"):
            ui.files = gr.File(label="MIDI, ABC, MusicXML and the sheet music as SVG (for audio, "
                                     "press Play, then the player's download button)",
                               file_count="multiple", interactive=False, elem_id="downloads")
        with gr.Tab("Report", elem_id="report-tab"):
            ui.report = gr.Textbox(label="Validation and musical report", lines=10,
                                   interactive=False, elem_id="report")
        with gr.Tab("History", elem_id="history-tab"):
            ui.history = gr.Dropdown([], label="Tunes composed in this browser", elem_id="history",
                                     info="Pick one to bring it back")
            book_btn = gr.Button("Download them all as one ABC tune book", elem_id="tune-book")
            ui.book = gr.File(label="Tune book", interactive=False, elem_id="tune-book-file")
    return render_btn, book_btn


def api(c: Composer) -> None:
    """The stable API: hidden inputs named by `compose`'s parameters, their values the defaults."""
    with gr.Column(visible=False):
        api_inputs = [gr.Textbox(label="meter"), gr.Textbox(label="key"), gr.Textbox(label="unit"),
                      gr.Textbox("", label="title"), gr.Textbox("", label="opening"),
                      gr.Number(1.0, label="temperature"), gr.Number(0, label="seed", precision=0),
                      gr.Number(1, label="x", precision=0), gr.Textbox("", label="tempo"),
                      gr.Textbox("", label="form"), gr.Number(0, label="top_k", precision=0),
                      gr.Number(1.0, label="top_p"), gr.Number(1200, label="max_chars", precision=0),
                      gr.Number(1, label="num", precision=0), gr.Textbox("fiddle", label="instrument"),
                      gr.Number(None, label="swing"), gr.Textbox("", label="transpose"),
                      gr.Textbox("", label="loop"), gr.Number(1.0, label="speed"),
                      gr.Checkbox(False, label="count_in"), gr.Textbox("", label="type"),
                      gr.Textbox("", label="keep_bars")]
        api_outputs = [gr.Textbox(label="abc"), gr.File(label="midi"), gr.File(label="abc_file"),
                       gr.File(label="musicxml"), gr.File(label="wav"), gr.File(label="svg"),
                       gr.Textbox(label="report")]
        api_button = gr.Button("compose")
    api_button.click(c.compose, api_inputs, api_outputs, api_name="compose", **WORK_QUEUE)


def wire(c: Composer, demo: gr.Blocks, buttons: SimpleNamespace) -> None:
    """The page's events: which handler each control calls, what it reads and what it writes."""
    ui = c.ui
    # The page's own events stay off the public API; those that sample or render share one limit.
    page = {"api_visibility": "private"}
    work = {**page, **WORK_QUEUE}
    # Events that engrave send the sheet's width for the -1 of ui.width; writing ones also bring the
    # result into view on a phone.
    sized = {**work, "js": "(...a) => window.abcgen.withWidth(a)"}
    writing = {**work, "js": "(...a) => window.abcgen.withWidth(a, true)"}
    f = ui.fields
    tune = [ui.report, ui.sheet, ui.audio, ui.tempo, ui.files, ui.status, ui.play, ui.tempo_btn, ui.hint]
    writes = [ui.abc, *tune, ui.candidates, ui.candidates_state, ui.history_state, ui.history, ui.seed]
    asked = {*f.values(), ui.keep_seed, ui.history_state, ui.width, ui.abc}
    f["type"].input(c.on_tune_type, f["type"], [ui.meter, ui.unit, ui.tempo_field, ui.form], **page)
    for button in (buttons.compose, buttons.compose_here):
        button.click(c.on_compose, asked, writes, **writing)
    buttons.rewrite.click(c.on_keep, asked, writes, **writing)
    buttons.new_part.click(c.on_new_part, asked, writes, **writing)
    buttons.continue_.click(c.on_continue, [ui.abc, ui.form, f["temperature"], f["top_k"], ui.seed, f["max_chars"],
                                            f["num"], ui.history_state, ui.width], writes, **writing)
    buttons.undo.click(c.on_undo, [ui.abc, ui.history_state, ui.width], [ui.abc, *tune, ui.candidates, ui.history],
                       **sized)
    buttons.render.click(c.on_render, [ui.abc, ui.width], tune, **sized)
    ui.play.click(c.on_play, [ui.abc, *ui.sound, ui.width], [ui.abc, *tune], **sized)
    # One control applies the tempo: the button (the slider only sets the value), one request a press.
    ui.tempo_btn.click(c.on_tempo, [ui.abc, ui.tempo, ui.width], [ui.abc, *tune], **sized)
    ui.candidates.input(c.on_pick_candidate, [ui.candidates, ui.candidates_state, ui.width], [ui.abc, *tune],
                        **sized)
    ui.history.input(c.on_pick_history, [ui.history, ui.history_state, ui.width],
                     [ui.abc, *tune, ui.candidates, ui.seed], **sized)
    buttons.book.click(c.on_tune_book, ui.history_state, [ui.book, ui.status], **page)
    buttons.share.click(c.on_share, {*f.values(), ui.abc}, ui.share_link, **page).then(
        None, ui.share_link, ui.share_link, js="(f) => window.abcgen.shareLink(f)", **page)
    demo.load(c.on_history_load, ui.history_state, [ui.history_state, ui.history], **page)
    demo.load(None, None, ui.link_in, js="() => window.abcgen.linkFragment()", **page)
    ui.link_in.change(c.on_open_link, [ui.link_in, ui.width], [*f.values(), ui.keep_seed, ui.abc, *tune], **sized)


def page_head() -> str:
    """The page's scripts, inline: the page names no server path and loads nothing from elsewhere."""
    return "".join(f"<script>\n{path.read_text()}\n</script>" for path in SCRIPTS)


def start(composer: Composer) -> None:
    """Open the file store (sweeping it in the background), load the model and start the converters,
    so that no visitor waits for them."""
    composer.store.open()
    composer.store.sweep_every(composer.config.sweep_s)
    # Temporary files (the converters' audio, abc2midi's checks) go in the store's folder too.
    tempfile.tempdir = os.environ["TMPDIR"] = str(composer.store.scratch)
    composer.sampler()
    # Index the training tunes once for the report's originality line, in a separate low-priority
    # process so neither the page nor the first composes wait for it; reports use it once written.
    if not originality.DEFAULT_FILE.exists():
        subprocess.Popen([sys.executable, "-m", "abcgen.judge.originality"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(15))
    renderer.warm_up()


def main() -> None:
    """Serve the page as `python app.py` (and a Space) does: GRADIO_SERVER_NAME and GRADIO_SERVER_PORT
    pick the address, ABCGEN_LOG_FILE a log file (rotated) instead of stderr, and ABCGEN_* the bounds
    (abcgen.web.events.Config, abcgen.web.serve.ServerLimits)."""
    logbook.install(os.environ.get("ABCGEN_LOG_FILE"))
    composer = create()
    start(composer)
    serve.serve(
        build(composer),
        host=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
        port=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
        limits=serve.ServerLimits.from_env(),
        middleware=[Middleware(limits.RequestLimits, max_body=limits.MAX_BODY)],
        theme=gr.themes.Default(primary_hue="amber", neutral_hue="stone"),
        css_paths=[CSS],
        head=page_head(),
        allowed_paths=[],
        max_file_size="1kb",        # the page takes no uploads (RequestLimits refuses them anyway)
        footer_links=["api"],
        enable_monitoring=False,    # no public /monitoring routes
        show_error=False,           # only messages written for musicians reach the page
    )


if __name__ == "__main__":
    main()
