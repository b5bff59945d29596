"""The composer's web page: header fields, an opening and a form in; sheet music, audio, ABC and files out.

`python app.py` serves it (GRADIO_SERVER_NAME and GRADIO_SERVER_PORT pick the address); the same file
runs as a Hugging Face Space. The model loads once at start: the shipped checkpoint, or the file named
by ABCGEN_CHECKPOINT. Only wiring lives here; the music is in the abcgen package.

Besides the page, `/compose` is a stable API endpoint (see `compose`), e.g. with gradio_client:
    Client(url).predict(meter="6/8", key="D", unit="1/8", title="My Jig", opening="A|dfa",
                        temperature=1.0, seed=3, api_name="/compose")
"""
from __future__ import annotations

import functools
import html
import json
import os
import random
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

# Our own folder for the files we hand out: the file route then serves nothing else of this
# machine's temp folder, and Gradio's cache sweep (delete_cache) removes them when they are old.
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "abcgen-app"))

import gradio as gr  # noqa: E402  (must see GRADIO_TEMP_DIR)
import torch  # noqa: E402

from abcgen import abc as abctools  # noqa: E402
from abcgen import render as renderer  # noqa: E402
from abcgen.compose import compose_stream  # noqa: E402
from abcgen.convert import slug  # noqa: E402
from abcgen.errors import CheckpointError, FieldError, RenderError  # noqa: E402
from abcgen.form import PRESETS, code_prefix  # noqa: E402
from abcgen.sample import (MAX_CANDIDATES, MAX_CHARS, MAX_OPENING, Header, Settings,  # noqa: E402
                           check_opening, load_sampler)

ROOT = Path(__file__).resolve().parent
FOLLOW_JS = ROOT / "assets" / "follow.js"
CSS = ROOT / "assets" / "app.css"
OUT_DIR = Path(os.environ["GRADIO_TEMP_DIR"]) / "tunes"

MAX_ABC = 20_000          # characters of ABC the Render button accepts
CONCURRENCY = 2           # requests that run at once; the rest wait in the queue
QUEUE_SIZE = 20           # requests that may wait before new ones are turned away
CACHE_SWEEP = (600, 1800)  # every 10 minutes, delete handed-out files older than 30 minutes

# Candidate to move into the library (e.g. abcgen/presets.py): what each tune type fills in.
AABB_8 = "AABB, 8 bars each (reel, jig, hornpipe)"
AABB_4 = "Short AABB, 4 bars each (polka, march)"
TUNE_TYPES = {  # name: (meter, unit, tempo, form preset)
    "reel": ("4/4", "1/8", "1/2=100", AABB_8),
    "jig": ("6/8", "1/8", "3/8=116", AABB_8),
    "slip jig": ("9/8", "1/8", "3/8=116", "3 parts, 8 bars each (slip jig)"),
    "hornpipe": ("4/4", "1/8", "1/4=150", AABB_8),
    "polka": ("2/4", "1/8", "1/4=140", AABB_4),
    "slide": ("12/8", "1/8", "3/8=130", AABB_8),
    "waltz": ("3/4", "1/8", "1/4=150", "AB, 16 bars each"),
    "march": ("2/4", "1/8", "1/4=120", AABB_4),
    "strathspey": ("4/4", "1/8", "1/4=130", AABB_8),
}
METERS = ["4/4", "6/8", "9/8", "12/8", "2/4", "3/4", "3/2", "C", "C|"]
UNITS = ["1/8", "1/16", "1/4"]
KEYS = [("D major", "D"), ("G major", "G"), ("A major", "A"), ("E major", "E"), ("C major", "C"),
        ("F major", "F"), ("B♭ major", "Bb"), ("E minor", "Emin"), ("B minor", "Bmin"), ("A minor", "Amin"),
        ("D minor", "Dmin"), ("G minor", "Gmin"), ("F♯ minor", "F#min"), ("D mixolydian", "Dmix"),
        ("A mixolydian", "Amix"), ("G mixolydian", "Gmix"), ("E dorian", "Edor"), ("A dorian", "Ador"),
        ("B dorian", "Bdor"), ("D dorian", "Ddor"), ("G dorian", "Gdor")]

