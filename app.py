"""The composer's web page: header fields, an opening and a form in; sheet music, audio, ABC and files out.

`python app.py` serves it (GRADIO_SERVER_NAME and GRADIO_SERVER_PORT pick the address); the same file
runs as a Hugging Face Space. The model loads once at start: the shipped checkpoint, or the file named
by ABCGEN_CHECKPOINT. Only wiring lives here; the music is in the abcgen package, the page's scripts
and styles in assets/.

Besides the page, `/compose` is a stable API endpoint (see `compose`), e.g. with gradio_client:
    Client(url).predict(meter="6/8", key="D", unit="1/8", title="My Jig", opening="A|dfa",
                        temperature=1.0, seed=3, api_name="/compose")

Every request that samples or renders shares one concurrency limit and has one deadline, counted
from its arrival (abcgen.web.limits); every file handed out lives in one folder with a byte budget
(abcgen.render.files).
"""
from __future__ import annotations

import functools
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

# The one folder for every file the app writes; the web server's file route serves nothing else.
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "abcgen-app"))

import gradio as gr  # noqa: E402  (must see GRADIO_TEMP_DIR)
import torch  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from abcgen.judge import analysis  # noqa: E402
from abcgen.render import files  # noqa: E402
from abcgen.web import limits  # noqa: E402
from abcgen.judge import originality  # noqa: E402
from abcgen.web import present  # noqa: E402
from abcgen.web import share  # noqa: E402
from abcgen.web import sound  # noqa: E402
from abcgen.web import tempo  # noqa: E402
from abcgen.render import outputs as renderer  # noqa: E402
from abcgen.compose import Composed, compose_stream  # noqa: E402
from abcgen.convert import slug  # noqa: E402
from abcgen.errors import FieldError, RenderError  # noqa: E402
from abcgen.request import FILLED_BY_TYPE, NAMES as REQUEST_NAMES, Request  # noqa: E402
from abcgen.web.inputs import check_abc  # noqa: E402
from abcgen.keep import continuation, tune_header  # noqa: E402
from abcgen.web.present import failure  # noqa: E402
from abcgen.sampling.sample import MAX_CANDIDATES, MAX_CHARS, MAX_OPENING, Settings, check_opening, load_sampler  # noqa: E402
from abcgen.tune_types import TUNE_TYPES  # noqa: E402

log = logging.getLogger("abcgen.app")
ROOT = Path(__file__).resolve().parent
SCRIPTS = [ROOT / "assets" / "follow.js", ROOT / "assets" / "page.js"]
CSS = ROOT / "assets" / "app.css"

CONCURRENCY = 2           # requests that sample or render at once, all kinds together
QUEUE_SIZE = 20           # requests that may wait before new ones are turned away
RENDER_SECONDS = 20.0     # one conversion, at most (and never past the request's deadline)
RENDER_TRIES = 3          # candidates /compose tries to convert before answering without files
REQUEST_SECONDS = float(os.environ.get("ABCGEN_REQUEST_SECONDS") or limits.REQUEST_SECONDS)
STORE = files.Store(os.environ["GRADIO_TEMP_DIR"],
                    budget=int(float(os.environ.get("ABCGEN_FILES_MB") or 200) * files.MB),
                    max_age_s=1800)
SWEEP_SECONDS = 60.0      # how often the file store is swept
WORK = limits.Work()
WORK_QUEUE = {"concurrency_id": "work", "concurrency_limit": CONCURRENCY}

SEEDS = 1_000_000          # a fresh seed on each Compose is drawn below this
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


# --------------------------------------------------------------------------- model, requests, errors

@functools.cache
def sampler():
    """The model, loaded once; `main` calls this before serving so no request waits for it.
    Each request samples on one CPU thread: requests run side by side and would fight for cores."""
    torch.set_num_threads(1)
    return load_sampler(os.environ.get("ABCGEN_CHECKPOINT") or None)


def api_error(exc: BaseException) -> gr.Error:
    what, text = failure(exc)
    return gr.Error(f"{what}: {text}", print_exception=False)


