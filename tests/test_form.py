"""Tune form control codes: IrishMAN's definitions, hand-worked bodies and code parsing."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from abcgen.errors import FieldError
from abcgen.abc.form import (
    PRESETS,
    Form,
    body_form,
    code_prefix,
    control_code,
    format_code,
    matches,
    parse_code,
    parse_form,
    sections,
    similarity,
    within_limits,
)

IRISHMAN_FIRST_ROW = (
    "|: E2 EF E2 EF | DEFG AFDF | E2 EF E2 B2 |1 efe^d e2 e2 :|2 efe^d e3 B |: e2 ef g2 fe |\n"
    "defg afd'f |1 e2 ef g2 fe | efe^d e3 B :|2 g2 bg f2 af | efe^d e2 e2 ||\n"
)


def edit_distance(a: str, b: str) -> int:
    """Plain dynamic-programming Levenshtein distance, to check E values independently."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def expected_e(a: str, b: str) -> int:
    return round(10 * (1 - edit_distance(a, b) / max(len(a), len(b))))


# --- IrishMAN's own example -------------------------------------------------------------


def test_irishman_first_row_code():
    assert control_code(IRISHMAN_FIRST_ROW) == "S:2\nB:5\nE:5\nB:6\n"


def test_irishman_first_row_sections():
    # The leading "|:" opens section 1; the ":|2" continuation is merged back into it.
    assert sections(IRISHMAN_FIRST_ROW) == [
        "|: E2 EF E2 EF | DEFG AFDF | E2 EF E2 B2 |1 efe^d e2 e2 :|2 efe^d e3 B |:",
        " e2 ef g2 fe |\ndefg afd'f |1 e2 ef g2 fe | efe^d e3 B :|2 g2 bg f2 af | efe^d e2 e2 ||",
    ]


# --- hand-worked bodies -----------------------------------------------------------------


def test_body_without_delimiter_is_one_section():
    body = "CDEF GABc | cBAG FEDC | C8"
    assert sections(body) == [body]
    assert control_code(body) == "S:1\nB:3\n"


def test_trailing_plain_bar_line_is_not_an_extra_bar():
    assert control_code("CDEF GABc | cBAG FEDC | C8 |\n") == "S:1\nB:3\n"


def test_slip_jig_in_three_parts():
    body = "A2B c2d e2f | g2f e2d c3 || A2B c2d e2f | g2f e2d B3 || g2f e2d c2B | A2G F2E D3 |]\n"
    a, b, c = "A2B c2d e2f | g2f e2d c3 ||", " A2B c2d e2f | g2f e2d B3 ||", " g2f e2d c2B | A2G F2E D3 |]"
    assert sections(body) == [a, b, c]
    # b is a with one space inserted and c -> B: 1 - 2/28 = 0.93 -> 9.
    assert similarity(b, a) == 9
    assert (similarity(c, a), similarity(c, b)) == (expected_e(c, a), expected_e(c, b)) == (6, 6)
    assert control_code(body) == "S:3\nB:2\nE:9\nB:2\nE:6\nE:6\nB:2\n"


def test_aabb_reel_with_start_and_end_repeat_in_one():
    body = (
        "|: A2 AB c2 cd | e2 ec d2 dB | A2 AB c2 cd | e2 dB A4 :|: "
        "a2 ag f2 fe | d2 dc B2 BA | a2 ag f2 fe | d2 dB A4 :|"
    )
    first = "|: A2 AB c2 cd | e2 ec d2 dB | A2 AB c2 cd | e2 dB A4 :|:"
    second = " a2 ag f2 fe | d2 dc B2 BA | a2 ag f2 fe | d2 dB A4 :|"
    assert sections(body) == [first, second]  # ":|:" is one delimiter
    assert expected_e(second, first) == 6
    assert control_code(body) == "S:2\nB:4\nE:6\nB:4\n"


def test_first_and_second_endings_stay_in_their_part():
    # Each part: 3 bars, first ending, second ending = 5 bars.
    body = (
        "|: A2 AB c2 cd | e2 ec d2 dB | A2 AB c2 cd |1 e2 dB A4 :|2 e2 dB A2 z2 |: "
        "a2 ag f2 fe | d2 dc B2 BA | a2 ag f2 fe |1 d2 dB A4 :|2 d2 dB A2 z2 |]"
    )
    form = body_form(body)
    assert (form.sections, form.bars) == (2, [5, 5])


