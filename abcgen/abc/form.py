"""Tune form as IrishMAN control codes: sections (S), bars per section (B) and
how much each section resembles the earlier ones (E).

A code reads, one value a line, ``S:n``, the ``B:`` of section 1, then for each
later section its ``E:`` values against sections 1, 2, ... followed by its ``B:``.
Training tunes are prefixed with the code of their own body, so a code (or a
prefix of one) given as a prompt asks the model for that form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from abcgen.abc.reader import BAR_RE, OPAQUE_RE, is_section_delimiter
from abcgen.errors import FieldError

MAX_SECTIONS = 8
MAX_BARS = 32
MAX_SIMILARITY = 10

# A run of bar lines and whitespace, to find the bar lines at a section's ends.
_EDGE = re.compile(rf"(?:\s|{BAR_RE.pattern})+")

# A piece that opens with an ending number ("2 efe^d", "[2 efe^d", "|2 efe^d") continues
# the section before it: the cut before it was a second-ending repeat, not a section end.
_ENDING_START = re.compile(r"\s*[\[|]?\d")

_NOTE = re.compile(r"[A-Ga-gxzXZ]")


def _mask(body: str) -> str:
    """The body with text that is not notes or bar lines (OPAQUE_RE) blanked out, same length, so
    positions still match."""
    return OPAQUE_RE.sub(lambda m: " " * len(m.group()), body)


def _section_spans(body: str) -> list[tuple[int, int]]:
    """(start, end) of each section in the body."""
    masked = _mask(body)
    cuts = [m.end() for m in BAR_RE.finditer(masked) if is_section_delimiter(m.group())]
    pieces, start = [], 0
    for end in cuts + [len(body)]:
        if end > start:
            pieces.append((start, end))
        start = end

    spans: list[tuple[int, int]] = []
    pending = None  # start of music-free text waiting to join the next section
    for start, end in pieces:
        text = masked[start:end]
        if spans and _ENDING_START.match(text):
            spans[-1] = (spans[-1][0], end)
        elif not _NOTE.search(text):
            # A lone "|:" or blank tail holds no music, so it is not a section; a
            # start-repeat belongs to the section it opens.
            pending = start if pending is None else pending
            continue
        else:
            spans.append((start if pending is None else pending, end))
        pending = None
    return spans


def sections(body: str) -> list[str]:
    """The body's section texts, each ending with the delimiter that closes it."""
    return [body[start:end] for start, end in _section_spans(body)]


def _bar_count(section: str) -> int:
    """Bar lines inside the section (those at either end left out), plus one."""
    text = _mask(section)
    edges = list(_EDGE.finditer(text))
    start = edges[0].end() if edges and edges[0].start() == 0 else 0
    end = edges[-1].start() if edges and edges[-1].end() == len(text) else len(text)
    return len(BAR_RE.findall(text[start:end])) + 1


def similarity(a: str, b: str) -> int:
    """IrishMAN's E value: 10 * (1 - edit distance / longer length), rounded."""
    longest = max(len(a), len(b))
    if longest == 0:
        return MAX_SIMILARITY
    return round(10 * (1 - Levenshtein.distance(a, b) / longest))


@dataclass
class Form:
    """A tune form; None (or a missing entry) means the model chooses that value."""

    sections: int | None = None
    bars: list[int | None] = field(default_factory=list)
    # similarity[i]: E of section i+1 against sections 1..i; similarity[0] == [].
    similarity: list[list[int | None]] = field(default_factory=list)


def body_form(body: str) -> Form:
    """The form a body actually has (no range limits, so long tunes can be measured)."""
    texts = sections(body)
    return Form(
        sections=len(texts),
        bars=[_bar_count(t) for t in texts],
        similarity=[[similarity(t, earlier) for earlier in texts[:i]] for i, t in enumerate(texts)],
    )


def control_code(body: str) -> str:
    """The IrishMAN control code of a body; "" when the body holds no music."""
    form = body_form(body)
    if not form.sections:
        return ""
    return _format(form)


def _format(form: Form) -> str:
    """Code lines in IrishMAN order, up to the first value that is not known."""
    lines = []
    for kind, value in _values(form):
        if value is None:
            break
        lines.append(f"{kind}:{value}\n")
    return "".join(lines)


def _values(form: Form):
    """(kind, value) in code order, with None where the form stops being specified."""
    yield "S", form.sections
    if form.sections is None:
        return
    for i in range(form.sections):
        given = form.similarity[i] if i < len(form.similarity) else []
        for j in range(i):
            yield "E", given[j] if j < len(given) else None
        yield "B", form.bars[i] if i < len(form.bars) else None