EXAMPLES = [  # tune type, title, key, opening; the type fills in the rest
    ("jig", "The Lamplighter", "D", "A|dAF DFA|dfe dcB|"),
    ("reel", "Morning on the Strand", "G", "|:GABc dBGB|cBAB cAFA|"),
    ("slip jig", "The Heather Path", "Emin", "|:E2B BAB e2B|"),
    ("hornpipe", "The Harbour Lights", "A", "(3efg|a2ec A2ce|"),
    ("waltz", "Lough Arrow Waltz", "G", "D2|G2B2d2|"),
    ("reel", "", "Dmix", ""),
]


def example_row(kind, title, key, opening) -> list:
    """An example as the values of: tune type, title, meter, unit, key, tempo, opening, form."""
    meter, unit, tempo, form = TUNE_TYPES[kind]
    return [kind, title, meter, unit, key, tempo, opening, form]


def example_label(kind, title, key, opening) -> str:
    name = dict((v, k) for k, v in KEYS).get(key, key)
    return f"{title or 'A ' + kind} · {kind} in {name}" + ("" if opening else " · free start")


INTRO = """
# abcgen · folk tune composer
Pick a tune type, give it a title and, if you like, the first notes in
[ABC](https://abcnotation.com/wiki/abc:standard:v2.1). The model writes the rest; you get sheet music,
a recording, the ABC to edit, and files for your notation program.
"""
EMPTY_SHEET = '<div class="sheet empty">Your tune will appear here.</div>'


# --------------------------------------------------------------------------- model and errors

@functools.cache
def sampler():
    """The model, loaded once; `main` calls this before serving so no request waits for it.

    Each request samples on one CPU thread: the model writes one character at a time, which more
    threads do not speed up, and with requests running side by side they would only fight for cores.
    """
    torch.set_num_threads(1)
    return load_sampler(os.environ.get("ABCGEN_CHECKPOINT") or None)


def user_error(exc: Exception) -> gr.Error:
    """The message a musician sees: which field, what is wrong, never a traceback."""
    if isinstance(exc, FieldError):
        return gr.Error(f"{exc.field}: {exc.message}", print_exception=False)
    if isinstance(exc, RenderError):
        return gr.Error(f"ABC: {exc}", print_exception=False)
    return gr.Error(f"model: {exc}", print_exception=False)


PLAIN_ERRORS = (FieldError, RenderError, CheckpointError)


# --------------------------------------------------------------------------- requests

def read_request(x, title, meter, unit, key, tempo, form, temperature, top_k, top_p, seed, max_chars, num):
    """Checked header, settings and form code; a bad field raises FieldError naming it."""
    header = Header.parse(meter, unit, key, tempo, title, x)
    settings = Settings(temperature, top_k, top_p, seed, max_chars, num).checked()
    return header, settings, code_prefix(PRESETS.get(form, form or ""))


def header_field(abc: str, letter: str, default: str = "") -> str:
    """The first value of a header field (T, M, K, ...) as written in the tune."""
    return next((value for name, value in abctools.split_tune(abc)[0] if name == letter), default)


def header_of(abc: str) -> Header:
    """The header fields of a tune as written, so Continue keeps the tune's own M, L, K, Q, T and X."""
    if not header_field(abc, "M") or not header_field(abc, "K"):
        raise FieldError("ABC", "to continue a tune, its header needs an M: (meter) and a K: (key) line")
    return Header.parse(header_field(abc, "M"), header_field(abc, "L", "1/8"), header_field(abc, "K"),
                        header_field(abc, "Q"), header_field(abc, "T"), header_field(abc, "X", "1"))


def continuation_opening(abc: str) -> str:
    """The tune's music as an opening to write on from.

    Candidate to move into the library (e.g. abcgen.compose): a final bar line "|]" would tell the
    model the tune is over, so it becomes a plain bar line.
    """
    body = abctools.split_tune(abc)[1].rstrip()
    if body.endswith("|]"):
        body = body[:-2] + "|"
    if len(body) > MAX_OPENING:
        raise FieldError("ABC", f"the tune has {len(body)} characters of music; "
                                f"Continue can take at most {MAX_OPENING}")
    return body


def check_abc(abc: str) -> str:
    """The ABC box's text, refused when empty or over the size cap."""
    if not (abc or "").strip():
        raise FieldError("ABC", "the text box is empty; compose a tune or paste one in ABC")
    if len(abc) > MAX_ABC:
        raise FieldError("ABC", f"is {len(abc)} characters long; the limit is {MAX_ABC}")
    return abc


# --------------------------------------------------------------------------- presenting a tune

