"""The composer's page events and its /compose API endpoint, as methods of one `Composer`.

A Composer holds what a running app owns: its settings, its file store, its count of running work and,
once `app.build` has made the page, the page's components (`ui`). Nothing here is set up at import.
Every handler that samples or renders runs under the request's deadline (abcgen.web.limits); every
file it hands out goes through the file store (abcgen.render.files).
"""
from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import torch

from abcgen.compose import Composed, compose_stream
from abcgen.errors import FieldError, RenderError
from abcgen.judge import analysis
from abcgen.render import files
from abcgen.render import outputs as renderer
from abcgen.request import FILLED_BY_TYPE, NAMES as REQUEST_NAMES, Request
from abcgen.sampling.asked import Settings, check_opening
from abcgen.sampling.sample import load_sampler
from abcgen.tune_types import TUNE_TYPES
from abcgen.web import limits, present, share, sound, tempo
from abcgen.keep import continuation, tune_header
from abcgen.web.inputs import check_abc
from abcgen.web.present import failure

log = logging.getLogger(__name__)

RENDER_SECONDS = 20.0     # one conversion, at most (and never past the request's deadline)
RENDER_TRIES = 3          # candidates /compose tries to convert before answering without files
SEEDS = 1_000_000         # a fresh seed on each Compose is drawn below this
@dataclass(frozen=True)
class Config:
    """What one running composer is set up with; `from_env` reads it from the environment."""
    files_dir: Path                               # the one folder for every file the app writes
    files_mb: float = 200.0                       # its byte budget
    files_max_age_s: float = 1800.0               # a handed-out file lives at most this long ...
    files_keep_s: float = 600.0                   # ... and at least this long, whoever else writes
    files_share: float = 0.25                     # the part of the budget one client's files may hold
    sweep_s: float = 60.0                         # how often the store is swept
    request_s: float = limits.REQUEST_SECONDS     # one request, queue wait included
    checkpoint: str | None = None                 # None: the shipped model

    @classmethod
    def from_env(cls, env=None) -> "Config":
        """GRADIO_TEMP_DIR names the folder; ABCGEN_FILES_MB, _FILES_MAX_AGE_S, _FILES_KEEP_S, _FILES_SHARE,
        _SWEEP_S, _REQUEST_SECONDS and _CHECKPOINT the rest."""
        env = os.environ if env is None else env
        number = lambda name, default: float(env.get(name) or default)  # noqa: E731
        return cls(files_dir=Path(env.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "abcgen-app"),
                   files_mb=number("ABCGEN_FILES_MB", cls.files_mb),
                   files_max_age_s=number("ABCGEN_FILES_MAX_AGE_S", cls.files_max_age_s),
                   files_keep_s=number("ABCGEN_FILES_KEEP_S", cls.files_keep_s),
                   files_share=number("ABCGEN_FILES_SHARE", cls.files_share),
                   sweep_s=number("ABCGEN_SWEEP_S", cls.sweep_s),
                   request_s=number("ABCGEN_REQUEST_SECONDS", cls.request_s),
                   checkpoint=env.get("ABCGEN_CHECKPOINT") or None)


def api_error(exc: BaseException) -> gr.Error:
    what, text = failure(exc)
    return gr.Error(f"{what}: {text}", print_exception=False)


def musical_report(abc: str):
    try:
        return analysis.analyse(abc)
    except Exception:  # the musical report is extra: a tune without one is still shown
        log.exception("musical report failed")
        return None


def tempo_update(control: tempo.Control) -> dict:
    return gr.update(minimum=control.low, maximum=control.high, value=control.value, label=control.label)


def settings_of(temperature, top_k, seed, max_chars, num) -> Settings:
    return Settings(temperature, top_k, 1.0, seed, max_chars, num).checked()