_HOW_TO = (
    "name the parts as musicians do: AABB (two parts, each played twice), AABBCC, AB, ABC, and "
    "'AABB 16' for 16-bar parts; or write the form as codes in this order: S:<sections 1-8>, B:<bars of section 1>, "
    "then for each later section one E:<similarity 0-10> per earlier section and its B:<bars 1-32>, "
    "e.g. 'S:2 B:8 E:5 B:8'"
)

_LIMITS = {"S": (1, MAX_SECTIONS), "B": (1, MAX_BARS), "E": (0, MAX_SIMILARITY)}
_NAMES = {"S": "sections", "B": "bars", "E": "similarity"}


def _error(message: str) -> FieldError:
    return FieldError("form", f"{message}; {_HOW_TO}")


def _parse(code: str, check_limits: bool) -> Form:
    """Read a code or a prefix of one, checking the order of values as it goes."""
    if len(code) > 1000:
        raise _error(f"the form is {len(code)} characters long; a form code is at most 1000")
    text = re.sub(r"\s*:\s*", ":", code.strip())
    tokens = [t for t in re.split(r"[\s,;]+", text) if t]
    form = Form()
    for token in tokens:
        m = re.fullmatch(r"([SBEsbe]):(\d+)", token)
        if not m:
            raise _error(f"cannot read {token!r}")
        kind, value = m.group(1).upper(), int(m.group(2))
        low, high = _LIMITS[kind]
        if check_limits and not low <= value <= high:
            raise _error(f"{kind}:{value} is out of range, {_NAMES[kind]} must be {low}-{high}")
        _add(form, kind, value)
    return form


def _add(form: Form, kind: str, value: int) -> None:
    """Put one value into the form where the code order says the next one goes."""
    if form.sections is None:
        if kind != "S":
            raise _error(f"the code must start with S:<sections>, not {kind}:{value}")
        form.sections = value
        return
    if kind == "S":
        raise _error("S: may appear only once, at the start")
    begun = len(form.similarity)  # sections whose values have begun
    if begun == len(form.bars):  # the last begun section is complete, so this value opens the next
        if begun == form.sections:
            raise _error(f"S:{form.sections} declares {form.sections} section(s) but more are given")
        if kind == "E" and begun == 0:
            raise _error("section 1 has no earlier section to compare with; give its B: first")
        form.similarity.append([])
        begun += 1
    values, needed = form.similarity[-1], begun - 1
    if kind == "E":
        if len(values) == needed:
            raise _error(f"section {begun} takes {needed} E: value(s), one per earlier section; got more")
        values.append(value)
    else:
        if len(values) < needed:
            raise _error(f"section {begun} needs {needed} E: value(s) before its B:, got {len(values)}")
        form.bars.append(value)


def parse_code(code: str) -> Form:
    """Read a user's form code (spaces, newlines or commas between values; a prefix is fine)."""
    return _parse(code, check_limits=True)


def _check(form: Form) -> None:
    """Reject a form whose known values are out of range or do not fit its S."""
    if form.sections is not None:
        if len(form.bars) > form.sections or len(form.similarity) > form.sections:
            raise _error(f"S:{form.sections} declares {form.sections} section(s) but more are given")
        for i, values in enumerate(form.similarity):
            if len(values) > i:
                raise _error(f"section {i + 1} takes {i} E: value(s), one per earlier section; got {len(values)}")
    # Re-reading the formatted prefix applies the range rules in one place.
    _parse(_format(form), check_limits=True)


def format_code(form: Form) -> str:
    """Canonical code text, stopping at the first unknown value (that prefix is the prompt)."""
    _check(form)
    return _format(form)


def code_prefix(text: str) -> str:
    """The user's form text as the canonical prompt prefix; "" lets the model choose."""
    return format_code(parse_code(text))


def within_limits(code_or_form: str | Form) -> bool:
    """IrishMAN keeps tunes of at most 8 sections with no section over 32 bars."""
    form = code_or_form if isinstance(code_or_form, Form) else _parse(code_or_form, check_limits=False)
    if form.sections is not None and not 1 <= form.sections <= MAX_SECTIONS:
        return False
    return all(b is None or 1 <= b <= MAX_BARS for b in form.bars)


