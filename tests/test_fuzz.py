"""Bad input, fuzzed: every value a user can type into the app or pass to a CLI.

Each input ends in a result (a header, settings, a tune, files) or in an error that names the input:
FieldError.field in the library, "field: ..." in the app's gr.Error, exit status 2 and the field on
stderr from a CLI. Never another exception, never a call that runs past its time bound.

The inputs: empty fields, unicode and control characters, a header line smuggled into a field
("\\nK:C"), 1 MB strings, numbers past every limit, NaN and infinity, and near misses of valid values.

Examples are derandomized, so CI tests the same inputs on every run. ABCGEN_FUZZ=deep runs ten
times as many, freshly drawn each run; ABCGEN_FUZZ=quick a fifth as many, without shrinking failures.
"""
from __future__ import annotations

import contextlib
import html
import io
import math
import os
import re
import string
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, event, example, given, settings
from hypothesis import strategies as st

from abcgen.abc import check as abctools
from abcgen.abc import header as abcfields
from abcgen import convert, evaluate, generate, train
from abcgen.abc import form as formtools
from abcgen.render import outputs as render
from abcgen.compose import compose
from abcgen.errors import FieldError, RenderError
from abcgen.request import NAMES, Request
from abcgen.web.inputs import check_abc
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.sampling.asked import (MAX_CANDIDATES, MAX_CHARS, MAX_OPENING, MAX_TITLE, Header, Settings,
                                   check_opening)
from abcgen.sampling.sample import Sampler
from abcgen.learn.vocab import Vocab
from conftest import ROOT, tiny_overrides

# ------------------------------------------------------------------------------------------------
# profiles