@pytest.mark.parametrize("second_ending", [":|2", ":|[2", ":| [2", ":|\n[2", ":|| 2"])
def test_second_ending_spellings_are_merged_back(second_ending):
    # One bar, first ending, second ending: 3 bars in one section.
    body = f"|: ABcd efga |1 bagf edcB {second_ending} bagf e4 |]"
    assert len(sections(body)) == 1
    assert body_form(body).bars == [3]


def test_double_colon_is_a_delimiter():
    assert sections("ABcd efga :: bagf edcB ::") == ["ABcd efga ::", " bagf edcB ::"]
    assert control_code("ABcd efga :: bagf edcB ::").startswith("S:2\nB:1\n")


def test_longest_bar_line_wins():
    # "::|" is one end-repeat, not "::" followed by a plain bar line.
    body = "|:: ABcd efga ::| bagf edcB |]"
    assert sections(body) == ["|:: ABcd efga ::|", " bagf edcB |]"]


def test_bar_lines_in_chord_symbols_and_comments_are_ignored():
    body = '"G||D" ABcd | efga % end of part || here\n'
    assert control_code(body) == "S:1\nB:2\n"


def test_pickup_before_start_repeat_counts_as_a_section():
    # IrishMAN's rule taken literally: notes before "|:" make a piece of their own.
    assert sections("A/B/ |: cAA eAA | cBc eAA :|") == ["A/B/ |:", " cAA eAA | cBc eAA :|"]


@pytest.mark.parametrize("body", ["", " \n", "|: :|", "|]\n"])
def test_body_without_music_has_no_form(body):
    assert sections(body) == []
    assert control_code(body) == ""


# --- properties over generated bodies ---------------------------------------------------

NOTES = ["A", "B2", "c", "d/2", "e'", "f,", "z2", "^G", "=a", "(3abc", "{g}A", "[CEG]", '"Am"E']
BARS = ["|", "||", "|]", "[|", ":|", "|:", ":|:", "::", "|1", ":|2", "|2", ":|[2"]
bodies = st.lists(st.sampled_from(NOTES + BARS), max_size=40).flatmap(
    lambda items: st.lists(st.sampled_from([" ", "", "\n"]), min_size=len(items), max_size=len(items)).map(
        lambda seps: "".join(item + sep for item, sep in zip(items, seps))
    )
)


@settings(max_examples=200)
@given(bodies)
def test_code_round_trips(body):
    code = control_code(body)
    assume(code and within_limits(code))
    assert format_code(parse_code(code)) == code


@given(bodies)
def test_sections_cover_the_music_in_order(body):
    texts = sections(body)
    joined = "".join(texts)
    assert body.startswith(joined)
    assert not any(ch in "ABCDEFGabcdefgz" for ch in body[len(joined) :])
    assert all(any(ch in "ABCDEFGabcdefgz" for ch in t) for t in texts)
    assert control_code(body).count("B:") == len(texts)


@given(st.text("ab| :\n", min_size=1, max_size=30), st.text("ab| :\n", min_size=1, max_size=30))
def test_similarity_is_rounded_edit_distance_ratio(a, b):
    assert similarity(a, b) == expected_e(a, b)


# --- parsing and formatting codes -------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["S:2\nB:8\nE:5\nB:8\n", "S:2 B:8 E:5 B:8", "S:2, B:8, E:5, B:8", "s: 2 b:8\ne:5,b:8"]
)
def test_parse_full_code(text):
    assert parse_code(text) == Form(2, [8, 8], [[], [5]])
    assert code_prefix(text) == "S:2\nB:8\nE:5\nB:8\n"


@pytest.mark.parametrize(
    "text, form, prefix",
    [
        ("", Form(None, [], []), ""),
        ("S:3", Form(3, [], []), "S:3\n"),
        ("S:2 B:8", Form(2, [8], [[]]), "S:2\nB:8\n"),
        ("S:2 B:8 E:5", Form(2, [8], [[], [5]]), "S:2\nB:8\nE:5\n"),
        ("S:3 B:8 E:5 B:8 E:4", Form(3, [8, 8], [[], [5], [4]]), "S:3\nB:8\nE:5\nB:8\nE:4\n"),
    ],
)
def test_partial_forms(text, form, prefix):
    assert parse_code(text) == form
    assert format_code(form) == prefix
    assert code_prefix(text) == prefix


def test_format_stops_at_first_unknown_value():
    assert format_code(Form(3, [], [])) == "S:3\n"
    assert format_code(Form(3, [8, None, 8], [[], [5], [5, 5]])) == "S:3\nB:8\nE:5\n"
    assert format_code(Form(2, [8, 8], [[], [None]])) == "S:2\nB:8\n"
    assert format_code(Form(None, [8], [])) == ""