def compose_tunes(header, opening, form, settings, job: limits.Job):
    """compose_stream under the request's deadline: Progress (partial bodies), then Composed (the
    ranked tunes)."""
    job.left("before the model could start")
    return compose_stream(sampler(), header, opening, form, settings, deadline=job.deadline)


# --------------------------------------------------------------------------- presenting a tune

ui = SimpleNamespace()  # the page's components, filled in by `build`


def engrave(abc: str, job: limits.Job, wav: bool = False, play=None, width=None):
    """Sheet music, MIDI (and audio when asked for) for one tune, in the time the request has left;
    the sheet fitted to a box `width` px wide (the page's, measured by assets/page.js)."""
    left = job.left("before the sheet music was made")
    return renderer.render(check_abc(abc), timeout=min(RENDER_SECONDS, left), wav=wav, client=job.client,
                           play=play, width=width)


def check(abc: str, job: limits.Job):
    """The validation report on a tune from the page, made in a converter process: reading some
    header values takes music21 minutes, which must not hold up this process."""
    left = job.left("before the tune was checked")
    return renderer.check(check_abc(abc), timeout=min(RENDER_SECONDS, left), client=job.client)


def hand_out(rendered, abc: str) -> dict[str, Path]:
    """Write a tune's files into a fresh folder of the store; their paths by kind."""
    stem = slug(present.header_field(abc, "T")) or "tune"
    with STORE.folder() as folder:
        paths = {"midi": STORE.write(folder, f"{stem}.mid", rendered.midi),
                 "abc": STORE.write(folder, f"{stem}.abc", abc.encode()),
                 "musicxml": STORE.write(folder, f"{stem}.musicxml", rendered.musicxml.encode())}
        for number, page in enumerate(rendered.svg_pages, start=1):
            name = f"{stem}.svg" if number == 1 else f"{stem}-{number}.svg"
            paths.setdefault("svg", STORE.write(folder, name, page.encode()))
        if rendered.wav:
            paths["wav"] = STORE.write(folder, f"{stem}.wav", rendered.wav)
    return paths


def musical_report(abc: str):
    try:
        return analysis.analyse(abc)
    except Exception:  # the musical report is extra: a tune without one is still shown
        log.exception("musical report failed")
        return None


def tempo_update(control: tempo.Control) -> dict:
    return gr.update(minimum=control.low, maximum=control.high, value=control.value, label=control.label)


def shown(abc: str, job: limits.Job, report=None, report_text: str = "", wav: bool = False, play=None,
          width=None, notes=()) -> dict:
    """Notation, downloads, tempo, message and report for one tune (and audio, when asked for).
    A tune that cannot be engraved keeps its ABC and report; the message line says why."""
    report = report or check(abc, job)
    musical = musical_report(abc)
    loop = musical.loop if musical else ""  # a tune going round in circles is not called valid
    updates = {ui.report: report_text or present.report_text(report, musical=musical), ui.audio: None,
               **{b: gr.update(interactive=True) for b in (ui.play, ui.tempo_btn)}, ui.hint: gr.update(visible=False)}
    try:
        rendered = engrave(abc, job, wav, play, width)
        if rendered.abc != abc:  # transposed: the page, the sheet and the files show the new key
            abc = updates[ui.abc] = rendered.abc
        paths = hand_out(rendered, abc)
    except (RenderError, limits.OutOfTime, files.DiskFull) as e:
        notes = [f"No sheet music: {failure(e)[1]}"]
        written = tempo.written_quarter_bpm(abc)  # a Q: too fast or slow to play: Apply tempo mends it
        if written:
            control = tempo.control(abc, written)
            updates[ui.tempo] = tempo_update(control)
            notes.append(control.note)
        return {**updates, ui.sheet: present.empty_sheet("No sheet music for this tune."), ui.files: None,
                ui.status: present.tune_message(report, *notes, loop=loop)}
    control = tempo.control(abc, rendered.bpm)
    sheet = present.sheet_html(rendered.svg_pages, rendered.timemap, abc, present.first_bad_bar(report))
    return {**updates, ui.sheet: sheet,
            ui.files: [str(p) for p in paths.values()],
            ui.audio: gr.update(value=str(paths["wav"]), label=sound.player_label(rendered)) if wav else None,
            ui.tempo: tempo_update(control),
            ui.status: present.tune_message(report, *notes, control.note, *(sound.notes(rendered) if wav else []),
                                            loop=loop)}