def render_tune(abc: str, bpm=None):
    """Engrave, play and write one tune into a fresh folder of our own; (Rendered, paths by kind)."""
    rendered = renderer.render(check_abc(abc), bpm=bpm)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    remove_empty_folders(OUT_DIR)
    stem = slug(header_field(abc, "T")) or "tune"
    paths = renderer.write_files(rendered, abc, tempfile.mkdtemp(dir=OUT_DIR), stem)
    return rendered, paths


def remove_empty_folders(root: Path, older_than_s: float = 2.0) -> None:
    """Gradio's cache sweep deletes old files but leaves their folders; remove the empty ones.
    A folder is filled within milliseconds of being made, so one empty for 2 s is done with."""
    now = time.time()
    for d in root.iterdir():
        try:
            if d.is_dir() and now - d.stat().st_mtime > older_than_s and not any(d.iterdir()):
                d.rmdir()
        except OSError:
            pass  # taken or filled meanwhile by another request


def sheet_html(rendered, abc: str) -> str:
    """The title and SVG pages, with the timemap that assets/follow.js uses to light up notes."""
    title = header_field(abc, "T")
    heading = f'<h2 class="tune-title">{html.escape(title)}</h2>' if title else ""
    timemap = html.escape(json.dumps(rendered.timemap, separators=(",", ":")))
    return f'<div class="sheet" data-timemap="{timemap}">{heading}{"".join(rendered.svg_pages)}</div>'


def report_text(report, repairs=(), requested_form="", achieved_form="") -> str:
    """The validation report, then what was repaired and the form asked for and written."""
    lines = [("Valid. " if report.valid else "Not valid. ") + report.text()]
    if repairs:
        lines.append("Repaired: " + "; ".join(repairs))
    if requested_form:
        lines.append("Form asked for: " + requested_form.strip().replace("\n", " "))
    if achieved_form:
        lines.append("Form written:   " + achieved_form.strip().replace("\n", " "))
    return "\n".join(lines)


def summary(number: int, tune) -> str:
    """One line per candidate for the picker."""
    r = tune.report
    state = "valid" if tune.valid else f"{len(r.errors)} problem(s)"
    return f"{number} · {state} · {r.bars_ok}/{r.bars_checked} bars ok"


def history_label(number: int, abc: str, valid: bool) -> str:
    name = header_field(abc, "T", "Untitled")
    problems = "" if valid else " · has problems"
    return f"{number}. {name} ({header_field(abc, 'M', '?')}, {header_field(abc, 'K', '?')}){problems}"


def shown(abc: str, bpm=None) -> dict:
    """Notation, audio, downloads and tempo for one tune, as updates for the page.

    A tune the converters cannot read keeps its ABC and report; the notation panel says why."""
    try:
        rendered, paths = render_tune(abc, bpm)
    except RenderError as e:
        gr.Warning(f"ABC: {e}")
        return {ui.sheet: f'<div class="sheet empty">{html.escape(str(e))}</div>', ui.audio: None, ui.files: None}
    # Every file written is handed out (extra SVG pages too), so Gradio's cache sweep also removes it.
    written = sorted(Path(paths["abc"]).parent.iterdir())
    files = [str(paths[kind]) for kind in ("midi", "abc", "musicxml", "wav")]
    files += [str(p) for p in written if str(p) not in files]
    return {ui.sheet: sheet_html(rendered, abc), ui.audio: str(paths["wav"]), ui.tempo: round(rendered.bpm),
            ui.files: files}


# --------------------------------------------------------------------------- page handlers
# Each returns {component: new value}; `ui` holds the components (filled in by `build`).

ui = SimpleNamespace()


def write_tunes(header, opening, form, settings, history):
    """Stream the ABC while the model writes, then show the best tune and list the candidates."""
    tunes = None
    for out in compose_stream(sampler(), header, opening, form, settings):
        if out and isinstance(out[0], str):
            yield {ui.abc: header.full() + out[0], ui.report: "The model is writing…"}
        else:
            tunes = out
    candidates = [{"abc": t.abc, "report": report_text(t.report, t.repairs, t.requested_form, t.achieved_form)}
                  for t in tunes]
    best = tunes[0]
    history = history + [{"label": history_label(len(history) + 1, best.abc, best.valid), "abc": best.abc}]
    yield {  # the tune itself first, so it is kept even if it cannot be rendered
        ui.abc: best.abc,
        ui.report: candidates[0]["report"],
        ui.candidates: gr.update(choices=[(summary(i + 1, t), i) for i, t in enumerate(tunes)], value=0,
                                 visible=len(tunes) > 1),
        ui.candidates_state: candidates,
        ui.history_state: history,
        ui.history: gr.update(choices=[(h["label"], i) for i, h in enumerate(history)], value=len(history) - 1),
    }
    yield shown(best.abc)


