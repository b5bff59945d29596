"""Read one ABC tune with music21 and engrave it: bounds, fix-ups, MusicXML and SVG.

ABC is read by music21 only; verovio sees nothing but music21's MusicXML, because
verovio's own ABC reader can crash the whole process on bad input and draws
repeat endings wrongly.

music21's cost grows much faster than the text for some values: a meter of
1000/1 takes it most of a minute to set up, one note 100,000,000 units long makes
it draw bars for ever. `check_fields` and `check_length` refuse such values, with
a message naming the field or line, before music21 builds anything from them;
`read_tune` also hands back the written length, so that a tune that would play
for hours can be refused before its score is built.
"""

from __future__ import annotations

import re
from fractions import Fraction

from abcgen.abc.header import (default_unit, field_line, meter_length, parse_meter, parse_tempo, parse_unit,
                               tempo_bpm)
from abcgen.abc.reader import INLINE_FIELD_RE, OPAQUE_RE, TUPLET_RE
from abcgen.errors import FieldError, RenderError

MAX_TUPLET = 16  # (p:q:r: at most 16 notes in the time of at most 16
MAX_BARS = 1_000  # bars as written, before repeats; a long folk tune has under 100

SVG_OPTIONS = {
    "pageWidth": 2000,  # with scale 40 the page is 800 px wide
    "scale": 40,
    "adjustPageHeight": True,
    "breaks": "auto",
    "header": "none",  # the app shows the title itself
    "footer": "none",
    "svgViewBox": True,  # scales to its container on a web page
    "xmlIdSeed": 1,  # same tune, same ids
    "svgAdditionalAttribute": ["measure@n"],  # data-n: the bar's number, for choosing a bar on the page
}
SCALE = 40           # verovio's zoom: page width in px = pageWidth * SCALE / 100
NARROW_SCALE = 46    # a phone's box: a little larger, so a staff stays over 30 px tall
WIDTHS = (240, 1600)  # box widths (CSS px) engraved for; others are brought into this range