def guarded(request, name: str, body, work: bool = True):
    """Run one page event: in a work slot (when it samples or renders), under the request's deadline,
    with any failure shown on the message line instead of raised."""
    job = limits.job(request, REQUEST_SECONDS)
    try:
        if work:
            with WORK.slot(name):
                result = body(job)
                yield from ([result] if isinstance(result, dict) else result)
        else:
            result = body(job)
            yield from ([result] if isinstance(result, dict) else result)
    except Exception as e:
        what, text = failure(e)
        yield {ui.status: present.field_message(what, text)}


def settings_of(temperature, top_k, seed, max_chars, num) -> Settings:
    return Settings(temperature, top_k, 1.0, seed, max_chars, num).checked()


# --------------------------------------------------------------------------- page handlers
# Each yields {component: new value}.

def write_tunes(header, opening, form, settings, history, job, width=None, notes=()):
    """Stream the ABC while the model writes, then show the best tune and label the candidates.
    Each tune shown goes into the history, with its seed, so any step can be brought back."""
    yield {ui.status: present.message("ok", "The model is writing…"), ui.candidates: gr.update(visible=False)}
    tunes = []
    for event in compose_tunes(header, opening, form, settings, job):
        if isinstance(event, Composed):
            tunes = event.tunes
        else:
            yield {ui.abc: header.full() + event.bodies[0]}
    musical = [t.music or musical_report(t.abc) for t in tunes]
    reports = [present.report_text(t.report, t.repairs, t.requested_form, t.achieved_form, m)
               for t, m in zip(tunes, musical)]
    try:
        labels = present.candidate_labels(tunes, musical, [analysis.read(t.abc) for t in tunes])
    except Exception:  # labels are a convenience: fall back to numbers
        log.exception("candidate labels failed")
        labels = [f"{i} · {'valid' if t.valid else 'has problems'}" for i, t in enumerate(tunes, 1)]
    best = tunes[0]
    label = present.history_label(len(share.clean_history(history)) + 1, best.abc, best.valid)
    history = share.add_to_history(history, f"{label} · seed {settings.seed}", best.abc)
    yield {  # the tune itself first, so it is kept even if it cannot be engraved
        ui.abc: best.abc,
        ui.candidates: gr.update(choices=list(zip(labels, range(len(tunes)))), value=0, visible=len(tunes) > 1),
        ui.candidates_state: [{"abc": t.abc, "report": r} for t, r in zip(tunes, reports)],
        ui.history_state: history,
        ui.history: gr.update(choices=[(h["label"], i) for i, h in enumerate(history)], value=len(history) - 1),
    }
    yield shown(best.abc, job, best.report, reports[0], width=width, notes=notes)


def page_request(values: dict, **override) -> Request:
    """The request the page's fields make (`values`: {component: value}), with a fresh seed unless the
    musician keeps the seed; `override` sets named values (the tune to keep, what to keep)."""
    named = {name: values[c] for name, c in ui.fields.items()}
    named["keep_bars"] = ""             # the field is read by "Keep bars", not by Compose
    if not values[ui.keep_seed]:
        named["seed"] = random.randrange(SEEDS)
    return Request.read({**named, **override})


def on_compose(values: dict, request: gr.Request):
    """`values`: {component: value} for the page's request fields, the history and the sheet's width."""
    def body(job):
        r = page_request(values)
        yield {ui.seed: r.settings.seed}
        yield from write_tunes(r.header, check_opening(r.opening, sampler().vocab), r.form, r.settings,
                               values[ui.history_state], job, values[ui.width])
    yield from guarded(request, "compose", body)