@pytest.mark.parametrize(
    "text",
    [
        "B:8",  # no S first
        "S:0",
        "S:9",
        "S:2 B:0",
        "S:2 B:33",
        "S:2 B:8 E:11 B:8",
        "S:2 E:5",  # E before section 1's B
        "S:2 B:8 B:8",  # section 2 lacks its E
        "S:2 B:8 E:5 E:5 B:8",  # too many E for section 2
        "S:1 B:8 E:5 B:8",  # more sections than S
        "S:2 B:8 E:5 B:8 B:8",
        "S:2 S:2",
        "S:two",
        "S:2 B:8 foo",
        "S:-1",
        "X:2",
    ],
)
def test_malformed_codes_name_the_form_field(text):
    with pytest.raises(FieldError) as caught:
        parse_code(text)
    assert caught.value.field == "form"
    assert "S:2 B:8 E:5 B:8" in caught.value.message  # says how to write it


@pytest.mark.parametrize(
    "form",
    [Form(9, [], []), Form(2, [8, 8, 8], [[], [5]]), Form(2, [8, 40], [[], [5]]), Form(2, [8, 8], [[], [5, 5]])],
)
def test_format_rejects_impossible_forms(form):
    with pytest.raises(FieldError) as caught:
        format_code(form)
    assert caught.value.field == "form"


# --- limits, matching and presets -------------------------------------------------------


def test_within_limits():
    assert within_limits("S:2\nB:5\nE:5\nB:6\n")
    assert within_limits(body_form(IRISHMAN_FIRST_ROW))
    assert within_limits("S:8")
    assert not within_limits("S:9")
    assert not within_limits("S:2 B:8 E:5 B:33")
    assert not within_limits(Form(1, [40], [[]]))
    many = "|: ABcd efga :|" * 9
    assert not within_limits(control_code(many))
    assert not within_limits(body_form(many))


def test_matches():
    requested = parse_code("S:2 B:8 E:5 B:8")
    assert matches(requested, Form(2, [8, 8], [[], [7]])) == {
        "sections": True,
        "bars": True,
        "similarity_mean_abs_diff": 2.0,
    }
    assert matches(requested, Form(2, [8, 9], [[], [5]]))["bars"] is False
    assert matches(requested, Form(1, [8], [[]])) == {
        "sections": False,
        "bars": False,
        "similarity_mean_abs_diff": None,
    }


def test_matches_leaves_unrequested_parts_none():
    achieved = body_form(IRISHMAN_FIRST_ROW)
    assert matches(Form(), achieved) == {"sections": None, "bars": None, "similarity_mean_abs_diff": None}
    assert matches(parse_code("S:2"), achieved) == {"sections": True, "bars": None, "similarity_mean_abs_diff": None}
    assert matches(parse_code("S:2 B:5 E:3"), achieved)["similarity_mean_abs_diff"] == 2.0


def test_presets():
    assert PRESETS["Let the model choose"] == ""
    for label, text in PRESETS.items():
        request = parse_form(text)
        assert not text or request.code, label
        assert within_limits(request.code), label
    assert parse_form(PRESETS["AABBCC, 8 bars each (slip jig)"]).bars == (8, 8, 8)


@pytest.mark.parametrize("text,plays,bars,code", [
    ("AABB", "AABB", (8, 8), "S:2\nB:8\nE:5\nB:8\n"),
    ("aabbcc", "AABBCC", (8, 8, 8), "S:3\nB:8\nE:5\nB:8\nE:5\nE:5\nB:8\n"),
    ("AB 16", "AB", (16, 16), "S:2\nB:16\nE:5\nB:16\n"),
    ("AABB, 16 bars each", "AABB", (16, 16), "S:2\nB:16\nE:5\nB:16\n"),
    ("AAB", "AAB", (8, 8), "S:2\nB:8\nE:5\nB:8\n"),
])
def test_musicians_forms(text, plays, bars, code):
    request = parse_form(text)
    assert request.plays_as == plays and request.bars == bars and request.code == code
    assert request.full_bars and request.sections == len(bars)


def test_codes_still_read_as_codes():
    request = parse_form("S:2 B:9 E:5 B:9")
    assert request.code == "S:2\nB:9\nE:5\nB:9\n" and not request.full_bars and request.repeats == ()


@pytest.mark.parametrize("text", ["ABBA", "BA", "AABB 40", "AAAB"])
def test_bad_musicians_forms_name_the_field(text):
    with pytest.raises(FieldError) as e:
        parse_form(text)
    assert e.value.field == "form"