def plain_error(exc: BaseException) -> str:
    """music21's messages can be long token dumps; keep the first line, briefly."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 160:
        text = text[:157] + "..."
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind


# --------------------------------------------------------------------------- bounds

_FIELD_NAMES = {"M": "meter", "L": "unit note length", "Q": "tempo"}
_SEVERAL_BEATS_RE = re.compile(r"\d+/\d+\s+\d+/\d+")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _fields(text: str) -> list[tuple[int, str, str]]:
    """(offset, letter, value) of the M:, L: and Q: fields, on lines of their own and inline
    ([M:3/4]), in text order."""
    found, pos = [], 0
    for line in text.split("\n"):
        m = field_line(line)
        if m and m.group(1) in _FIELD_NAMES:
            found.append((pos, m.group(1), m.group(2)))
        pos += len(line) + 1
    found += [(m.start(), m.group(1), m.group(2)) for m in INLINE_FIELD_RE.finditer(text)
              if m.group(1) in _FIELD_NAMES]
    return sorted(found)


def _tuplets(text: str):
    """The tuplets of the music: text that is not music (OPAQUE_RE) blanked out, but for tuplet
    ratios such as "(3::2", which OPAQUE_RE takes whole for readers that skip them."""
    music = OPAQUE_RE.sub(lambda m: m.group(0) if m.group(0)[0] == "(" else " " * len(m.group(0)), text)
    return TUPLET_RE.finditer(music)


def _check_tempo(value: str) -> None:
    """parse_tempo's bounds; a beat of several note values (Q:1/4 3/8 1/4 3/8=40, which
    the ABC standard allows) passes when each value and the tempo are in range."""
    try:
        parse_tempo(value)
    except FieldError:
        several = re.sub(r'"[^"]*"', " ", value)
        if not _SEVERAL_BEATS_RE.search(several):
            raise
        for beat in re.findall(r"\d+/\d+", several):
            parse_tempo(beat + "=" + several.split("=")[-1].strip())
        if tempo_bpm(value, default=0.0) <= 0:
            raise


def check_fields(text: str) -> None:
    """Refuse meters, unit lengths, tempos and tuplets that music does not use.

    Checks every M:, L: and Q: field, in the header, on lines of their own in the
    body and inline ([M:3/4]), and every tuplet; raises RenderError naming the field
    and its line and saying what is allowed.
    """
    for pos, letter, value in _fields(text):
        value = value.split("%")[0].strip()
        try:
            {"M": parse_meter, "L": parse_unit, "Q": _check_tempo}[letter](value)
        except FieldError as exc:
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise RenderError(f"The {_FIELD_NAMES[letter]} {letter}:{shown} on line {_line(text, pos)} "
                              f"cannot be converted: {exc.message}.") from None
    for m in _tuplets(text):
        numbers = [int(n) for n in m.groups() if n]
        if numbers[0] == 0 or max(numbers[:2]) > MAX_TUPLET:
            raise RenderError(f"The tuplet {m.group(0)} on line {_line(text, m.start())} cannot be converted: "
                              f"a tuplet puts at most {MAX_TUPLET} notes in the time of at most {MAX_TUPLET}; "
                              "write it like (3 or (3:2:3.")


def written_quarters(handler) -> list[Fraction]:
    """Each voice's notes added up as written, in quarter notes (grace notes take no time;
    tuplets as played). Repeats only ever add to this, so it is a floor on the playing time."""
    from music21 import abcFormat

    voices = handler.splitByVoice()
    lengths = []
    for voice in voices[1:] if len(voices) > 1 else voices:  # the first of several holds the header
        total = Fraction(0)
        for token in voice.tokens:
            if isinstance(token, abcFormat.ABCNote) and not token.inGrace:
                length = Fraction(token.quarterLength).limit_denominator(10**6)
                if token.activeTuplet is not None:
                    length *= Fraction(token.activeTuplet.tupletMultiplier()).limit_denominator(10**6)
                total += length
        lengths.append(total)
    return lengths


def check_length(quarters: list[Fraction], text: str) -> None:
    """Refuse a tune written longer than MAX_BARS bars (all voices; repeats not played).

    The bars are counted in the shortest bar of any meter the tune uses (4/4 in free meter).
    """
    meters = [parse_meter(value.split("%")[0]) for _, letter, value in _fields(text) if letter == "M"]
    bar = min((meter_length(m) for m in meters if meter_length(m)), default=Fraction(1)) * 4
    bars = sum(quarters) / bar
    if bars > MAX_BARS:
        raise RenderError(f"The tune's notes add up to about {float(bars):,.0f} bars; abcgen converts tunes "
                          f"of at most {MAX_BARS:,} bars (repeats not counted): shorten the notes or split "
                          "the tune into several.")


# --------------------------------------------------------------------------- parsing


def first_tune(abc: str) -> str:
    """The text music21 is given: the first tune of a book, with the fix-ups it needs.

    Raises RenderError when there is no tune at all.
    """
    if not abc or not abc.strip():
        raise RenderError("The tune is empty: there is no ABC to convert.")
    if not re.search(r"^\s*K:", abc, re.MULTILINE):
        raise RenderError("This is not an ABC tune: it has no K: (key) line, which ends the header.")
    tune_starts = [m.start() for m in re.finditer(r"^X:", abc, re.MULTILINE)]
    if len(tune_starts) > 1:
        abc = abc[: tune_starts[1]]  # a tune book: its first tune (and any file header)
    abc = re.sub(r"^([ \t]*Q:)(.*)$", _tidy_tempo_field, abc, flags=re.MULTILINE)
    unit = _default_unit(abc)
    if unit:
        abc = re.sub(r"^(\s*X:.*\n)?", lambda m: (m.group(0) or "") + f"L:{unit}\n", abc, count=1)
    return abc


def _default_unit(abc: str) -> str | None:
    """The unit note length ABC gives a tune whose header has no L: (abc_fields.default_unit:
    1/16 for bars shorter than 3/4, else 1/8), written out because music21 refuses a tune
    without L: and M: and counts M:2+3/8 in eighths; None when the header has an L: (or a
    meter check_fields will refuse)."""
    head = abc[: re.search(r"^\s*K:", abc, re.MULTILINE).start()]
    fields = dict(reversed([m.groups() for m in map(field_line, head.split("\n")) if m]))
    if "L" in fields:
        return None
    try:
        return default_unit(parse_meter(fields["M"].split("%")[0]) if "M" in fields else "none")
    except FieldError:
        return None


def read_tune(abc: str):
    """music21's reading of the tune's tokens, and each voice's written length (written_quarters).

    Fields and the written length are checked first (see the module docstring); RenderError
    with a plain message on anything music21 cannot read.
    """
    from music21 import abcFormat

    text = first_tune(abc)
    check_fields(text)
    try:
        handler = abcFormat.ABCFile().readstr(text)
        quarters = written_quarters(handler)
    except Exception as exc:  # music21 raises many unrelated exception kinds
        raise RenderError(f"Could not read the tune ({plain_error(exc)}).") from None
    check_length(quarters, text)
    return handler, quarters


def build_score(handler):
    """The music21 score from read_tune's handler, bars made and repeat signs tidied."""
    from music21 import stream
    from music21.abcFormat import translate

    try:
        if handler.definesReferenceNumbers():
            score = translate.abcToStreamOpus(handler)
        else:
            score = translate.abcToStreamScore(handler)
    except Exception as exc:
        raise RenderError(f"Could not read the tune ({plain_error(exc)}).") from None
    if isinstance(score, stream.Opus):
        if not score.scores:
            raise RenderError("The text holds no tune.")
        score = score.scores[0]
    if not score.recurse().notes:
        raise RenderError("The tune has no notes to convert.")
    for part in parts(score):
        if not part.getElementsByClass(stream.Measure):
            # music21 makes no bars for a tune with fewer than two plain bar lines
            part.makeMeasures(inPlace=True)
        _mark_repeat_starts(part)
        _number_bars(part)
    return score