def on_keep(values: dict, request: gr.Request, keep: str | None = None):
    """Keep the first bars of the tune shown (the Keep bars field: "4", or "A" for its first part) byte
    for byte and have the model write the rest again, in the tune's own form, under its own header."""
    def body(job):
        kept = str(values[ui.keep_bars] if keep is None else keep).strip()
        if not kept:
            raise FieldError("keep_bars", "choose a bar on the score, or type how many bars to keep, e.g. 4")
        r = page_request(values, opening=check_abc(values[ui.abc]), keep_bars=kept, form=None)
        what = "The first part is kept" if kept.upper() == "A" else f"Bars 1-{kept} are kept"
        yield {ui.seed: r.settings.seed}
        yield from write_tunes(r.header, check_opening(r.opening, sampler().vocab), r.form, r.settings,
                               values[ui.history_state], job, values[ui.width],
                               [f"{what} as they were; the rest is new. Undo brings back the tune before."])
    yield from guarded(request, "keep", body)


def on_new_part(values: dict, request: gr.Request):
    """Keep the A part, ask for a new B part (and whatever follows it)."""
    yield from on_keep(values, request, keep="A")


def on_continue(abc, form, temperature, top_k, seed, max_chars, num, history, width, request: gr.Request):
    """Write on from the tune in the ABC box, under its own header: a finished tune gets one more part
    (or the message says why it cannot), an unfinished one is written on in the form asked for."""
    def body(job):
        header = tune_header(check_abc(abc))
        asked = Request.read({"form": form}).form
        opening, form_code = continuation(abc, asked)
        note = f"Continue adds a part: the tune is written on as {form_code}." if form_code != asked else ""
        return write_tunes(header, check_opening(opening, sampler().vocab), form_code,
                           settings_of(temperature, top_k, seed, max_chars, num), history, job, width, [note])
    yield from guarded(request, "continue", body)


def on_undo(abc, history, width, request: gr.Request):
    """Back one step: the tune in the history before the one shown (nothing is taken out of it)."""
    def body(job):
        entries = share.clean_history(history)
        shown_at = max((i for i, h in enumerate(entries) if h["abc"] == abc), default=len(entries))
        if shown_at < 1:
            raise FieldError("history", "there is no earlier tune in the history to go back to")
        before = entries[shown_at - 1]["abc"]
        return {ui.abc: before, ui.candidates: gr.update(visible=False),
                ui.history: gr.update(value=shown_at - 1), **shown(before, job, width=width)}
    yield from guarded(request, "undo", body)


def on_render(abc, width, request: gr.Request):
    """The ABC box as it is now, checked and shown again without the model."""
    yield from guarded(request, "render", lambda job: shown(check_abc(abc), job, width=width))


def on_play(abc, instrument, swing, transpose, loop, speed, count_in, width, request: gr.Request):
    """The tune in the box, engraved again and with its audio, played as the Sound and practice
    controls say: audio is only made when asked for."""
    def body(job):
        play = sound.playing(instrument, swing, transpose, loop, speed, count_in)
        return shown(check_abc(abc), job, wav=True, play=play, width=width)
    yield from guarded(request, "play", body)


def on_tempo(abc, bpm, width, request: gr.Request):
    """Set the tune's Q: to the control's tempo and show it again: notation, MIDI and audio follow Q:."""
    def body(job):
        beat = tempo.beat_of(check_abc(abc))
        low, high = tempo.bounds(beat)
        try:
            value = min(max(round(float(bpm)), low), high)
        except (TypeError, ValueError, OverflowError):
            raise FieldError("tempo", "the tempo control holds no number; move it and try again") from None
        new = tempo.with_tempo(abc, beat, value)
        return {ui.abc: new, **shown(new, job, width=width)}
    yield from guarded(request, "tempo", body)


def on_pick_candidate(index, candidates, width, request: gr.Request):
    if not isinstance(index, int) or not 0 <= index < len(candidates or []):
        return
    chosen = candidates[index]
    yield from guarded(request, "candidate", lambda job: {
        ui.abc: chosen["abc"], **shown(chosen["abc"], job, report_text=chosen["report"], width=width)})


def on_pick_history(index, history, width, request: gr.Request):
    history = share.clean_history(history)
    if not isinstance(index, int) or not 0 <= index < len(history):
        return
    abc = history[index]["abc"]
    seed = re.search(r" · seed (\d+)$", history[index]["label"])   # the seed it was written with
    yield from guarded(request, "history", lambda job: {
        ui.abc: abc, ui.candidates: gr.update(visible=False), **({ui.seed: int(seed.group(1))} if seed else {}),
        **shown(abc, job, width=width)})