def check_compose(x, title, meter, unit, key, tempo, opening, form, temperature, top_k, seed, max_chars, num,
                  history):
    """Runs before the model starts: a bad field gets its message right beside it."""
    names = ["x", "title", "meter", "unit", "key", "tempo", "opening", "form", "temperature", "top_k", "seed",
             "max_chars", "num", "history"]
    try:
        read_request(x, title, meter, unit, key, tempo, form, temperature, top_k, 1.0, seed, max_chars, num)
        check_opening(opening, sampler().vocab)
    except FieldError as e:
        return [gr.validate(name != e.field, f"{e.field}: {e.message}") for name in names]
    except CheckpointError as e:
        raise user_error(e) from None
    return [gr.validate(True, "") for _ in names]


def on_compose(x, title, meter, unit, key, tempo, opening, form, temperature, top_k, seed, max_chars, num,
               history):
    try:
        header, settings, form_code = read_request(x, title, meter, unit, key, tempo, form,
                                                   temperature, top_k, 1.0, seed, max_chars, num)
        yield from write_tunes(header, opening, form_code, settings, history)
    except PLAIN_ERRORS as e:
        raise user_error(e) from None


def on_continue(abc, temperature, top_k, seed, max_chars, num, history):
    """Write on from the tune in the ABC box, under its own header."""
    try:
        header = header_of(check_abc(abc))
        settings = Settings(temperature, top_k, 1.0, seed, max_chars, num).checked()
        yield from write_tunes(header, continuation_opening(abc), "", settings, history)
    except PLAIN_ERRORS as e:
        raise user_error(e) from None


def on_render(abc, bpm=None):
    """The ABC box as it is now, checked and shown again without the model; `bpm` sets the tempo."""
    try:
        return {ui.report: report_text(abctools.validate(check_abc(abc))), **shown(abc, bpm)}
    except PLAIN_ERRORS as e:
        raise user_error(e) from None


def on_pick_candidate(index, candidates):
    if index is None or not 0 <= index < len(candidates):
        return {}
    chosen = candidates[index]
    return {**on_render(chosen["abc"]), ui.abc: chosen["abc"], ui.report: chosen["report"]}


def on_pick_history(index, history):
    if index is None or not 0 <= index < len(history):
        return {}
    abc = history[index]["abc"]
    return {**on_render(abc), ui.abc: abc, ui.candidates: gr.update(visible=False)}


def on_tune_type(kind):
    if kind not in TUNE_TYPES:
        return {}
    return dict(zip([ui.meter, ui.unit, ui.tempo_field, ui.form], TUNE_TYPES[kind]))


# --------------------------------------------------------------------------- API endpoint

def compose(meter: str, key: str, unit: str, title: str = "", opening: str = "", temperature: float = 1.0,
            seed: int = 0, x: int = 1, tempo: str = "", form: str = "", top_k: int = 0, top_p: float = 1.0,
            max_chars: int = 1200, num: int = 1):
    """Compose one tune. Returns the ABC, then its MIDI, ABC, MusicXML, WAV and SVG files, then the
    validation report. With num > 1 the best of `num` candidates is returned. `form` is a control code
    such as "S:2 B:8 E:5 B:8" or a preset name; bad input is an error naming the field."""
    try:
        header, settings, form_code = read_request(x, title, meter, unit, key, tempo, form,
                                                   temperature, top_k, top_p, seed, max_chars, num)
        tunes = list(compose_stream(sampler(), header, opening, form_code, settings))[-1]
    except PLAIN_ERRORS as e:
        raise user_error(e) from None
    # The best candidate that converts; a tune that cannot be converted still comes back as text,
    # with the reason in the report, since the request itself was fine.
    problem = ""
    for best in tunes:
        try:
            rendered, paths = render_tune(best.abc)
            break
        except RenderError as e:
            problem = problem or f"\nnot converted to files: {e}"
    else:
        best, paths = tunes[0], None
    report = report_text(best.report, best.repairs, best.requested_form, best.achieved_form)
    files = [str(paths[k]) if paths else None for k in ("midi", "abc", "musicxml", "wav", "svg")]
    return (best.abc, *files, report + (problem if paths is None else ""))