def _number_bars(part) -> None:
    """Number the bars as the validator and the musical report do: a pickup is bar 0, the first
    full bar is bar 1 (music21 numbers a tune's first bar 0 whenever it lacks an opening repeat)."""
    from music21 import stream
    measures = list(part.getElementsByClass(stream.Measure))
    if measures and measures[0].number == 0 and not measures[0].paddingLeft:
        for m in measures:
            m.number += 1


def parse_score(abc: str):
    """Read one ABC tune with music21 (read_tune, then build_score); a tune book gives its first tune."""
    return build_score(read_tune(abc)[0])


def _tidy_tempo_field(match: re.Match) -> str:
    """Q: with single spaces and none around '='.

    music21 counts every empty word in the beat as a whole note, so "Q:1/4 =50"
    would become five quarter notes = 50.
    """
    value = " ".join(match.group(2).split())
    return match.group(1) + re.sub(r" ?= ?", "=", value)


def _mark_repeat_starts(part) -> None:
    """Make the repeat signs say what folk ABC means by them.

    A ':|' with no '|:' before it repeats back to the previous ':|' (ABC often
    leaves out the '|:' of a second part), and a '|:' that is never closed is
    dropped. Left alone, music21 would replay the whole tune or give up, and
    verovio would do something else again, so audio and note highlighting would
    disagree.
    """
    from music21 import bar, spanner, stream

    def is_repeat(barline, direction):
        return isinstance(barline, bar.Repeat) and barline.direction == direction

    measures = list(part.getElementsByClass(stream.Measure))
    in_ending = {id(m) for rb in part.spannerBundle.getByClass(spanner.RepeatBracket) for m in rb.getSpannedElements()}
    section, open_start = 0, None
    for i, m in enumerate(measures):
        if is_repeat(m.leftBarline, "start"):
            if open_start is not None:
                measures[open_start].leftBarline = None
            open_start = i
        if is_repeat(m.rightBarline, "end"):
            if open_start is None and 0 < section <= i and id(measures[section]) not in in_ending:
                measures[section].leftBarline = bar.Repeat(direction="start")
            section, open_start = i + 1, None
            while section < len(measures) and id(measures[section]) in in_ending:
                section += 1
    if open_start is not None:
        measures[open_start].leftBarline = None


def parts(score):
    """The score's parts; a score without parts is its own single part."""
    from music21 import stream

    found = list(score.parts) if isinstance(score, stream.Score) else []
    return found or [score]


# --------------------------------------------------------------------------- MusicXML and SVG