def matches(requested: Form, achieved: Form) -> dict:
    """How well a tune's form (body_form of it) meets the request; None where nothing was asked."""
    result = {"sections": None, "bars": None, "similarity_mean_abs_diff": None}
    if requested.sections is not None:
        result["sections"] = requested.sections == achieved.sections
    asked_bars = [(i, b) for i, b in enumerate(requested.bars) if b is not None]
    if asked_bars:
        result["bars"] = all(i < len(achieved.bars) and achieved.bars[i] == b for i, b in asked_bars)
    diffs = [
        abs(value - achieved.similarity[i][j])
        for i, values in enumerate(requested.similarity)
        for j, value in enumerate(values)
        if value is not None and i < len(achieved.similarity) and j < len(achieved.similarity[i])
    ]
    if diffs:
        result["similarity_mean_abs_diff"] = sum(diffs) / len(diffs)
    return result


# --- forms as musicians name them ----------------------------------------------------------------

MUSICIAN_BARS = 8          # bars in a part when the form does not say
MUSICIAN_SIMILARITY = 5    # E asked of each later part: the folk corpus's median for two-part tunes
_MUSICIAN = re.compile(r"([A-H]+)(?:[\s,;]+(\d+)(?:\s*bars?)?(?:\s+each)?)?", re.I)


@dataclass(frozen=True)
class Request:
    """A requested form, as the sampler's bar clock enforces it and the prompt asks for it.

    From an IrishMAN code (`S:2 B:9 E:5 B:9`) bars count as the codes count them, a pickup as a
    bar. From a musician's name (`AABB`, `AABBCC`, `AB 16`) each part has that many full bars, a
    pickup comes on top, and a part named twice in a row is written once between repeat signs
    (`|: ... :|`), so every ABC player plays it twice."""
    code: str = ""                           # the control code the prompt starts with
    sections: int | None = None
    bars: tuple[int | None, ...] = ()
    repeats: tuple[bool, ...] = ()           # per section: written |: ... :|
    full_bars: bool = False                  # bars counted as musicians count them
    name: str = ""                           # "AABB", or the code

    @property
    def plays_as(self) -> str:
        """What the form sounds like: "AABB" for two repeated parts."""
        letters = "ABCDEFGH"
        return "".join(letters[i] * (2 if r else 1) for i, r in enumerate(self.repeats))


def parse_form(text: str | None) -> Request:
    """A musician's form name or an IrishMAN code (or a prefix of one); empty: the model chooses."""
    text = (text or "").strip()
    if not text:
        return Request()
    m = _MUSICIAN.fullmatch(text)
    if m is None:
        code = code_prefix(text)
        f = parse_code(code)
        return Request(code=code, sections=f.sections, bars=tuple(f.bars), name=code.replace("\n", " ").strip())
    letters, bars = m.group(1).upper(), int(m.group(2) or MUSICIAN_BARS)
    parts, repeats = [], []
    for c in letters:
        if parts and parts[-1] == c and not repeats[-1]:
            repeats[-1] = True
        else:
            parts.append(c)
            repeats.append(False)
    expected = "ABCDEFGH"[:len(parts)]
    if "".join(parts) != expected or len(parts) > MAX_SECTIONS:
        raise FieldError("form", f"{text!r} is not a form; name the parts in order, each once or "
                                 f"twice (repeated), e.g. AABB, AABBCC, AB, ABC, 'AABB 16' for 16-bar "
                                 f"parts, or give an IrishMAN code like 'S:2 B:8 E:5 B:8'")
    if not 1 <= bars <= MAX_BARS:
        raise FieldError("form", f"{bars} bars a part is out of range; parts have 1-{MAX_BARS} bars")
    n = len(parts)
    code = _format(Form(n, [bars] * n, [[MUSICIAN_SIMILARITY] * i for i in range(n)]))
    return Request(code=code, sections=n, bars=(bars,) * n, repeats=tuple(repeats), full_bars=True,
                   name=letters + ("" if bars == MUSICIAN_BARS else f" {bars}"))


# Musicians' forms first (parts of full bars, repeated parts between repeat signs), then two
# IrishMAN codes, where a pickup counts as a bar of its own.
PRESETS: dict[str, str] = {
    "Let the model choose": "",
    "AABB, 8 bars each (reel, jig, hornpipe, polka)": "AABB",
    "AABB, 16 bars each": "AABB 16",
    "AABBCC, 8 bars each (slip jig)": "AABBCC",
    "AB, 8 bars each": "AB",
    "AB, 16 bars each (air, waltz)": "AB 16",
    "ABC, 8 bars each": "ABC",
    "AABBCCDD, 8 bars each": "AABBCCDD",
    "One part, 16 bars": "A 16",
    "IrishMAN code: 2 sections of 9 bars (pickup counted)": "S:2 B:9 E:5 B:9",
    "IrishMAN code: two sections, lengths up to the model": "S:2",
}