# --------------------------------------------------------------------------- page

def build() -> gr.Blocks:
    """The page: inputs on the left, the tune on the right, and the hidden /compose API endpoint."""
    start_meter, start_unit, start_tempo, start_form = TUNE_TYPES["jig"]  # the page opens on a jig
    with gr.Blocks(title="abcgen · folk tune composer", delete_cache=CACHE_SWEEP,
                   analytics_enabled=False) as demo:
        ui.candidates_state = gr.State([])
        ui.history_state = gr.State([])
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340, elem_id="inputs"):
                tune_type = gr.Radio(list(TUNE_TYPES), label="Tune type", value="jig", elem_id="tune-type",
                                     info="Fills in meter, unit, tempo and form")
                with gr.Row():
                    title = gr.Textbox(label="T: title", placeholder="Name your tune", scale=4, max_length=200,
                                       elem_id="title")
                    x = gr.Number(label="X: number", value=1, precision=0, minimum=0, scale=1, min_width=90,
                                  elem_id="x")
                with gr.Row():
                    ui.meter = gr.Dropdown(METERS, value=start_meter, label="M: meter", allow_custom_value=True,
                                           min_width=80, elem_id="meter")
                    ui.unit = gr.Dropdown(UNITS, value=start_unit, label="L: unit", allow_custom_value=True,
                                          min_width=80, elem_id="unit")
                    key = gr.Dropdown(KEYS, value="D", label="K: key", allow_custom_value=True, min_width=150,
                                      scale=2, elem_id="key")
                    ui.tempo_field = gr.Textbox(label="Q: tempo", value=start_tempo, placeholder="1/4=120",
                                                min_width=110, elem_id="tempo")
                opening = gr.Textbox(label="Opening", lines=2, max_length=MAX_OPENING, elem_id="opening",
                                     placeholder="The first notes in ABC, e.g. A|dAF DFA|dfe dcB|",
                                     info="Kept as written; the model goes on from here. "
                                          "Leave empty for a free start.")
                ui.form = gr.Dropdown(list(PRESETS), value=start_form, label="Form",
                                      allow_custom_value=True, elem_id="form",
                                      info="A preset, or a code such as S:2 B:8 E:5 B:8 "
                                           "(sections, bars, similarity)")
                with gr.Accordion("Sampling", open=False, elem_id="sampling"):
                    with gr.Row():
                        temperature = gr.Slider(0, 2, value=1.0, step=0.05, label="Temperature",
                                                info="Lower is safer, higher is wilder", elem_id="temperature")
                        top_k = gr.Slider(0, 60, value=0, step=1, label="Top-k", info="0 keeps every choice",
                                          elem_id="top-k")
                    with gr.Row(equal_height=True):
                        seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, scale=3, elem_id="seed")
                        dice = gr.Button("Random seed", scale=1, min_width=120, elem_id="random-seed")
                    with gr.Row():
                        max_chars = gr.Slider(100, MAX_CHARS, value=1200, step=50,
                                              label="Maximum length (characters)", elem_id="max-chars")
                        num = gr.Slider(1, MAX_CANDIDATES, value=1, step=1, label="Candidates",
                                        info="Several tunes at once; pick one", elem_id="num")
                with gr.Row():
                    compose_btn = gr.Button("Compose", variant="primary", scale=2, elem_id="compose")
                    continue_btn = gr.Button("Continue", scale=1, elem_id="continue")
                gr.Examples([example_row(*e) for e in EXAMPLES],
                            inputs=[tune_type, title, ui.meter, ui.unit, key, ui.tempo_field, opening, ui.form],
                            example_labels=[example_label(*e) for e in EXAMPLES], label="Try one of these",
                            elem_id="examples")

            with gr.Column(scale=3, min_width=420, elem_id="outputs"):
                ui.candidates = gr.Radio([], label="Candidates, best first", visible=False, elem_id="candidates")
                ui.sheet = gr.HTML(EMPTY_SHEET, js_on_load=None, min_height=240, elem_id="notation")
                # The browser's own player (not the waveform view): assets/follow.js follows its clock.
                ui.audio = gr.Audio(label="Listen", type="filepath", interactive=False, buttons=["download"],
                                    waveform_options=gr.WaveformOptions(show_recording_waveform=False),
                                    elem_id="audio")
                with gr.Row(equal_height=True, elem_id="tempo-row"):
                    ui.tempo = gr.Slider(40, 320, value=174, step=2, scale=4, elem_id="playback-tempo",
                                         label="Playback tempo (quarter notes a minute)")
                    tempo_btn = gr.Button("Apply tempo", scale=1, min_width=110, elem_id="rerender")
                with gr.Tabs():
                    with gr.Tab("ABC", elem_id="abc-tab"):
                        ui.abc = gr.Textbox(label="ABC: edit it, then Render", lines=12, max_lines=30,
                                            max_length=MAX_ABC, buttons=["copy"], elem_id="abc")
                        render_btn = gr.Button("Render", elem_id="render")
                    with gr.Tab("Downloads", elem_id="downloads-tab"):
                        ui.files = gr.File(label="MIDI, ABC, MusicXML, WAV and the sheet music as SVG",
                                           file_count="multiple", interactive=False, elem_id="downloads")
                    with gr.Tab("Report", elem_id="report-tab"):
                        ui.report = gr.Textbox(label="Validation report", lines=8, interactive=False,
                                               elem_id="report")
                    with gr.Tab("History", elem_id="history-tab"):
                        ui.history = gr.Dropdown([], label="Tunes composed in this session", elem_id="history",
                                                 info="Pick one to bring it back")

        # The stable API: hidden inputs named by `compose`'s parameters, their values the defaults.
        with gr.Column(visible=False):
            api_inputs = [gr.Textbox(label="meter"), gr.Textbox(label="key"), gr.Textbox(label="unit"),
                          gr.Textbox("", label="title"), gr.Textbox("", label="opening"),
                          gr.Number(1.0, label="temperature"), gr.Number(0, label="seed", precision=0),
                          gr.Number(1, label="x", precision=0), gr.Textbox("", label="tempo"),
                          gr.Textbox("", label="form"), gr.Number(0, label="top_k", precision=0),
                          gr.Number(1.0, label="top_p"), gr.Number(1200, label="max_chars", precision=0),
                          gr.Number(1, label="num", precision=0)]
            api_outputs = [gr.Textbox(label="abc"), gr.File(label="midi"), gr.File(label="abc_file"),
                           gr.File(label="musicxml"), gr.File(label="wav"), gr.File(label="svg"),
                           gr.Textbox(label="report")]
            api_button = gr.Button("compose")
        api_button.click(compose, api_inputs, api_outputs, api_name="compose")

        # The page's own events stay off the public API.
        page = {"api_visibility": "private"}
        tune = [ui.report, ui.sheet, ui.audio, ui.tempo, ui.files]
        writes = [ui.abc, *tune, ui.candidates, ui.candidates_state, ui.history_state, ui.history]
        tune_type.input(on_tune_type, tune_type, [ui.meter, ui.unit, ui.tempo_field, ui.form], **page)
        dice.click(lambda: random.randrange(1_000_000), None, seed, **page)
        compose_btn.click(on_compose, [x, title, ui.meter, ui.unit, key, ui.tempo_field, opening, ui.form,
                                       temperature, top_k, seed, max_chars, num, ui.history_state], writes,
                          validator=check_compose, **page)
        continue_btn.click(on_continue, [ui.abc, temperature, top_k, seed, max_chars, num, ui.history_state],
                           writes, **page)
        render_btn.click(on_render, ui.abc, tune, **page)
        tempo_btn.click(on_render, [ui.abc, ui.tempo], tune, **page)
        ui.tempo.release(on_render, [ui.abc, ui.tempo], tune, **page)
        ui.candidates.input(on_pick_candidate, [ui.candidates, ui.candidates_state], [ui.abc, *tune], **page)
        ui.history.input(on_pick_history, [ui.history, ui.history_state], [ui.abc, *tune, ui.candidates], **page)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def main() -> None:
    sampler()             # load the model before the first visitor
    renderer.warm_up()    # start the converter processes
    gr.set_static_paths([FOLLOW_JS])
    build().launch(
        theme=gr.themes.Default(primary_hue="amber", neutral_hue="stone"),
        css_paths=[CSS],
        head=f'<script src="gradio_api/file={FOLLOW_JS}"></script>',  # relative: works under a path prefix too
        allowed_paths=[],
        max_file_size="1mb",  # the page takes no uploads
        footer_links=["api"],
    )


if __name__ == "__main__":
    main()