def to_musicxml(score) -> str:
    """MusicXML text, without music21's placeholder title and composer.

    Unlike music21's own export this does not pad short bars (the bar before a
    repeat that completes a pickup) with hidden rests, so verovio's timemap keeps
    in step with `note_events`. The score gets its beams and ties in place instead
    of on a copy: copying a score with slurs costs 3-4 times the export itself.
    """
    from music21 import stream
    from music21.musicxml.m21ToXml import GeneralObjectExporter, ScoreExporter

    try:
        _writable_tempo_marks(score)
        if score.metadata is not None and not score.metadata.title:
            score.metadata.title = " "  # otherwise music21 writes "Music21 Fragment"
        if isinstance(score, stream.Score):
            score.makeNotation(inPlace=True)
            exporter = ScoreExporter(score, makeNotation=True)
            exporter.parse()
            xml = exporter.asBytes().decode("utf-8")
        else:
            xml = GeneralObjectExporter(score).parse().decode("utf-8")
    except Exception as exc:
        raise RenderError(f"Could not write MusicXML for the tune ({plain_error(exc)}).") from None
    return xml.replace('<creator type="composer">Music21</creator>', "")


def _writable_tempo_marks(score) -> None:
    """Make every metronome mark one that MusicXML can write as "note value = number".

    ABC allows a beat of several note values ("Q:1/4 3/8 1/4 3/8=40") or of a value
    no single note shows ("Q:5/8=60"). music21 keeps such a beat as a complex
    duration, and its MusicXML export then fails with "Cannot convert complex
    durations"; the mark becomes quarter notes at the same speed instead. A mark
    with no beat length or a tempo of zero or less makes music21 divide by zero and
    means nothing, so it is dropped (the audio never takes its tempo from these marks).
    """
    from music21 import duration, tempo
    from music21.musicxml.m21ToXml import typeToMusicXMLType
    from music21.musicxml.xmlObjects import MusicXMLExportException

    for mark in list(score.recurse().getElementsByClass(tempo.MetronomeMark)):
        beat = float(mark.referent.quarterLength)
        numbers = [n for n in (mark.number, mark.numberSounding) if n is not None]
        if beat <= 0 or any(n <= 0 for n in numbers):
            score.remove(mark, recurse=True)
            continue
        try:
            typeToMusicXMLType(mark.referent.type)
        except MusicXMLExportException:
            implicit = mark.numberImplicit  # an implied number stays unprinted
            if mark.number is not None:
                mark.number = round(mark.number * beat, 2)
            if mark.numberSounding is not None:
                mark.numberSounding = mark.numberSounding * beat
            mark.numberImplicit = implicit
            mark.referent = duration.Duration(1.0)


_toolkit = None


def _verovio():
    """One toolkit per process: creating it loads fonts, which takes a while."""
    global _toolkit
    if _toolkit is None:
        import verovio

        verovio.enableLog(False)
        _toolkit = verovio.toolkit()
    return _toolkit


def svg_options(width: int | None = None) -> dict:
    """Verovio's options for a sheet shown in a box `width` CSS pixels wide (None: 800 px): lines
    are broken to fit the box, so no line needs scrolling sideways."""
    try:
        width = min(max(int(width), WIDTHS[0]), WIDTHS[1]) if width else None
    except (TypeError, ValueError, OverflowError):
        width = None
    if width is None:
        return dict(SVG_OPTIONS)
    scale = NARROW_SCALE if width < 600 else SCALE
    return {**SVG_OPTIONS, "scale": scale, "pageWidth": round(width * 100 / scale)}


def to_svg(musicxml: str, bpm: float | None = None, width: int | None = None) -> tuple[list[str], list[dict]]:
    """Engrave MusicXML with verovio, fitted to a box `width` px wide (svg_options): one SVG per page
    and the note timemap.

    The timemap lists {"tstamp" (ms), "qstamp" (quarter notes), "on", "off"} with
    repeats played out; ids of repeated notes are reduced to the engraved note's id,
    so every id in it is found in the SVG. With `bpm`, tstamp follows that tempo
    instead of the one written in the score.
    """
    tk = _verovio()
    tk.setOptions(svg_options(width))
    if not tk.loadData(musicxml):
        raise RenderError("Could not engrave the tune: the sheet music renderer rejected the MusicXML.")
    pages = [tk.renderToSVG(page) for page in range(1, tk.getPageCount() + 1)]
    timemap = []
    for entry in tk.renderToTimemap():
        entry = dict(entry)
        for key in ("on", "off"):
            if key in entry:
                entry[key] = [re.sub(r"-rend\d+$", "", i) for i in entry[key]]
        if bpm:
            entry["tstamp"] = round(entry["qstamp"] * 60000.0 / bpm, 3)
            if "tempo" in entry:
                entry["tempo"] = bpm
        timemap.append(entry)
    return pages, timemap
