"""Keeping bars and asking again for the rest, and tunes laid out four bars a line at bar lines."""
import subprocess

import pytest

from abcgen.abc.check import validate
from abcgen.abc.header import split_tune
from abcgen.abc.layout import bar_count, first_part, kept_bars, layout
from abcgen.abc.scan import scan
from abcgen.errors import FieldError
from abcgen.keep import continuation, kept_opening, tune_form
from conftest import PYTHON, ROOT, app_checkpoint

HEAD = "X:1\nT:Kept\nM:6/8\nL:1/8\nQ:3/8=110\nK:D\n"
JIG = HEAD + ("|:AAA AcA|BAA AcA|AAA AcA|GfB dcA|\nAAA AcA|BAA A2c|dcd AcA|GEE E2 D:|\n"
              "|:ABd e2 d|cde ecA|AAA AcA|GfB dBG|\nABd e2 d|cAA G2 E|FGd AcA|GEE E2 D:|\n")
RAGGED = HEAD + "A|dAF DFA|dfe dcB|AFA dfa|gfe d3:|\n|:fed ede|fed ede|fed e2d|A2Af e2\ndc|1 d3 d2A:|2 d3 d2||\n"


def line_ends_at_bar_lines(abc: str) -> list[str]:
    """The body's lines that end inside a bar (none, for a tune laid out as tune books are)."""
    s = scan(abc)
    cuts = {b.end + len(b.right) for b in s.bars if b.right}
    bad, pos = [], s.body_start
    for line in abc[s.body_start:].split("\n"):
        end = pos + len(line.rstrip())
        if line.strip() and end not in cuts:
            bad.append(line)
        pos += len(line) + 1
    return bad


def problems_by_bar(abc: str):
    r = validate(abc)
    return r.valid, r.bars_checked, sorted((p.bar, p.message) for p in r.problems)


# --------------------------------------------------------------------------- layout

def test_layout_breaks_at_bar_lines_four_bars_a_line_each_part_on_its_own():
    out = layout(RAGGED)
    body = split_tune(out)[1]
    assert body.split("\n")[:2] == ["A|dAF DFA|dfe dcB|AFA dfa|gfe d3:|",
                                    "|:fed ede|fed ede|fed e2d|A2Af e2 dc|1 d3 d2A:|2 d3 d2||"]
    assert line_ends_at_bar_lines(out) == [] and line_ends_at_bar_lines(RAGGED) != []
    assert problems_by_bar(out) == problems_by_bar(RAGGED)
    assert layout(out) == out                       # laid out once is laid out


def test_layout_leaves_the_kept_opening_as_written():
    opening = "|:AAA  AcA|BAA AcA|\nAAA AcA|GfB dcA|"
    tune = HEAD + opening + "AAA AcA|BAA\nA2c|dcd AcA|\nGEE E2 D:|\n"
    out = layout(tune, keep=len(opening))
    assert split_tune(out)[1] == opening + "AAA AcA|BAA A2c|\ndcd AcA|GEE E2 D:|\n"


def test_a_body_with_comments_or_fields_is_left_alone():
    tune = HEAD + "A|dAF DFA|dfe\n% a comment\ndcB|AFA dfa|]\n"
    assert layout(tune) == tune


# --------------------------------------------------------------------------- keeping

def test_kept_bars_are_the_first_bars_byte_for_byte_counted_as_musicians_count():
    assert kept_bars(JIG, 4) == "|:AAA AcA|BAA AcA|AAA AcA|GfB dcA|"
    assert kept_bars(RAGGED, 2) == "A|dAF DFA|dfe dcB|"          # the pickup is bar 0
    assert first_part(JIG) == "|:AAA AcA|BAA AcA|AAA AcA|GfB dcA|\nAAA AcA|BAA A2c|dcd AcA|GEE E2 D:|"
    assert bar_count(JIG) == 16
    with pytest.raises(FieldError, match="16 bars"):
        kept_opening(JIG, 16)
    with pytest.raises(FieldError, match="number of the last bar"):
        kept_opening(JIG, "four")


