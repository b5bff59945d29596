"""What the page shows about a tune, in a musician's words: the message line above the sheet music,
the sheet music itself, the validation report, and one distinct label per candidate."""
from __future__ import annotations

import html
import json
import logging
import re

from abcgen.abc import check as abctools
from abcgen.abc.header import header_field
from abcgen.abc.layout import bar_count
from abcgen.judge.analysis import pitch_name
from abcgen.render import files
from abcgen.web import limits
from abcgen.errors import CheckpointError, FieldError, RenderError
from abcgen.web.wording import plain, plain_lines

log = logging.getLogger(__name__)

# The page's label for each field a FieldError can name.
FIELD_LABELS = {"meter": "M: meter", "key": "K: key", "unit": "L: unit", "tempo": "Q: tempo",
                "title": "T: title", "x": "X: number", "opening": "Opening", "form": "Form",
                "temperature": "Temperature", "top_k": "Top-k", "top_p": "Top-p", "seed": "Seed",
                "max_chars": "Maximum length", "num": "Candidates", "ABC": "ABC", "link": "Link",
                "history": "History", "server": "Server", "model": "Model", "instrument": "Instrument",
                "swing": "Swing", "transpose": "Transpose to", "loop": "Loop", "speed": "Speed",
                "keep": "Keep bars", "keep_bars": "Keep bars"}
# The page's element for each field, so that the page can bring the field to fix into view.
FIELD_IDS = {"meter": "meter", "key": "key", "unit": "unit", "tempo": "tempo", "title": "title", "x": "x",
             "opening": "opening", "form": "form", "temperature": "temperature", "top_k": "top-k",
             "seed": "seed", "max_chars": "max-chars", "num": "num", "ABC": "abc", "keep": "keep-bars",
             "keep_bars": "keep-bars", "type": "tune-type"}


# --------------------------------------------------------------------------- the message line