def on_tune_type(kind):
    t = TUNE_TYPES.get(kind)
    return {ui.meter: t.meter, ui.unit: t.unit, ui.tempo_field: t.tempo, ui.form: t.form} if t else {}


def on_history_load(history):
    history = share.clean_history(history)
    return gr.update(choices=[(h["label"], i) for i, h in enumerate(history)], value=None)


def on_tune_book(history, request: gr.Request):
    def body(job):
        if not share.clean_history(history):
            raise FieldError("history", "there are no tunes in the history yet; compose one first")
        with STORE.folder() as folder:
            path = STORE.write(folder, "abcgen-tunes.abc", share.tune_book(history).encode())
            return {ui.book: str(path),
                    ui.status: present.message("ok", "Your tune book is ready in the History tab.")}
    yield from guarded(request, "tune book", body, work=False)


def on_share(values: dict):
    """The #fragment of a link that brings back these settings and this tune (assets/page.js makes the URL).
    A value longer than any field accepts is left out, so a link stays within what a page would take."""
    named = {name: values[c] for name, c in [*ui.fields.items(), ("abc", ui.abc)]}
    settings = {k: v for k, v in named.items() if not isinstance(v, str) or len(v) <= share.MAX_TUNE_CHARS}
    return "#" + share.pack(settings)


def on_open_link(fragment, width, request: gr.Request):
    """A share link opened: its settings go back into the fields and its tune is shown."""
    def body(job):
        settings = share.unpack(fragment)
        if settings.get("type") not in TUNE_TYPES:
            settings.pop("type", None)
        fields = {c: settings[name] for name, c in ui.fields.items() if name in settings}
        if "seed" in settings:
            fields[ui.keep_seed] = True      # Compose writes the shared tune's seed again
        abc = settings.get("abc", "")
        return {**fields, ui.abc: abc, **shown(check_abc(abc), job, width=width)} if abc else fields
    yield from guarded(request, "link", body)


# --------------------------------------------------------------------------- API endpoint

def compose(meter: str | None = None, key: str = "D", unit: str | None = None, title: str = "",
            opening: str = "", temperature: float = 1.0, seed: int = 0, x: int = 1, tempo: str | None = None,
            form: str | None = None, top_k: int = 0, top_p: float = 1.0, max_chars: int = 1200, num: int = 1,
            instrument: str = "fiddle", swing: float | None = None, transpose: str = "", loop: str = "",
            speed: float = 1.0, count_in: bool = False, type: str = "", keep_bars: str = "",
            request: gr.Request = None):
    """Compose one tune. Returns the ABC, then its MIDI, ABC, MusicXML, WAV and SVG files, then the
    validation report. With num > 1 the best of `num` candidates is returned. `type` (reel, jig, ...)
    reaches the model and fills in meter, unit, tempo and form where they are not given. `form` is a
    form such as "AABB", a code such as "S:2 B:8 E:5 B:8" or a preset name; bad input is an error
    naming the field. The sound (abcgen.render.playing): `instrument` (fiddle, flute, tin whistle,
    ...), `swing` 0 to 1 (None: the tune type's), `transpose` a key (the ABC returned is in it),
    `loop` "A", "B" or "N-M", `speed` 0.5 to 1 of the tempo, `count_in` a bar of ticks first.
    `keep_bars` "4" (or "A", the first part) with a whole tune as `opening` keeps those bars byte for
    byte and writes the rest again in the tune's form, under its header.
    The parameters are abcgen.request's FIELDS."""
    values = {k: v for k, v in locals().items() if k in REQUEST_NAMES}
    job = limits.job(request, REQUEST_SECONDS)
    with WORK.slot("api compose"):
        try:
            r = Request.read({k: (None if v == "" and k in FILLED_BY_TYPE else v) for k, v in values.items()})
            play = r.playing
            tunes = next(event.tunes for event in compose_tunes(r.header, r.opening, r.form, r.settings, job)
                         if isinstance(event, Composed))
        except Exception as e:
            raise api_error(e) from None
        # The best candidate that converts; a tune that cannot be converted still comes back as text,
        # with the reason in the report, since the request itself was fine.
        problem, paths, best, abc = "", None, tunes[0], tunes[0].abc
        for tune in tunes[:RENDER_TRIES]:
            try:
                rendered = engrave(tune.abc, job, wav=True, play=play)
                paths = hand_out(rendered, rendered.abc)
                best, abc = tune, rendered.abc
                problem = "".join(f"\n{note}" for note in sound.notes(rendered))
                break
            except (RenderError, limits.OutOfTime) as e:
                problem = problem or f"\nnot converted to files: {failure(e)[1]}"
                if isinstance(e, limits.OutOfTime):
                    break
            except Exception as e:
                raise api_error(e) from None
    report = present.report_text(best.report, best.repairs, best.requested_form, best.achieved_form, best.music)
    out = [str(paths[k]) if paths else None for k in ("midi", "abc", "musicxml", "wav", "svg")]
    return (abc, *out, report + problem)