def test_the_form_is_read_from_the_tune_and_continue_adds_a_part():
    assert tune_form(JIG) == "AABB"
    assert tune_form(HEAD + "|:" + "AAA AcA|" * 15 + "GEE E2 D:|\n") == "AA 16"
    opening, form = continuation(JIG)
    assert form == "AABBCC" and opening.rstrip() == split_tune(JIG)[1].rstrip()
    half = HEAD + "|:AAA AcA|BAA AcA|AAA AcA|"
    assert continuation(half, "AABB") == ("|:AAA AcA|BAA AcA|AAA AcA|", "AABB")
    eight = HEAD + "".join(f"|:{n}AA AcA|BAA AcA:|\n" for n in "ABCDEFGA")
    with pytest.raises(FieldError, match="at most 8"):
        continuation(eight)


# --------------------------------------------------------------------------- with the model

@pytest.fixture(scope="module")
def checkpoint(request):
    return app_checkpoint(request)


@pytest.mark.slow
def test_composed_tunes_break_lines_at_bar_lines(checkpoint):
    """64 tunes of the model, in several forms, as compose hands them out: no line of a body ends
    inside a bar, and the layout changes no bar number and no verdict of the validator."""
    from abcgen.compose import tune_text
    from abcgen.sampling.asked import Header, Settings
    from abcgen.sampling.sample import load_sampler
    sampler = load_sampler(checkpoint)
    candidates = []
    for seed, (meter, form) in enumerate([("6/8", "AABB"), ("4/4", "AABB"), ("9/8", "AABBCC"), ("3/4", "AB 16")]):
        candidates += sampler.sample(Header.parse(meter, "1/8", "D"), "", form,
                                     Settings(seed=seed, num=16, max_chars=700))
    assert len(candidates) == 64
    ragged = 0
    for c in candidates:
        text, _ = tune_text(c)
        ragged += bool(line_ends_at_bar_lines(c.abc))
        assert line_ends_at_bar_lines(text) == [], text
        assert problems_by_bar(text)[:2] == problems_by_bar(c.abc)[:2], text
        assert split_tune(text)[1].replace("\n", "").replace(" ", "") == \
            split_tune(c.abc)[1].replace("\n", "").replace(" ", ""), text     # the same notes
    print(f"{ragged} of 64 tunes as the model wrote them had a line ending inside a bar")


@pytest.mark.slow
@pytest.mark.parametrize("keep, kept", [(["--keep-bars", "4"], "|:AAA AcA|BAA AcA|AAA AcA|GfB dcA|"),
                                        (["--keep-bars", "A"], first_part(JIG))])
def test_the_command_line_keeps_bars_and_writes_the_rest_in_the_tunes_form(checkpoint, keep, kept):
    out = subprocess.run([PYTHON, "-m", "abcgen.generate", *keep, "--opening", JIG, "--seed", "4",
                          "--checkpoint", str(checkpoint)], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, check=True).stdout
    assert out.startswith(HEAD)
    body = split_tune(out)[1]
    assert body.startswith(kept)
    assert body != split_tune(JIG)[1]
    assert tune_form(out) == "AABB", out


def test_the_request_keeps_bars_of_a_whole_tune_as_the_api_and_command_line_ask():
    from abcgen.request import Request
    r = Request.read({"opening": JIG, "keep_bars": "4", "seed": 3})
    assert r.opening == kept_bars(JIG, 4) and r.form == "AABB"
    assert (r.header.title, r.header.meter, r.header.key, r.header.tempo) == ("Kept", "6/8", "D", "3/8=110")
    assert Request.read({"opening": JIG, "keep_bars": "A"}).opening == first_part(JIG)
    assert Request.read({"opening": JIG, "keep_bars": "4", "form": "AB 16"}).form == "AB 16"
    with pytest.raises(FieldError) as e:
        Request.read({"opening": JIG, "keep_bars": "40"})
    assert e.value.field == "keep_bars"