def message(kind: str, *paragraphs: str, field: str = "") -> str:
    """The message line: kind is "error" (nothing was done), "warn" (done, but look) or "ok";
    `field` names the page element to fix (assets/page.js brings it into view)."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs if p)
    target = f' data-field="{html.escape(field)}"' if field else ""
    return f'<div class="status {kind}" role="status"{target}>{body}</div>'


def field_message(field: str, text: str) -> str:
    """A refused field: which one, what is wrong and how to fix it."""
    label = FIELD_LABELS.get(field, field)
    return message("error", f"<b>{html.escape(label)}</b>: {html.escape(plain(text))}",
                   field=FIELD_IDS.get(field, ""))


def failure(exc: BaseException) -> tuple[str, str]:
    """(what, message) for anything a request can fail with; never a traceback, never a path."""
    if isinstance(exc, FieldError):
        return exc.field, exc.message
    if isinstance(exc, RenderError):
        return "ABC", plain(str(exc))
    if files.is_disk_full(exc):
        return "server", str(exc) if isinstance(exc, files.DiskFull) else str(files.DiskFull())
    if isinstance(exc, limits.OutOfTime):
        return "server", str(exc)
    if isinstance(exc, CheckpointError):
        return "model", str(exc)
    log.exception("request failed")
    return "server", (f"something went wrong on the server ({type(exc).__name__}); try again, and if it "
                      "keeps happening, tell whoever runs this site")



def problem_text(p: abctools.Problem) -> str:
    where = f"bar {p.bar}: " if p.bar is not None and f"bar {p.bar}" not in p.message else ""
    line = f" (line {p.line})" if p.line is not None else ""
    return f"{where}{plain(p.message)}{line}"


def tune_message(report: abctools.Report, *notes: str, loop: str = "") -> str:
    """Whether the tune shown is valid; when it is not, its first problem, where it is and what to do.
    A valid tune that goes round in circles (`loop`, from the musical report) is not called valid."""
    notes = [html.escape(n) for n in notes if n]
    if report.valid and loop:
        return message("warn", f"<b>This tune goes round in circles</b>: {html.escape(loop)}. Compose again "
                       "with another seed for a tune whose phrases answer each other, or edit those bars "
                       "and press Render.", *notes)
    if report.valid:
        bars = f"{report.bars_checked} bars" if report.bars_checked else "the tune"
        return message("warn" if notes else "ok", f"<b>Valid tune</b>: {bars}, all the right length.", *notes)
    errors = report.errors
    more = len(errors) - 1
    first = html.escape(problem_text(errors[0])) if errors else "it could not be read"
    tail = f" ({more} more problem{'s' if more > 1 else ''} in the Report tab)" if more > 0 else ""
    return message("warn", f"<b>This tune is not valid</b>: {first}{tail}.",
                   "The sheet music shows the bars as written, wrong ones too: fix the ABC and press Render.",
                   *notes)


# --------------------------------------------------------------------------- notation and report

def score_name(abc: str) -> str:
    """What a screen reader says for the score: title, key, meter and bars."""
    title = header_field(abc, "T", "Untitled tune")
    bars = bar_count(abc)
    return (f"Sheet music: {title}, in {header_field(abc, 'K', '?')}, {header_field(abc, 'M', '?')}"
            + (f", {bars} bars" if bars else ""))


def first_bad_bar(report) -> int | None:
    """The bar the message line names first, which the score marks."""
    return next((p.bar for p in report.errors if p.bar is not None), None) if report and not report.valid else None


def sheet_html(svg_pages: list[str], timemap: list, abc: str, bad_bar: int | None = None) -> str:
    """The title and SVG pages, with the timemap that assets/follow.js uses to light up notes; the bar
    `bad_bar` (the one the message line names) marked, each bar numbered (data-n) for choosing it."""
    title = header_field(abc, "T")
    heading = f'<h2 class="tune-title" aria-hidden="true">{html.escape(title)}</h2>' if title else ""
    data = html.escape(json.dumps(timemap, separators=(",", ":")))
    pages = "".join(svg_pages)
    if bad_bar is not None:
        pages = re.sub(rf'class="measure"( data-n="{int(bad_bar)}")', r'class="measure bad"\1', pages)
    return (f'<div class="sheet" role="img" aria-label="{html.escape(score_name(abc))}" '
            f'data-timemap="{data}">{heading}{pages}</div>')


def empty_sheet(text: str = "Your tune will appear here.") -> str:
    return f'<div class="sheet empty">{html.escape(text)}</div>'


def report_text(report, repairs=(), requested_form="", achieved_form="", musical=None) -> str:
    """The validation report, then the musical one, what was repaired and the form asked for."""
    verdict = "Valid. " if report.valid else "Not valid. "
    if report.valid and musical is not None and musical.loop:
        verdict = f"Every bar is the right length, but the tune goes round in circles: {musical.loop}. "
    lines = [verdict + plain_lines(report.text())]
    if musical is not None:
        lines.append(musical.text())
    if repairs:
        lines.append("Repaired: " + "; ".join(repairs))
    if requested_form:
        lines.append("Form asked for: " + requested_form.strip().replace("\n", " "))
    if achieved_form:
        lines.append("Form written:   " + achieved_form.strip().replace("\n", " "))
    return "\n".join(lines)


# --------------------------------------------------------------------------- candidates and history

def _bar_texts(piece) -> list[str]:
    return [" ".join(n.text for n in bar.notes).strip() for bar in piece.bars]


def candidate_labels(tunes, analyses, pieces) -> list[str]:
    """One line per candidate that tells it from the others without opening it: validity, form as
    played, how it ends, how much recurs, its range, and its first bar that differs from the rest."""
    bars = [_bar_texts(p) for p in pieces]
    differ = next((i for i in range(max(map(len, bars), default=0))
                   if len({b[i] if i < len(b) else "" for b in bars}) > 1), None)
    labels = []
    for number, (tune, a, b) in enumerate(zip(tunes, analyses, bars), start=1):
        parts = [str(number), "valid" if tune.valid else f"{len(tune.report.errors)} problem(s)"]
        if a.loop:
            parts[1] = f"loops ({a.loop})"
        if a.plays_as:
            parts.append(f"{a.plays_as}, {a.bars} bars")
        if a.cadence_note:
            parts.append(f"ends on {a.cadence_note}" + (" (tonic)" if a.ends_on_tonic else " (not the tonic)"))
        if a.notes:
            parts.append(f"{a.recurring_share:.0%} of bars recur")
        if a.lowest:
            parts.append(f"range {pitch_name(a.lowest, a.lowest_midi)}–{pitch_name(a.highest, a.highest_midi)}")
        if differ is not None and differ < len(b):
            parts.append(f"bar {pieces[number - 1].bars[differ].number}: {b[differ][:24]}")
        labels.append(" · ".join(parts))
    return labels


def history_label(number: int, abc: str, valid: bool) -> str:
    name = header_field(abc, "T", "Untitled")
    problems = "" if valid else " · has problems"
    return f"{number}. {name} ({header_field(abc, 'M', '?')}, {header_field(abc, 'K', '?')}){problems}"