# --------------------------------------------------------------------------- page

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


def build() -> gr.Blocks:
    """The page: the fields and Compose on the left (below the tune on phones), the tune on the right,
    and the /compose API. From the top, Compose is the tenth stop of the Tab key."""
    start = TUNE_TYPES["jig"]  # the page opens on a jig
    with gr.Blocks(title="abcgen · folk tune composer", analytics_enabled=False) as demo:
        ui.candidates_state = gr.State([])
        # Kept in the visitor's browser; the secret only keeps the format stable across restarts.
        ui.history_state = gr.BrowserState([], storage_key="abcgen-history", secret="abcgen-history-v1")
        # The sheet's box width in px: events that engrave send it in place of -1 (assets/page.js, withWidth).
        ui.width = gr.Number(-1, visible=False, elem_id="sheet-width")
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Row(equal_height=False, elem_id="main"):
            with gr.Column(scale=2, min_width=340, elem_id="inputs"):
                tune_type = gr.Radio(list(TUNE_TYPES), label="Tune type: fills in meter, unit, tempo and form",
                                     value=start.name, elem_id="tune-type")
                title = gr.Textbox(label="T: title", placeholder="Name your tune", elem_id="title")
                with gr.Row(elem_id="header-fields"):
                    ui.meter = gr.Dropdown(METERS, value=start.meter, label="M: meter", allow_custom_value=True,
                                           min_width=110, elem_id="meter")
                    ui.unit = gr.Dropdown(UNITS, value=start.unit, label="L: unit", allow_custom_value=True,
                                          min_width=110, elem_id="unit")
                    key = gr.Dropdown(KEYS, value="D", label="K: key", allow_custom_value=True, min_width=110,
                                      elem_id="key")
                    ui.tempo_field = gr.Textbox(label="Q: tempo", value=start.tempo, placeholder="3/8=116",
                                                min_width=110, elem_id="tempo")
                with gr.Row(elem_id="opening-row"):
                    opening = gr.Textbox(label="Opening (optional): the first notes, kept as written", lines=1,
                                         max_lines=4, elem_id="opening", scale=3,
                                         placeholder=f"e.g. A|dAF DFA|dfe dcB| (at most {MAX_OPENING:,} "
                                                     "characters; empty for a free start)")
                    ui.form = gr.Dropdown(FORMS, value=start.form, label="Form", allow_custom_value=True,
                                          elem_id="form", scale=1, min_width=120)
                with gr.Row(elem_id="compose-row"):
                    compose_btn = gr.Button("Compose", variant="primary", scale=2, elem_id="compose")
                    continue_btn = gr.Button("Continue", scale=1, elem_id="continue")
                gr.Markdown("Form: AABB (two parts, each played twice), AABBCC, AB; \"AB 16\" for 16-bar "
                            "parts; or a code such as S:2 B:8 E:5 B:8. Continue writes on from the tune "
                            "shown, or adds a part to a finished one.", elem_id="form-help")
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
                gr.Examples([example_row(*e) for e in EXAMPLES],
                            inputs=[tune_type, title, ui.meter, ui.unit, key, ui.tempo_field, opening, ui.form],
                            example_labels=[example_label(*e) for e in EXAMPLES], label="Try one of these",
                            elem_id="examples")

            with gr.Column(scale=3, min_width=340, elem_id="outputs"):
                ui.status = gr.HTML("", elem_id="status")
                ui.candidates = gr.Radio([], label="Candidates, best first", visible=False, elem_id="candidates")
                ui.sheet = gr.HTML(present.empty_sheet(), min_height=160, elem_id="notation")
                with gr.Row(equal_height=True, elem_id="keep-row"):
                    ui.keep_bars = gr.Textbox("", label="Keep bars 1 to (click a bar to write again from it)",
                                              placeholder="e.g. 4", scale=2, min_width=150, elem_id="keep-bars")
                    rewrite_btn = gr.Button("Keep them, write the rest again", scale=2, min_width=150,
                                            elem_id="rewrite")
                    new_part_btn = gr.Button("Keep the A part, new B part", scale=2, min_width=130,
                                             elem_id="new-part")
                    undo_btn = gr.Button("Undo", scale=1, min_width=70, elem_id="undo")
                compose_here = gr.Button("Compose a new tune", variant="primary", elem_id="compose-here")
                with gr.Row(equal_height=True, elem_id="listen-row"):
                    ui.play = gr.Button("▶ Play", scale=1, min_width=90, elem_id="play", interactive=False)
                    # The browser's own player (not the waveform view): assets/follow.js follows its clock.
                    ui.audio = gr.Audio(label="Listen", type="filepath", interactive=False, buttons=["download"],
                                        autoplay=True, scale=5, elem_id="audio",
                                        waveform_options=gr.WaveformOptions(show_recording_waveform=False))
                with gr.Row(equal_height=True, elem_id="tempo-row"):
                    control = tempo.control(f"M:{start.meter}\nQ:{start.tempo}\nK:D\n", start.quarter_bpm)
                    ui.tempo = gr.Slider(control.low, control.high, value=control.value, step=1, scale=4,
                                         label=control.label, elem_id="playback-tempo")
                    ui.tempo_btn = gr.Button("Apply tempo", scale=1, min_width=110, elem_id="rerender",
                                             interactive=False)
                ui.hint = gr.Markdown("Play and Apply tempo work once there is a tune: compose one, or paste "
                                      "one in the ABC tab and press Render.", elem_id="no-tune-hint")
                ui.sound = sound_controls()
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
                    with gr.Tab("Share", elem_id="share-tab"):
                        share_btn = gr.Button("Make a link to these settings and this tune", elem_id="share")
                        ui.share_link = gr.Textbox(label="Link: opens this tune and these settings anywhere",
                                                   buttons=["copy"], interactive=False, elem_id="share-link")
        ui.link_in = gr.Textbox("", visible=False)  # the #fragment of the address the page was opened at

        # The stable API: hidden inputs named by `compose`'s parameters, their values the defaults.
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
        api_button.click(compose, api_inputs, api_outputs, api_name="compose", **WORK_QUEUE)

        # The page's own events stay off the public API; those that sample or render share one limit.
        page = {"api_visibility": "private"}
        work = {**page, **WORK_QUEUE}
        # Events that engrave send the sheet's width for the -1 of ui.width; writing ones also bring the
        # result into view on a phone.
        sized = {**work, "js": "(...a) => window.abcgen.withWidth(a)"}
        writing = {**work, "js": "(...a) => window.abcgen.withWidth(a, true)"}
        # The request fields the page has (abcgen.request.FIELDS names them; top_p is the API's only).
        ui.fields = {"type": tune_type, "x": x, "title": title, "meter": ui.meter, "unit": ui.unit, "key": key,
                     "tempo": ui.tempo_field, "form": ui.form, "opening": opening, "temperature": temperature,
                     "top_k": top_k, "seed": ui.seed, "max_chars": max_chars, "num": num, "keep_bars": ui.keep_bars,
                     **dict(zip(("instrument", "swing", "transpose", "loop", "speed", "count_in"), ui.sound))}
        tune = [ui.report, ui.sheet, ui.audio, ui.tempo, ui.files, ui.status, ui.play, ui.tempo_btn, ui.hint]
        writes = [ui.abc, *tune, ui.candidates, ui.candidates_state, ui.history_state, ui.history, ui.seed]
        asked = {*ui.fields.values(), ui.keep_seed, ui.history_state, ui.width, ui.abc}
        tune_type.input(on_tune_type, tune_type, [ui.meter, ui.unit, ui.tempo_field, ui.form], **page)
        for button in (compose_btn, compose_here):
            button.click(on_compose, asked, writes, **writing)
        rewrite_btn.click(on_keep, asked, writes, **writing)
        new_part_btn.click(on_new_part, asked, writes, **writing)
        continue_btn.click(on_continue, [ui.abc, ui.form, temperature, top_k, ui.seed, max_chars, num,
                                         ui.history_state, ui.width], writes, **writing)
        undo_btn.click(on_undo, [ui.abc, ui.history_state, ui.width], [ui.abc, *tune, ui.candidates, ui.history],
                       **sized)
        render_btn.click(on_render, [ui.abc, ui.width], tune, **sized)
        ui.play.click(on_play, [ui.abc, *ui.sound, ui.width], [ui.abc, *tune], **sized)
        # One control applies the tempo: the button (the slider only sets the value), one request a press.
        ui.tempo_btn.click(on_tempo, [ui.abc, ui.tempo, ui.width], [ui.abc, *tune], **sized)
        ui.candidates.input(on_pick_candidate, [ui.candidates, ui.candidates_state, ui.width], [ui.abc, *tune],
                            **sized)
        ui.history.input(on_pick_history, [ui.history, ui.history_state, ui.width],
                         [ui.abc, *tune, ui.candidates, ui.seed], **sized)
        book_btn.click(on_tune_book, ui.history_state, [ui.book, ui.status], **page)
        share_btn.click(on_share, {*ui.fields.values(), ui.abc}, ui.share_link, **page).then(
            None, ui.share_link, ui.share_link, js="(f) => window.abcgen.shareLink(f)", **page)
        demo.load(on_history_load, ui.history_state, ui.history, **page)
        demo.load(None, None, ui.link_in, js="() => window.location.hash", **page)
        ui.link_in.change(on_open_link, [ui.link_in, ui.width], [*ui.fields.values(), ui.keep_seed, ui.abc, *tune],
                          **sized)
    # api_open=False: the REST routes cannot skip the queue, so every call meets the limits above.
    demo.queue(default_concurrency_limit=4, max_size=QUEUE_SIZE, api_open=False)
    return demo


