"""The one call the app and the CLI share: fields in, ranked and checked tunes out.

Samples candidates, repairs what can be repaired without changing the music, validates them,
resamples the ones that still fail or go round in circles (a bounded number of tries, new seeds
derived from the user's), and ranks them so the best comes first: valid, then not looping one bar,
then landing on the key's tonic, then in its type's voice (phrases that come back where the
type's do, the type's rhythm), then bars of the right length, then how much it sounds like a
tune (`abcgen.judge.critic`). The tunes handed back carry a musical report (`abcgen.judge.analysis`).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Iterator

from abcgen.abc import check as abctools
from abcgen.abc import header as abcfields
from abcgen.judge import analysis, critic
from abcgen.abc import form as formtools
from abcgen.abc.layout import layout
from abcgen.errors import FieldError, RenderError
from abcgen.render import audio, notation
from abcgen.sampling.asked import MAX_CANDIDATES, Header, Settings, check_opening
from abcgen.sampling.sample import Candidate, Finished, Progress, Sampler, candidate_settings

MAX_RETRIES = 3
SPARE = 3          # extra candidates sampled in the first batch when resampling is on
MIN_BARS = 8       # a tune with fewer full bars does not start the batch's last stretch


@dataclass
class Tune:
    abc: str                      # full tune text, header with the user's X and title
    report: abctools.Report
    candidate: Candidate
    repairs: list[str] = field(default_factory=list)
    requested_form: str = ""
    achieved_form: str = ""
    files: dict = field(default_factory=dict)   # format -> path, once rendered to files
    music: analysis.MusicalReport | None = None

    @property
    def valid(self) -> bool:
        return self.report.valid

    @property
    def loop(self) -> str:
        """What makes the tune go round in circles ("" when nothing does)."""
        return self.music.loop if self.music else ""

    def to_dict(self) -> dict:
        return {"abc": self.abc, "valid": self.valid, "report": self.report.to_dict(),
                "repairs": self.repairs, "ended_by_model": self.candidate.ended,
                "closing": self.candidate.closing, "requested_form": self.requested_form,
                "achieved_form": self.achieved_form, "files": {k: str(v) for k, v in self.files.items()},
                "music": self.music.to_dict() if self.music else None, "loop": self.loop}


@dataclass(frozen=True)
class Composed:
    """What `compose_stream` yields last: the ranked tunes, best first (its progress is the
    sampler's own `Progress`)."""
    tunes: list[Tune]


def tune_text(candidate: Candidate, keep: int = 0) -> tuple[str, list[str]]:
    """A candidate's text as it is handed out: repaired where that changes no music, and laid out
    as tune books are (four bars a line; the first `keep` characters of the body, the opening,
    as written); and the repairs made."""
    fixed, changes = abctools.repair(candidate.abc)
    return layout(fixed, keep), changes


def check(candidate: Candidate, requested_form: str = "", keep: int = 0) -> Tune:
    """Repair, lay out and validate one sampled candidate (`tune_text`); where abc2midi is
    installed, its errors count too, so a tune called valid also plays in standard ABC tools."""
    fixed, changes = tune_text(candidate, keep)
    _, body = abcfields.split_tune(fixed)
    report = abctools.validate(fixed)
    report.problems += abc2midi_problems(fixed)
    return Tune(abc=fixed, report=report, candidate=candidate,
                repairs=candidate.closing + changes, requested_form=requested_form,
                achieved_form=formtools.control_code(body), music=analysis.analyse(fixed, originality=False))


_ABC2MIDI_ERROR = re.compile(r"Error in line-char (\d+)-(\d+)\s*:\s*(.*)")


def abc2midi_problems(abc: str) -> list[abctools.Problem]:
    """abc2midi's errors as report problems; none when abc2midi is not installed."""
    problems = []
    for line in abctools.abc2midi_errors(abc) or []:
        m = _ABC2MIDI_ERROR.match(line)
        if m:
            problems.append(abctools.Problem("error", f"abc2midi: {m.group(3).strip()}",
                                             line=int(m.group(1)), col=int(m.group(2)) + 1))
        elif line.startswith("Error"):
            problems.append(abctools.Problem("error", f"abc2midi: {line}"))
    return problems


def rank_key(t: Tune):
    r = t.report
    share = r.bars_ok / r.bars_checked if r.bars_checked else 0.0
    tonic = bool(t.music and t.music.ends_on_tonic)
    kind = t.candidate.header.kind
    misfits = len(critic.misfits(t.music, kind)) if t.music else 2
    sounds = critic.score(t.music, kind) if t.music else 0.0
    return (not r.valid, bool(t.loop), not tonic, misfits, -share, -sounds, not t.candidate.ended, len(r.warnings))


def acceptable(t: Tune, requested: str) -> bool:
    """Valid, not looping, landing on the tonic and (where no form was asked for) long enough to be
    a whole tune: the first such tune starts the batch's last stretch (`Sampler.stream`'s grace)."""
    return (t.valid and not t.loop and (bool(requested) or t.report.bars_checked >= MIN_BARS)
            and bool(t.music.ends_on_tonic))


def check_opening_time(header: Header, opening: str) -> None:
    """Refuse, before any sampling, an opening whose notes alone play past the playing-time limit
    (the tune can only be longer): FieldError naming the opening. An opening music21 cannot read as
    it stands (a repeat left open, say) is left to the model, which writes on from it."""
    if not opening.strip():
        return
    abc = header.full() + opening + "\n"
    try:
        _, quarters = notation.read_tune(abc)
        tempo = audio.default_bpm(abc)
        audio.check_playing_time(float(max(quarters, default=0)) * 60 / tempo,
                                 audio.tempo_label(abc, tempo, asked=False))
    except RenderError as exc:
        text = str(exc)
        if "plays for" in text or "add up to" in text:
            raise FieldError("opening", text.replace("The tune plays", "its notes alone play")
                                            .replace("The tune's notes", "its notes")) from None


def compose_stream(sampler: Sampler, header: Header, opening: str = "", form: str = "",
                   settings: Settings = Settings(), retries: int = 2,
                   spare: int = SPARE, deadline: float | None = None) -> Iterator[Progress | Composed]:
    """Yields the partial bodies while the model writes (`Progress`), then the ranked `settings.num`
    tunes (`Composed`).

    With retries, `spare` extra candidates ride along in the first batch (a batch of 4 costs about
    what one tune does), so a valid tune is usually found without a second round of sampling, and
    the best of the batch is chosen by `rank_key`. Once `settings.num` tunes are finished and
    valid, the others have half as long again to finish (`sample.GRACE`): taking the first tune to
    finish would favour the shortest, and with it straight rhythms over dotted ones (a
    strathspey's `A>B` takes a character more than a reel's `AB`), while waiting for every row
    would wait for the one that rambles on. `deadline` (a `time.monotonic()` value) bounds the
    whole call: sampling stops there and no retry starts."""
    settings = settings.checked()
    check_opening_time(header, opening)
    retries = max(0, min(int(retries), MAX_RETRIES))
    wanted = settings.num
    first = replace(settings, num=min(MAX_CANDIDATES, wanted + spare)) if retries else settings
    requested = formtools.parse_form(form).code
    keep = len(check_opening(opening, sampler.vocab))    # the opening, as the body starts with it
    tunes: list[Tune] = []
    checked: dict[str, Tune] = {}     # body -> its check, so no candidate is checked twice

    def accept(c: Candidate) -> bool:
        t = checked[c.body] = check(c, requested, keep)
        return acceptable(t, requested)

    for event in sampler.stream(header, opening, form, first, accept=accept if retries else None,
                                enough=wanted if retries else 0, deadline=deadline):
        if isinstance(event, Finished):
            tunes = sorted((checked.get(c.body) or check(c, requested, keep) for c in event.candidates),
                           key=rank_key)
        else:
            yield Progress(event.bodies[:wanted])
    for attempt in range(1, retries + 1):
        bad = [i for i, t in enumerate(tunes[:wanted]) if not t.valid or t.loop]
        if not bad or (deadline is not None and time.monotonic() >= deadline):
            break
        again = sampler.sample(header, opening, form, replace(candidate_settings(settings, attempt), num=len(bad)),
                               deadline=deadline)
        tunes = sorted(tunes + [check(c, requested, keep) for c in again], key=rank_key)
    best = tunes[:wanted]
    for t in best:      # the full report, originality included, only for the tunes handed back
        t.music = analysis.analyse(t.abc)
    yield Composed(best)


def compose(sampler: Sampler, header: Header, opening: str = "", form: str = "",
            settings: Settings = Settings(), retries: int = 2, deadline: float | None = None) -> list[Tune]:
    """The ranked tunes of `compose_stream`, without its progress."""
    for event in compose_stream(sampler, header, opening, form, settings, retries, deadline=deadline):
        if isinstance(event, Composed):
            return event.tunes
    raise AssertionError("compose_stream ended without its Composed event")