settings.register_profile(
    "ci", derandomize=True, database=None, print_blob=True, deadline=None,   # no wall-clock bound: a busy
                                                                              # machine is no failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
settings.register_profile("deep", settings.get_profile("ci"), derandomize=False)
settings.register_profile("quick", settings.get_profile("ci"), phases=[Phase.explicit, Phase.generate])
PROFILE = os.environ.get("ABCGEN_FUZZ", "ci")
SCALE = {"deep": 10, "quick": 0.2}.get(PROFILE, 1)


def fuzz(examples: int, **overrides) -> settings:
    """This module's settings (applied per test, so other modules keep theirs)."""
    return settings(settings.get_profile(PROFILE), max_examples=max(1, int(examples * SCALE)), **overrides)


# Tests that sample, render or start processes report a failing example as found (shrinking it
# could take minutes); they are marked slow. How long requests take is measured by the benchmarks
# (benchmarks/hostile_requests.py, compose_latency.py), not asserted here.
SLOW = dict(phases=[Phase.explicit, Phase.generate])
MEGABYTE = 1_000_000

# ------------------------------------------------------------------------------------------------
# inputs

class Long(str):
    """A long string that reports itself briefly when Hypothesis prints a failing example."""

    def __repr__(self) -> str:
        return f"Long({str.__repr__(self[:12])} + ... {len(self)} characters)"


def long(text: str) -> str:
    return Long(text) if len(text) > 200 else text


NASTY = [
    "", " ", "\t", "\n", "\r\n", "\r", "\x00", "\x04", "\x1b[31m", "\x7f", "\u0085", "\u2028", "\u200b",
    "\u202e", "\ufeff", "é", "ß", "🎻", "𝄞", "中", "\ud7ff", "\nK:C", "\nX:2\nT:injected\nK:C", "\rK:C",
    "%", "%%MIDI program 1", "\\", '"', "'", "<script>alert(1)</script>", "../../etc/passwd", "{{7*7}}",
    "nan", "NaN", "inf", "-inf", "-1", "0", "-0", "1e9", "1e309", "0x10", "1_000", "½", "٣",
    Long("9" * 5000), Long("1/" + "9" * 5000), Long("S:" + "9" * 5000),
]
BIG = [Long(s) for s in ("a" * MEGABYTE, "\n" * MEGABYTE, "é" * MEGABYTE, "|" * MEGABYTE, "1" * MEGABYTE,
                         "1/" + "8" * MEGABYTE)]

VALID = {
    "meter": ["4/4", "6/8", "9/8", "12/8", "2/4", "3/4", "3/2", "C", "C|", "none", " 6 / 8 ", "(2+3)/8"],
    "unit": ["1/8", "1/16", "1/4", " 1/8 ", "1/1", "1/64"],
    "key": ["D", "G", "Amin", "Dmix", "Ador", "Bm", "F#min", "Eb", "C major", "A dorian", "HP", "none",
            "D clef=bass"],
    "tempo": ["", "1/4=120", "120", "3/8=116", "1/2=100", '"Allegro" 1/4=132', '"Lively"'],
    "title": ["", "The Lamplighter", "Ré mineur", "🎻 Fiddle Tune", "  spaced  ", "x" * MAX_TITLE],
    "x": ["1", "0", "7", " 3 ", "1000000000", ""],
    "opening": ["", "A|dAF DFA|dfe dcB|", "|:GABc dBGB|cBAB cAFA|", "D2|G2B2d2|\nc2A2F2|", "  dfe  "],
    "form": ["", "S:2", "S:2 B:8 E:5 B:8", "S:3 B:8 E:5 B:8 E:5 E:5 B:8", "s : 1 , b : 16", "S:1\nB:8"],
}


def spliced(values: list[str]) -> st.SearchStrategy[str]:
    """A valid value with something nasty put in at some position: the near misses."""
    return st.builds(lambda v, junk, at: long(v[:at] + junk + v[at:]),
                     st.sampled_from(values), st.sampled_from(NASTY) | st.text(max_size=4), st.integers(0, 12))


def text_for(field: str) -> st.SearchStrategy[str]:
    """Text a user might put into one field: valid, near misses, noise, giants."""
    return st.one_of(
        st.sampled_from(VALID[field]),
        spliced(VALID[field]),
        st.sampled_from(NASTY),
        st.text(max_size=40),
        st.text(alphabet="0123456789/=+()| CcSBE:.-#bmajorindtx\"", max_size=30),
        st.builds(lambda s, n: Long(s * n), st.text(min_size=1, max_size=3), st.integers(1000, MEGABYTE // 3)),
        st.sampled_from(BIG),
    )


def number_like() -> st.SearchStrategy:
    """What a number box, a slider or a JSON client can send, and worse."""
    return st.one_of(
        st.integers(), st.integers(-2**70, 2**70), st.floats(), st.booleans(), st.none(),
        st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 10**9, 10**100, 2**63, -2**63, 1e-300,
                         0.5, "", " 1 ", "abc", "1e309", Long("9" * 5000), "nan", "-0", "1.5", "0x10"]),
        st.text(max_size=12),
    )


# ------------------------------------------------------------------------------------------------
# header fields

PARSERS = {"meter": abcfields.parse_meter, "unit": abcfields.parse_unit, "key": abcfields.parse_key,
           "tempo": abcfields.parse_tempo}
ONE_LINE = re.compile(r"[^\x00-\x1f\x7f\s]+(?: [^\x00-\x1f\x7f\s]+)*")


@pytest.mark.parametrize("field", PARSERS)
@fuzz(600)
@given(data=st.data())
def test_field_parser_gives_a_canonical_value_or_names_the_field(field, data):
    parse = PARSERS[field]
    text = data.draw(text_for(field))
    try:
        value = parse(text)
    except FieldError as e:
        assert e.field == field, e
        assert e.message
        return
    if value is None:                           # an empty tempo: no Q: line
        assert field == "tempo"
        return
    assert ONE_LINE.fullmatch(value), value     # nothing that could open a new header line
    assert parse(value) == value                # canonical: reading it again changes nothing


def header_args(field: str, value) -> dict:
    args = {"meter": "6/8", "unit": "1/8", "key": "D", "tempo": "3/8=116", "title": "T", "x": 1}
    args[field] = value
    return args


def assert_clean_header(header: Header) -> None:
    """The header a musician gets: X first, K last, one field per line, nothing smuggled in."""
    lines = header.full().splitlines()
    assert lines[0] == f"X:{header.x}" and lines[-1] == f"K:{header.key_as_typed or header.key}"
    assert [ln[0] for ln in lines] == [c for c in "XTRMLQK" if any(ln[0] == c for ln in lines)]
    assert all(re.fullmatch(r"[XTRMLQK]:[^\n\r]*", ln) for ln in lines), lines
    assert header.full().count("\n") == len(lines)
    assert header.prompt().count("K:") == 1
    assert 0 <= header.x <= 10**9 and len(header.title) <= MAX_TITLE


@pytest.mark.parametrize("field", ["meter", "unit", "key", "tempo", "title", "x"])
@fuzz(400)
@given(data=st.data())
@example(data=None)  # the named, hand-picked absurdities below
def test_header_parse_names_the_bad_field(field, data):
    if data is None:
        values = ["", "\nK:C", "My Jig\nK:C", "\x00", Long("a" * MEGABYTE), -1, 10**10, math.nan, math.inf, None]
    else:
        values = [data.draw(text_for(field) | number_like() if field == "x" else text_for(field))]
    for value in values:
        try:
            header = Header.parse(**header_args(field, value))
        except FieldError as e:
            assert e.field == field, (value, e)
            continue
        assert_clean_header(header)


@pytest.mark.parametrize("title", ["My Jig\nK:C", "My Jig\rK:C", "My Jig\r\nK:C\nABC", "a\u2028K:C", "\nK:C"])
def test_a_title_cannot_inject_a_header_line(title):
    with pytest.raises(FieldError) as caught:
        Header.parse(title=title)
    assert caught.value.field == "title"


# ------------------------------------------------------------------------------------------------
# sampling settings

SETTING_LIMITS = {  # field: (smallest, largest) a checked Settings may hold
    "temperature": (0, 5), "top_k": (0, 1000), "top_p": (0, 1), "seed": (0, 2**63 - 1),
    "max_chars": (50, MAX_CHARS), "num": (1, MAX_CANDIDATES),
}


def in_range(name: str, value) -> bool:
    low, high = SETTING_LIMITS[name]
    kind = float if name in ("temperature", "top_p") else int
    return type(value) is kind and low <= value <= high and (name != "top_p" or value > 0)


@pytest.mark.parametrize("field", SETTING_LIMITS)
@fuzz(400)
@given(value=number_like())
@example(value=-1)
@example(value=0)
@example(value=10**9)
@example(value=math.nan)
@example(value=math.inf)
def test_settings_are_in_range_or_name_the_field(field, value):
    try:
        checked = Settings(**{field: value}).checked()
    except FieldError as e:
        assert e.field == field, (value, e)
        return
    for name in SETTING_LIMITS:
        assert in_range(name, getattr(checked, name)), (name, getattr(checked, name))


def test_absurd_settings_from_the_issue_name_their_field():
    for field, value in [("temperature", -1), ("num", 10**9), ("max_chars", 0), ("temperature", math.nan),
                         ("top_p", math.inf), ("seed", -1), ("top_k", 10**9)]:
        with pytest.raises(FieldError) as caught:
            Settings(**{field: value}).checked()
        assert caught.value.field == field


# ------------------------------------------------------------------------------------------------
# opening and form

def opening_text() -> st.SearchStrategy[str]:
    music = st.text(alphabet="ABCDEFGabcdefgz|:[]2345/ ^_=,'()\n", max_size=80)
    return text_for("opening") | music | st.builds(lambda m, f: m + f, music, st.sampled_from(
        ["\nK:C", "\nT:x", "\nw:words", "\nX:2", "\r\nM:3/4", "\n  L:1/4", "\n%%comment"]))


@fuzz(800)
@given(opening=opening_text())
@example(opening=Long("x" * (MAX_OPENING + 1)))
@example(opening=Long("a" * MEGABYTE))
@example(opening="dAF\nK:C\nABC")
def test_opening_is_music_the_model_knows_or_names_the_opening(sampler, opening):
    try:
        text = check_opening(opening, sampler.vocab)
    except FieldError as e:
        assert e.field == "opening", e
        return
    assert len(text) <= MAX_OPENING
    assert "\r" not in text
    for line in text.split("\n") if text else []:
        assert line and line == line.strip()
        assert not re.match(r"[A-Za-z]:", line), line
    sampler.vocab.encode(text)


def form_text() -> st.SearchStrategy[str]:
    tokens = st.lists(st.one_of(st.sampled_from(["S", "B", "E", "s", "b", "e", "X", "K"]).map(lambda c: c + ":"),
                                st.integers(-3, 40).map(str), st.sampled_from([Long("9" * 5000), "00", ":", ","])),
                      max_size=12)
    return text_for("form") | tokens.map(" ".join)


@fuzz(1000)
@given(text=form_text())
def test_form_code_is_canonical_or_names_the_form(text):
    try:
        code = formtools.code_prefix(text)
    except FieldError as e:
        assert e.field == "form", e
        return
    if code:
        assert code.startswith("S:") and formtools.code_prefix(code) == code
    assert formtools.within_limits(code)


# ------------------------------------------------------------------------------------------------
# the editable ABC box: validate, repair, render

TUNE = "X:1\nT:Test\nM:6/8\nL:1/8\nK:D\n|:dAF DFA|dfe dcB|AFA dfa|gfe d3:|\n"
FIELD_LINES = ["X:1", "T:t", "M:6/8", "M:7/0", "L:1/8", "L:1/3", "K:D", "K:Xyz", "Q:1/4=120", "Q:fast",
               "V:1", "w:la la", "%%MIDI program 1", "K:", "M:", "X:", "P:AB"]
BODY_BITS = ["dAF", "DFA", "|", "|:", ":|", "|]", "[1", "[2", "::", "(3abc", "{g}", "~A", "!trill!", '"Am"',
             "[CEG]", "z2", "x", "Z4", "A/2", "A3/2", "B//", "^c", "_B", "=F", "a'", "C,", " ", "\n", "\\\n",
             "[K:G]", "[M:3/4]", "(", ")", "-", "%c", "y", "&", "$", "1000000", "A99999999", "a" * 100]


def abc_text(max_size: int = 4000) -> st.SearchStrategy[str]:
    """Whole tunes, broken tunes and noise, up to `max_size` characters."""
    header = st.lists(st.sampled_from(FIELD_LINES), max_size=8).map(lambda ls: "\n".join(ls) + "\n")
    body = st.lists(st.sampled_from(BODY_BITS), max_size=60).map("".join)
    tune = st.builds(lambda h, b: h + b, header, body)
    return st.one_of(tune, spliced([TUNE]), st.text(max_size=200), st.sampled_from(NASTY),
                     st.builds(lambda b, n: "X:1\nM:4/4\nL:1/8\nK:C\n" + b * n, body, st.integers(1, 50)),
                     ).map(lambda s: s[:max_size])


@fuzz(400)
@given(text=abc_text())
def test_validate_and_repair_never_raise(text):
    """validate turns its own failures into a problem ("could not be checked") instead of raising,
    so not raising proves nothing: the checker must really read every input, point each problem it
    locates at a place in the text, and repair must never break a tune that was valid."""
    report = abctools.validate(text)
    assert not [p for p in report.problems if "could not be checked" in p.message], report.text()
    lines = abcfields.normalise(text).split("\n")
    for p in report.problems:
        if p.line is not None and p.col is not None:
            assert 1 <= p.line <= len(lines) and 1 <= p.col <= len(lines[p.line - 1]) + 1, (p, text[:300])
        assert p.message in report.text()
    fixed, changes = abctools.repair(text)
    assert all(changes), changes                # each change is said in words
    if not changes:
        assert fixed == text
    again = abctools.validate(fixed)
    assert not [p for p in again.problems if "could not be checked" in p.message], again.text()
    if report.valid:
        assert again.valid, (text[:300], fixed[:300], again.text())


@pytest.mark.parametrize("spoiled, error, line", [
    (TUNE, None, None),
    (TUNE.replace("dAF", "dAF\nK:C\n", 1), None, None),     # a key change mid-tune is music
    (TUNE.replace("dfe dcB|", "dfe dcBA|"), "bar 2 has 7 eighths, 6/8 needs 6", 6),
    (TUNE.replace("d3:|", "d3|"), "a repeat opened with |: is never closed with :|", 6),
    (TUNE.replace("K:D", "K:Xyz"), "K: 'Xyz' is not a key", 5),
    (TUNE.replace("AFA", "AFA {g"), "grace notes opened with { are never closed with }", 6),
])
def test_validate_judges_the_fuzzed_tune_and_its_near_misses(spoiled, error, line):
    """The controls for the property above: the tune the fuzzer splices into is valid, and each
    near miss is refused for what was spoiled, on the line that was spoiled."""
    report = abctools.validate(spoiled)
    if error is None:
        assert report.valid and report.problems == [], report.text()
    else:
        assert not report.valid
        assert [p.line for p in report.errors if p.message.startswith(error)] == [line], report.text()


def test_validate_of_a_box_full_of_abc_reads_the_first_tune_and_says_so():
    text = (TUNE * (20_000 // len(TUNE) + 1))[:20_000]
    report = abctools.validate(text)
    assert report.parsed and report.valid, report.text()
    assert any("more than one tune" in p.message for p in report.warnings), report.text()
    repaired, _ = abctools.repair(text)
    assert repaired.startswith("X:1")


@pytest.mark.slow
@fuzz(30, **SLOW)
@given(text=st.sampled_from([TUNE, TUNE.replace("M:6/8", "M:C|"), TUNE.replace("|:", "")]) | spliced([TUNE])
       | abc_text(1500), bpm=st.one_of(st.none(), st.floats(), st.integers(-10, 10**6),
                                           st.sampled_from([math.nan, math.inf, 0, 120, 10**9]), st.text(max_size=5)))
def test_render_gives_files_or_a_render_error_in_time(text, bpm):
    timeout = 10.0
    try:
        rendered = render.render(text, bpm=bpm, timeout=timeout)
    except RenderError as e:
        event("refused")
        assert str(e)
    else:
        event("rendered")
        assert rendered.midi[:4] == b"MThd" and rendered.wav[:4] == b"RIFF" and rendered.svg_pages


# ------------------------------------------------------------------------------------------------
# composing with the tiny model

FIELDS = ["meter", "unit", "key", "tempo", "title", "x", "opening", "form",
          "temperature", "top_k", "top_p", "seed", "max_chars", "num"]
# Header values the tiny test model can write (it has not seen every character a header may hold).
MODEL_SAFE = {"meter": ["4/4", "6/8", "9/8", "12/8", "2/4", "3/4", "3/2", "C", "C|", " 6 / 8 "],
              "key": ["D", "G", "Amin", "Dmix", "Ador", "Bm", "Eb", "C major", "none"], "tempo": ["", '"Lively"']}
SMALL_SETTINGS = {"temperature": st.floats(0, 2), "top_k": st.integers(0, 60), "top_p": st.floats(0.05, 1),
                  "seed": st.integers(0, 2**63 - 1), "max_chars": st.integers(50, 150), "num": st.integers(1, 3)}


@st.composite
def requests(draw, bad: str | None = None):
    """All fields of one request: each valid (settings small, to keep sampling quick), except
    `bad` (or a field drawn here), which is fuzzed. Returns (fuzzed field or None, values)."""
    field = bad or draw(st.sampled_from(FIELDS + [None] * 4))
    values = {name: draw(st.sampled_from(MODEL_SAFE.get(name, VALID[name]))) for name in VALID}
    values.update({name: draw(s) for name, s in SMALL_SETTINGS.items()})
    values["tempo"] = values["tempo"] or None
    if field == "opening":
        values[field] = draw(opening_text())
    elif field == "form":
        values[field] = draw(form_text())
    elif field == "x":
        values[field] = draw(text_for(field) | number_like())
    elif field in VALID:
        values[field] = draw(text_for(field))
    elif field:
        values[field] = draw(number_like())
    return field, values


def compose_request(sampler, v: dict):
    header = Header.parse(v["meter"], v["unit"], v["key"], v["tempo"], v["title"], v["x"])
    settings_ = Settings(v["temperature"], v["top_k"], v["top_p"], v["seed"], v["max_chars"], v["num"])
    return header, compose(sampler, header, v["opening"], v["form"], settings_, retries=1)


@pytest.mark.slow
@fuzz(60, **SLOW)
@given(request=requests())
def test_compose_gives_tunes_or_names_the_bad_field(sampler, request):
    field, values = request
    try:
        header, tunes = compose_request(sampler, values)
    except FieldError as e:
        event("refused")
        assert e.field == field, (values, e)
    else:
        event("composed")
        assert 1 <= len(tunes) <= MAX_CANDIDATES
        if field != "num":
            assert len(tunes) == values["num"]
        for t in tunes:
            assert t.abc.startswith(header.full()), t.abc[:200]
            assert abcfields.split_tune(t.abc)[0] == abcfields.split_tune(header.full())[0]


@pytest.fixture(scope="module")
def plain_sampler() -> Sampler:
    """An untrained model whose vocabulary lacks some characters a valid header may hold ("Q", "P", "+")."""
    torch.manual_seed(0)
    vocab = Vocab([c for c in string.printable if c not in "QP+\t\r\x0b\x0c"])
    return Sampler(CharLSTM(ModelConfig(len(vocab), embedding_dim=4, hidden_size=8, num_layers=1)), vocab)


@pytest.mark.parametrize("form", ["", "S:2"])
@pytest.mark.parametrize("field, value", [("key", "HP"), ("meter", "(2+3)/8")])
def test_a_header_value_the_model_cannot_write_names_its_field(plain_sampler, field, value, form):
    fields = {"meter": "6/8", "unit": "1/8", "key": "D", "tempo": None, field: value}
    header = Header.parse(**fields)           # valid ABC; the model has just never seen it
    with pytest.raises(FieldError) as caught:
        compose(plain_sampler, header, "", form, Settings(max_chars=50), retries=0)
    assert caught.value.field == field


def test_the_tempo_never_reaches_the_model(plain_sampler):
    """No training tune has a tempo, so the prompt has none: a Q: in characters the model never
    saw still composes, and the tune shown keeps it."""
    header = Header.parse("6/8", "1/8", "D", "1/4=120")
    assert "Q:" not in header.prompt()
    tunes = compose(plain_sampler, header, "", "", Settings(max_chars=50), retries=0)
    assert tunes and "\nQ:1/4=120\n" in tunes[0].abc


@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-30, 1e-8])
def test_a_tiny_temperature_samples_or_names_the_temperature(sampler, temperature):
    header = Header.parse("6/8", "1/8", "D")
    try:
        settings_ = Settings(temperature=temperature, seed=1, max_chars=60)
        tunes = compose(sampler, header, "", "", settings_, retries=0)
    except FieldError as e:
        assert e.field == "temperature"
    else:
        assert len(tunes) == 1 and tunes[0].abc.startswith(header.full())


# ------------------------------------------------------------------------------------------------
# the CLIs

def run_cli(main, argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a CLI's main, the way a shell would see them."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:   # argparse, or a plain message
            if isinstance(e.code, str):
                print(e.code, file=err)
                code = 1
            else:
                code = e.code or 0
    return code, out.getvalue(), err.getvalue()


def names(field: str, stderr: str) -> bool:
    """Whether a CLI's error message names the field (as the library or as the option)."""
    return f"error in {field}:" in stderr or f"argument --{field.replace('_', '-')}" in stderr


def as_argument(value) -> str:
    return value if isinstance(value, str) else str(value)


@pytest.mark.slow
@fuzz(40, **SLOW)
@given(request=requests())
def test_generate_cli_prints_tunes_or_names_the_bad_field(tiny_checkpoint, request):
    field, values = request
    argv = [f"--checkpoint={tiny_checkpoint}", "--retries=0"]
    for name, value in values.items():
        if value is not None and (value != "" or name == field):   # an empty option is left out, as a user would
            argv.append(f"--{name.replace('_', '-')}={as_argument(value)}")
    code, out, err = run_cli(generate.main, argv)
    assert "Traceback" not in err
    event(f"exit status {code}")
    if code == 0:
        assert out.count("X:") >= 1 and "K:" in out
    else:
        assert code == 2 and field and names(field, err), (field, code, err[-500:])


@pytest.mark.parametrize("field, value", [
    ("title", "My Jig\nK:C"), ("temperature", "-1"), ("num", "1000000000"), ("max_chars", "0"),
    ("temperature", "nan"), ("top_p", "inf"), ("meter", Long("a" * MEGABYTE)), ("x", "1e9"), ("seed", "-5"),
    ("opening", "T:title in the opening"), ("form", "S:" + "9" * 5000), ("meter", "1" * 5000 + "/8"),
], ids=lambda v: repr(v)[:24])
def test_generate_cli_refuses_absurd_values(tiny_checkpoint, field, value):
    code, out, err = run_cli(generate.main, [f"--checkpoint={tiny_checkpoint}", f"--{field.replace('_', '-')}={value}"])
    assert code == 2 and names(field, err), err[-500:]
    assert out == "" and "Traceback" not in err


@pytest.mark.slow
@fuzz(25, **SLOW)
@given(text=abc_text(1500),
       tempo=st.one_of(st.none(), st.sampled_from(["120", "0", "-1", "nan", "inf", "1e309", "abc", "", "1e9", "39"]),
                       st.text(max_size=6)),
       timeout=st.one_of(st.none(), st.sampled_from(["10", "0", "-1", "nan", "inf", "1e309", "abc", "0.001"])))
def test_convert_cli_converts_or_reports_without_a_traceback(tmp_path_factory, text, tempo, timeout):
    folder = tmp_path_factory.mktemp("convert")
    (folder / "tune.abc").write_text(text, encoding="utf-8", newline="")
    argv = [str(folder / "tune.abc"), "--out", str(folder / "out")]
    argv += [f"--tempo={tempo}"] if tempo is not None else []
    argv += [f"--timeout={timeout}"] if timeout is not None else []
    code, out, err = run_cli(convert.main, argv)
    assert "Traceback" not in err
    event(f"exit status {code}")
    assert code in (0, 1, 2), code
    if code == 2:        # a usage error names the option
        assert "--tempo" in err or "--timeout" in err, err[-500:]
    elif code == 0:
        assert list((folder / "out").glob("*.mid"))
    else:
        assert "error" in err


@pytest.fixture(scope="module")
def bad_sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    (folder / "empty.abc").write_text("")
    (folder / "junk.abc").write_bytes(b"\x00\xff\xfe garbage \x80" * 100)
    (folder / "latin1.abc").write_bytes("X:1\nT:Caf\xe9\nK:C\nabc|\n".encode("latin-1"))
    (folder / "no-tunes.abc").write_text("just some words\nno music here\n")
    (folder / "empty-folder").mkdir()
    return {"missing": folder / "missing.abc", "empty": folder / "empty.abc", "junk": folder / "junk.abc",
            "latin1": folder / "latin1.abc", "no tunes": folder / "no-tunes.abc",
            "empty folder": folder / "empty-folder", "unicode name": folder / "nö-🎻.abc"}


@pytest.mark.parametrize("source", ["missing", "empty", "junk", "latin1", "no tunes", "empty folder", "unicode name"])
def test_evaluate_cli_on_bad_data_is_a_plain_error(tiny_checkpoint, bad_sources, tmp_path, source):
    with contextlib.chdir(tmp_path):          # evaluate keeps its cache in the working folder
        code, out, err = run_cli(evaluate.main, ["--checkpoint", str(tiny_checkpoint),
                                                 "--data", str(bad_sources[source])])
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err[-500:]


@pytest.mark.slow
@fuzz(20, **SLOW)
@given(content=st.one_of(st.binary(max_size=3000), st.sampled_from([b"", b"PK\x03\x04", b"\x80\x02}q\x00."])))
def test_evaluate_cli_refuses_a_corrupt_checkpoint(small_book, tmp_path_factory, content):
    folder = tmp_path_factory.mktemp("eval")
    (folder / "model.pt").write_bytes(content)
    with contextlib.chdir(folder):
        code, out, err = run_cli(evaluate.main, ["--checkpoint", str(folder / "model.pt"), "--data", str(small_book)])
    assert code == 2 and "checkpoint" in err and "Traceback" not in err, err[-500:]


@pytest.fixture(scope="module")
def train_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train-cache")


# train: config overrides. Sizes and lengths that would run long or take much memory are only fuzzed
# with values that must be refused; everything else is fuzzed freely, on a two-step run.
TRAIN_KEYS = ["lr", "min_lr", "warmup_steps", "grad_clip", "seed", "patience", "eval_every", "max_steps",
              "seq_len", "batch_size", "eval_tracks", "workers", "validate_data", "model.hidden_size",
              "model.embedding_dim", "model.num_layers", "model.dropout"]
COSTLY = {"max_steps", "seq_len", "batch_size", "eval_tracks", "workers", "model.hidden_size",
          "model.embedding_dim", "model.num_layers"}
YAML_VALUES = ["abc", "-1", "0", "-0.5", "1.5", ".nan", ".inf", "-.inf", "[1, 2]", "{a: 1}", "null", "''", "[",
               "{", "'", "1e400", "true", "!!python/object/apply:os.system ['echo pwned']", "!!binary AAAA",
               "&a [*a]", "\x00", "🎻", "a" * 10_000]


@pytest.mark.slow
@fuzz(25, **SLOW)
@given(key=st.sampled_from(TRAIN_KEYS + ["nonsense", "model.nonsense", "lr.deeper", "model"]),
       value=st.sampled_from(YAML_VALUES) | st.text(max_size=12), bare=st.booleans())
def test_train_cli_trains_or_names_the_bad_key(small_book, train_cache, tmp_path_factory, key, value, bare):
    import yaml
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    big = isinstance(parsed, (int, float)) and not isinstance(parsed, bool) and parsed > 4
    assume(not (key in COSTLY and big))
    out = tmp_path_factory.mktemp("train")
    item = key if bare else f"{key}={value}"     # bare: an override without "="
    safety = {k: v for k, v in {"max_steps": 2, "eval_every": 2, "model.hidden_size": 8, "workers": 1,
                                "cache_dir": train_cache}.items() if k != key}
    argv = ["--config", str(ROOT / "configs/tiny.yaml"), *tiny_overrides(small_book, out), item,
            *[f"{k}={v}" for k, v in safety.items()]]
    code, _, err = run_cli(train.main, argv)
    event(f"exit status {code}")
    assert "Traceback" not in err
    assert not (out / "pwned").exists()
    if code != 0:   # the message names the key (or, for a bare word, the whole item)
        wanted = [item] if bare else key.split(".")
        assert code in (1, 2) and any(w in err for w in wanted), (item, code, err[-500:])


# ------------------------------------------------------------------------------------------------
# the app's handlers, called as Gradio calls them

@pytest.fixture(scope="module")
def app_module(sampler, tmp_path_factory):
    """The app's Composer with the tiny model and its own file store; `build` fills in its components."""
    import app
    from abcgen.web.events import Config
    composer = app.create(Config(files_dir=tmp_path_factory.mktemp("app-files"), files_mb=50), sampler=sampler)
    composer.store.open()
    app.build(composer)
    yield composer
    composer.store.close()


def gradio_error_field(app, call) -> str | None:
    """Run the API handler; None when it answers, else the field its gr.Error names."""
    import gradio as gr
    try:
        result = call()
        assert result is not None
        event("answered")
        return None
    except gr.Error as e:
        message = str(e.message)
        assert "Traceback" not in message and str(app.store.root) not in message, message
        field, sep, rest = message.partition(": ")
        assert sep and rest, message
        event(f"gr.Error naming {field}")
        return field


REFUSAL = re.compile(r'<div class="status error" role="status"[^>]*><p><b>([^<]*)</b>: (.+?)</p>', re.S)


def refused_field(app, updates: dict) -> str | None:
    """The field a page handler's message line refuses, None when the line is no refusal. A refusal
    names the field by its label on the page, and shows no traceback and no server path."""
    from abcgen.web.present import FIELD_LABELS
    line = updates.get(app.ui.status)
    match = REFUSAL.match(line) if isinstance(line, str) else None
    if not match:
        return None
    label, text = match.groups()
    assert text.strip() and "Traceback" not in text and str(app.store.root) not in text, line
    fields = [f for f, shown_as in FIELD_LABELS.items() if html.escape(shown_as) == label]
    assert len(fields) == 1, line
    return fields[0]


def page_field(app, events) -> str | None:
    """Run a page handler as the page does (every update it yields, merged); None when it showed a
    tune, else the field its message line refuses."""
    updates = {}
    for update in events:
        assert isinstance(update, dict), update
        updates.update(update)
    field = refused_field(app, updates)
    if field is None:    # answered: a tune with its sheet (or why there is none) and its message
        assert {app.ui.sheet, app.ui.status, app.ui.report} <= updates.keys(), updates.keys()
        event("answered")
    else:
        event(f"message naming {field}")
    return field


@pytest.mark.slow
@fuzz(10, **SLOW)
@given(request=requests())
def test_app_compose_endpoint_gives_a_tune_or_names_the_field(app_module, request):
    field, v = request
    named = gradio_error_field(app_module, lambda: app_module.compose(
        v["meter"], v["key"], v["unit"], v["title"], v["opening"], v["temperature"], v["seed"], v["x"],
        v["tempo"] or "", v["form"], v["top_k"], v["top_p"], v["max_chars"], v["num"]))
    if named is None:   # a tune came back: then the fuzzed value really was acceptable
        read_request(v)
    else:
        assert named == field, (v, named)


def read_request(v: dict):
    """The request the fuzzed values make (raises FieldError naming a bad one)."""
    return Request.read({k: v[k] for k in NAMES if k in v})


def on_compose(app, v: dict):
    """Compose pressed with these values in the page's fields (no tune type chosen)."""
    values = {c: v.get(name) for name, c in app.ui.fields.items()}
    values[app.ui.fields["tempo"]] = v["tempo"] or ""
    values[app.ui.history_state] = []
    values[app.ui.keep_seed] = True                # the fuzzed seed, not a fresh one
    values[app.ui.width] = None                    # the sheet's default width
    values[app.ui.abc] = ""
    return app.on_compose(values, None)


@pytest.mark.filterwarnings("ignore:ABC:UserWarning")
@pytest.mark.slow
@fuzz(20, **SLOW)
@given(request=requests())
def test_app_compose_button_writes_a_tune_or_names_the_field(app_module, request):
    field, v = request
    v["top_p"] = 1.0                               # the page has no top_p control
    named = page_field(app_module, on_compose(app_module, v))
    if named is None:   # a tune came back: then the fuzzed value really was acceptable
        read_request(v)
    else:
        assert named == field, (v, named)


@fuzz(300)
@given(request=requests())
def test_app_compose_button_refuses_exactly_the_bad_field_before_sampling(app_module, request):
    """Compose's first message, before the model starts: a refusal naming only the fuzzed field,
    or the model at work; the handler is closed there, so nothing is sampled."""
    field, v = request
    v["top_p"] = 1.0                               # the page has no top_p control
    events = on_compose(app_module, v)
    try:
        first = next(events)
        if app_module.ui.status not in first:      # the seed the Compose writes with comes first
            first = next(events)
    finally:
        events.close()
    named = refused_field(app_module, first)
    event("refused" if named else "the model starts")
    if named is not None:   # only the fuzzed field may be blamed
        assert named == field, (v, named, first)
    else:                   # not refused: then every value really is valid
        assert "writing" in first[app_module.ui.status], first
        read_request(v)
        check_opening(v["opening"], app_module.sampler().vocab)


@fuzz(300)
@given(text=abc_text(3000) | st.sampled_from(["", "  \n", Long("a" * MEGABYTE), Long(TUNE * 1000)]))
def test_app_abc_box_check_names_the_abc(app_module, text):
    from abcgen.web.inputs import MAX_ABC
    try:
        assert check_abc(text) == text
    except FieldError as e:
        assert e.field == "ABC"
        assert not text.strip() or len(text) > MAX_ABC
    else:
        assert text.strip() and len(text) <= MAX_ABC


@pytest.mark.filterwarnings("ignore:ABC:UserWarning")
@pytest.mark.slow
@fuzz(30, **SLOW)
@given(text=st.sampled_from([TUNE, "", Long("a" * MEGABYTE)]) | spliced([TUNE]) | abc_text(2000),
       bpm=st.one_of(st.none(), st.integers(40, 320), st.sampled_from([0, -5, 10**9, math.nan, math.inf])))
def test_app_render_button_shows_the_tune_or_names_the_abc(app_module, text, bpm):
    """Render, then Apply tempo with the control at `bpm`: each shows the tune or names the ABC (or,
    for a control holding no number, the tempo)."""
    named = page_field(app_module, app_module.on_render(text, None, None))
    assert named in (None, "ABC"), named
    named = page_field(app_module, app_module.on_tempo(text, bpm, None, None))
    finite = bpm is not None and math.isfinite(bpm)
    assert named in ((None, "ABC") if finite else (None, "ABC", "tempo")), (named, bpm)
    if named is None:
        assert finite


@pytest.mark.slow
@fuzz(20, **SLOW)
@given(text=st.sampled_from([TUNE, TUNE.replace("K:D", "K:Xyz"), TUNE.replace("M:6/8\n", "")]) | spliced([TUNE])
       | abc_text(1500),
       temperature=st.floats(0, 2) | st.sampled_from([-1, math.nan, 9.0]),
       num=st.integers(1, 2) | st.sampled_from([0, 10**9]))
def test_app_continue_writes_on_or_names_the_field(app_module, text, temperature, num):
    named = page_field(app_module, app_module.on_continue(text, "", temperature, 0, 1, 100, num, [], None, None))
    assert named in (None, "ABC", "opening", "meter", "unit", "key", "tempo", "title", "x", "temperature",
                     "num"), named
    if named is None:
        assert 0 <= temperature <= 5 and 1 <= num <= MAX_CANDIDATES