def page_head() -> str:
    """The page's scripts, inline: the page names no server path and loads nothing from elsewhere."""
    return "".join(f"<script>\n{path.read_text()}\n</script>" for path in SCRIPTS)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    STORE.open()
    STORE.sweep_every(SWEEP_SECONDS)
    # Temporary files (the converters' audio, abc2midi's checks) go in the store's folder too.
    tempfile.tempdir = os.environ["TMPDIR"] = str(STORE.scratch)
    sampler()                                   # load the model before the first visitor
    # Index the training tunes once for the report's originality line, in a separate low-priority
    # process so neither the page nor the first composes wait for it; reports use it once written.
    if not originality.DEFAULT_FILE.exists():
        subprocess.Popen([sys.executable, "-m", "abcgen.judge.originality"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(15))
    getattr(renderer, "warm_up", lambda: None)()  # start the converter processes
    build().launch(
        theme=gr.themes.Default(primary_hue="amber", neutral_hue="stone"),
        css_paths=[CSS],
        head=page_head(),
        allowed_paths=[],
        max_file_size="1kb",        # the page takes no uploads (RequestLimits refuses them anyway)
        footer_links=["api"],
        enable_monitoring=False,    # no public /monitoring routes
        show_error=False,           # only messages written for musicians reach the page
        app_kwargs={"middleware": [Middleware(limits.RequestLimits, max_body=limits.MAX_BODY)]},
    )


if __name__ == "__main__":
    main()