class Composer:
    """One running composer: settings, file store, work count, model and the page's components."""

    def __init__(self, config: Config, sampler=None):
        self.config = config
        self.request_seconds = config.request_s
        budget = int(config.files_mb * files.MB)
        self.store = files.Store(config.files_dir, budget=budget, max_age_s=config.files_max_age_s,
                                 share=int(budget * config.files_share), keep_s=config.files_keep_s)
        self.work = limits.Work()
        self.ui = SimpleNamespace()   # the page's components, filled in by app.build
        self._sampler = sampler

    def sampler(self):
        """The model, loaded once; `app.main` calls this before serving so no request waits for it.
        Each request samples on one CPU thread: requests run side by side and would fight for cores."""
        if self._sampler is None:
            torch.set_num_threads(1)
            self._sampler = load_sampler(self.config.checkpoint)
        return self._sampler


    def compose_tunes(self, header, opening, form, settings, job: limits.Job):
        """compose_stream under the request's deadline: Progress (partial bodies), then Composed (the
        ranked tunes)."""
        job.left("before the model could start")
        return compose_stream(self.sampler(), header, opening, form, settings, deadline=job.deadline)

    # ------------------------------------------------------------------ presenting a tune

    def engrave(self, abc: str, job: limits.Job, wav: bool = False, play=None, width=None):
        """Sheet music, MIDI (and audio when asked for) for one tune, in the time the request has left;
        the sheet fitted to a box `width` px wide (the page's, measured by assets/page.js)."""
        left = job.left("before the sheet music was made")
        return renderer.render(check_abc(abc), timeout=min(RENDER_SECONDS, left), wav=wav, client=job.client,
                               play=play, width=width)

    def check(self, abc: str, job: limits.Job):
        """The validation report on a tune from the page, made in a converter process: reading some
        header values takes music21 minutes, which must not hold up this process."""
        left = job.left("before the tune was checked")
        return renderer.check(check_abc(abc), timeout=min(RENDER_SECONDS, left), client=job.client)

    def hand_out(self, rendered, abc: str, client: str | None = None) -> dict[str, Path]:
        """Write a tune's files (renderer.file_set) into a fresh folder of the store, on `client`'s
        share; their paths by kind."""
        stem = files.slug(present.header_field(abc, "T")) or "tune"
        with self.store.folder(client) as folder:
            return {kind: self.store.write(folder, name, data)
                    for kind, (name, data) in renderer.file_set(rendered, abc, stem).items()}

    def shown(self, abc: str, job: limits.Job, report=None, report_text: str = "", wav: bool = False, play=None,
              width=None, notes=()) -> dict:
        """Notation, downloads, tempo, message and report for one tune (and audio, when asked for).
        A tune that cannot be engraved keeps its ABC and report; the message line says why."""
        ui = self.ui
        report = report or self.check(abc, job)
        musical = musical_report(abc)
        loop = musical.loop if musical else ""  # a tune going round in circles is not called valid
        updates = {ui.report: report_text or present.report_text(report, musical=musical), ui.audio: None,
                   **{b: gr.update(interactive=True) for b in (ui.play, ui.tempo_btn)},
                   ui.hint: gr.update(visible=False)}
        try:
            rendered = self.engrave(abc, job, wav, play, width)
            if rendered.abc != abc:  # transposed: the page, the sheet and the files show the new key
                abc = updates[ui.abc] = rendered.abc
            paths = self.hand_out(rendered, abc, job.client)
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

    def guarded(self, request, name: str, body, work: bool = True):
        """Run one page event: in a work slot (when it samples or renders), under the request's deadline,
        with any failure shown on the message line instead of raised."""
        job = limits.job(request, self.request_seconds)
        try:
            if work:
                with self.work.slot(name):
                    result = body(job)
                    yield from ([result] if isinstance(result, dict) else result)
            else:
                result = body(job)
                yield from ([result] if isinstance(result, dict) else result)
        except Exception as e:
            what, text = failure(e)
            yield {self.ui.status: present.field_message(what, text)}

    # ------------------------------------------------------------------ page handlers
    # Each yields {component: new value}.

    def write_tunes(self, header, opening, form, settings, history, job, width=None, notes=()):
        """Stream the ABC while the model writes, then show the best tune and label the candidates.
        Each tune shown goes into the history, with its seed, so any step can be brought back."""
        ui = self.ui
        yield {ui.status: present.message("ok", "The model is writing…"), ui.candidates: gr.update(visible=False)}
        tunes = []
        for event in self.compose_tunes(header, opening, form, settings, job):
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
        yield self.shown(best.abc, job, best.report, reports[0], width=width, notes=notes)

    def page_request(self, values: dict, **override) -> Request:
        """The request the page's fields make (`values`: {component: value}), with a fresh seed unless the
        musician keeps the seed; `override` sets named values (the tune to keep, what to keep)."""
        named = {name: values[c] for name, c in self.ui.fields.items()}
        named["keep_bars"] = ""             # the field is read by "Keep bars", not by Compose
        if not values[self.ui.keep_seed]:
            named["seed"] = random.randrange(SEEDS)
        return Request.read({**named, **override})

    def on_compose(self, values: dict, request: gr.Request):
        """`values`: {component: value} for the page's request fields, the history and the sheet's width."""
        def body(job):
            r = self.page_request(values)
            yield {self.ui.seed: r.settings.seed}
            yield from self.write_tunes(r.header, check_opening(r.opening, self.sampler().vocab), r.form, r.settings,
                                   values[self.ui.history_state], job, values[self.ui.width])
        yield from self.guarded(request, "compose", body)

    def on_keep(self, values: dict, request: gr.Request, keep: str | None = None):
        """Keep the first bars of the tune shown (the Keep bars field: "4", or "A" for its first part) byte
        for byte and have the model write the rest again, in the tune's own form, under its own header."""
        def body(job):
            kept = str(values[self.ui.keep_bars] if keep is None else keep).strip()
            if not kept:
                raise FieldError("keep_bars", "choose a bar on the score, or type how many bars to keep, e.g. 4")
            r = self.page_request(values, opening=check_abc(values[self.ui.abc]), keep_bars=kept, form=None)
            what = "The first part is kept" if kept.upper() == "A" else f"Bars 1-{kept} are kept"
            yield {self.ui.seed: r.settings.seed}
            yield from self.write_tunes(r.header, check_opening(r.opening, self.sampler().vocab), r.form, r.settings,
                                   values[self.ui.history_state], job, values[self.ui.width],
                                   [f"{what} as they were; the rest is new. Undo brings back the tune before."])
        yield from self.guarded(request, "keep", body)

    def on_new_part(self, values: dict, request: gr.Request):
        """Keep the A part, ask for a new B part (and whatever follows it)."""
        yield from self.on_keep(values, request, keep="A")

    def on_continue(self, abc, form, temperature, top_k, seed, max_chars, num, history, width, request: gr.Request):
        """Write on from the tune in the ABC box, under its own header: a finished tune gets one more part
        (or the message says why it cannot), an unfinished one is written on in the form asked for."""
        def body(job):
            header = tune_header(check_abc(abc))
            asked = Request.read({"form": form}).form
            opening, form_code = continuation(abc, asked)
            note = f"Continue adds a part: the tune is written on as {form_code}." if form_code != asked else ""
            return self.write_tunes(header, check_opening(opening, self.sampler().vocab), form_code,
                               settings_of(temperature, top_k, seed, max_chars, num), history, job, width, [note])
        yield from self.guarded(request, "continue", body)

    def on_undo(self, abc, history, width, request: gr.Request):
        """Back one step: the tune in the history before the one shown (nothing is taken out of it)."""
        def body(job):
            entries = share.clean_history(history)
            shown_at = max((i for i, h in enumerate(entries) if h["abc"] == abc), default=len(entries))
            if shown_at < 1:
                raise FieldError("history", "there is no earlier tune in the history to go back to")
            before = entries[shown_at - 1]["abc"]
            return {self.ui.abc: before, self.ui.candidates: gr.update(visible=False),
                    self.ui.history: gr.update(value=shown_at - 1), **self.shown(before, job, width=width)}
        yield from self.guarded(request, "undo", body)

    def on_render(self, abc, width, request: gr.Request):
        """The ABC box as it is now, checked and shown again without the model."""
        yield from self.guarded(request, "render", lambda job: self.shown(check_abc(abc), job, width=width))

    def on_play(self, abc, instrument, swing, transpose, loop, speed, count_in, width, request: gr.Request):
        """The tune in the box, engraved again and with its audio, played as the Sound and practice
        controls say: audio is only made when asked for."""
        def body(job):
            play = sound.playing(instrument, swing, transpose, loop, speed, count_in)
            return self.shown(check_abc(abc), job, wav=True, play=play, width=width)
        yield from self.guarded(request, "play", body)

    def on_tempo(self, abc, bpm, width, request: gr.Request):
        """Set the tune's Q: to the control's tempo and show it again: notation, MIDI and audio follow Q:."""
        def body(job):
            beat = tempo.beat_of(check_abc(abc))
            low, high = tempo.bounds(beat)
            try:
                value = min(max(round(float(bpm)), low), high)
            except (TypeError, ValueError, OverflowError):
                raise FieldError("tempo", "the tempo control holds no number; move it and try again") from None
            new = tempo.with_tempo(abc, beat, value)
            return {self.ui.abc: new, **self.shown(new, job, width=width)}
        yield from self.guarded(request, "tempo", body)

    def on_pick_candidate(self, index, candidates, width, request: gr.Request):
        if not isinstance(index, int) or not 0 <= index < len(candidates or []):
            return
        chosen = candidates[index]
        yield from self.guarded(request, "candidate", lambda job: {
            self.ui.abc: chosen["abc"], **self.shown(chosen["abc"], job, report_text=chosen["report"], width=width)})

    def on_pick_history(self, index, history, width, request: gr.Request):
        ui = self.ui
        history = share.clean_history(history)
        if not isinstance(index, int) or not 0 <= index < len(history):
            return
        abc = history[index]["abc"]
        seed = re.search(r" · seed (\d+)$", history[index]["label"])   # the seed it was written with
        yield from self.guarded(request, "history", lambda job: {
            ui.abc: abc, ui.candidates: gr.update(visible=False), **({ui.seed: int(seed.group(1))} if seed else {}),
            **self.shown(abc, job, width=width)})

    def on_tune_type(self, kind):
        ui = self.ui
        t = TUNE_TYPES.get(kind)
        return {ui.meter: t.meter, ui.unit: t.unit, ui.tempo_field: t.tempo, ui.form: t.form} if t else {}

    def on_history_load(self, history):
        """The history kept in the browser, read as untrusted: what cannot be read is left out, the
        rest capped (abcgen.web.share.clean_history) and written back so it stays within bounds."""
        history = share.clean_history(history)
        return history, gr.update(choices=[(h["label"], i) for i, h in enumerate(history)], value=None)

    def on_tune_book(self, history, request: gr.Request):
        def body(job):
            if not share.clean_history(history):
                raise FieldError("history", "there are no tunes in the history yet; compose one first")
            with self.store.folder(job.client) as folder:
                path = self.store.write(folder, "abcgen-tunes.abc", share.tune_book(history).encode())
                return {self.ui.book: str(path),
                        self.ui.status: present.message("ok", "Your tune book is ready in the History tab.")}
        yield from self.guarded(request, "tune book", body, work=False)

    def on_share(self, values: dict):
        """The #fragment of a link that brings back these settings and this tune (assets/page.js makes the URL).
        A value longer than any field accepts is left out, so a link stays within what a page would take."""
        named = {name: values[c] for name, c in [*self.ui.fields.items(), ("abc", self.ui.abc)]}
        settings = {k: v for k, v in named.items() if not isinstance(v, str) or len(v) <= share.MAX_TUNE_CHARS}
        return "#" + share.pack(settings)

    def on_open_link(self, fragment, width, request: gr.Request):
        """A share link opened: its settings go back into the fields and its tune is shown."""
        def body(job):
            settings = share.unpack(fragment)
            if settings.get("type") not in TUNE_TYPES:
                settings.pop("type", None)
            fields = {c: settings[name] for name, c in self.ui.fields.items() if name in settings}
            if "seed" in settings:
                fields[self.ui.keep_seed] = True      # Compose writes the shared tune's seed again
            abc = settings.get("abc", "")
            if not abc:
                return {**fields, self.ui.status: present.message("ok", "The settings from the link are filled in.")}
            return {**fields, self.ui.abc: abc, **self.shown(check_abc(abc), job, width=width)}
        yield from self.guarded(request, "link", body)

    # ------------------------------------------------------------------ API endpoint

    def compose(self, meter: str | None = None, key: str = "D", unit: str | None = None, title: str = "",
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
        job = limits.job(request, self.request_seconds)
        with self.work.slot("api compose"):
            try:
                r = Request.read({k: (None if v == "" and k in FILLED_BY_TYPE else v) for k, v in values.items()})
                play = r.playing
                tunes = next(event.tunes for event in self.compose_tunes(r.header, r.opening, r.form, r.settings, job)
                             if isinstance(event, Composed))
            except Exception as e:
                raise api_error(e) from None
            # The best candidate that converts; a tune that cannot be converted still comes back as text,
            # with the reason in the report, since the request itself was fine.
            problem, paths, best, abc = "", None, tunes[0], tunes[0].abc
            for tune in tunes[:RENDER_TRIES]:
                try:
                    rendered = self.engrave(tune.abc, job, wav=True, play=play)
                    paths = self.hand_out(rendered, rendered.abc, job.client)
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


