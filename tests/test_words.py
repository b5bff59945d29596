"""What the page says in words: notes named as musicians name them, fields shown as typed, and
errors that explain the problem a musician has."""
import pytest

from abcgen.abc.form import parse_form
from abcgen.errors import FieldError
from abcgen.judge.analysis import pitch_name
from abcgen.sampling.asked import Header, check_opening


class Known:
    """A vocabulary that knows every character, so only check_opening's own checks speak."""
    def encode(self, text, field=None):
        return text


@pytest.mark.parametrize("abc, midi, name", [("^F", 66, "F#4"), ("a", 81, "A5"), ("D", 62, "D4"),
                                             ("_B,", 58, "Bb3"), ("e'", 88, "E6"), ("=c", 72, "C5")])
def test_notes_are_named_with_their_octave(abc, midi, name):
    assert pitch_name(abc, midi) == name


def test_keys_are_shown_as_typed_and_read_by_the_model_in_its_own_spelling():
    h = Header.parse("6/8", "1/8", "Em")
    assert "K:Em\n" in h.full() and "K:Emin\n" in h.prompt()
    assert "K:F#m\n" in Header.parse("4/4", "1/8", "F#m").full()


def test_a_form_error_explains_the_letters_first():
    with pytest.raises(FieldError) as e:
        parse_form("S:9")
    assert e.value.message.index("AABB") < e.value.message.index("S:<sections")


def test_a_header_field_inside_the_opening_is_named():
    with pytest.raises(FieldError) as e:
        check_opening("A|dAF K:Q|dfe dcB|", Known())
    assert e.value.field == "opening" and "K:Q" in e.value.message and "header field" in e.value.message
    assert check_opening("A|dAF d:|[K:G] \"Am\"dfe dcB|", Known()) == "A|dAF d:|[K:G] \"Am\"dfe dcB|"
