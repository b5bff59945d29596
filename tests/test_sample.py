import pytest
import torch

from abcgen.errors import FieldError
from abcgen.abc import check as abctools
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import Finished, Progress, Sampler, close_at_last_bar, load_sampler
from abcgen.learn.vocab import END

JIG = Header.parse(meter="6/8", unit="1/8", key="D", title="Test Jig", x=7)


def test_same_seed_same_tunes(sampler):
    s = Settings(temperature=1.0, seed=11, max_chars=300, num=3)
    a = sampler.sample(JIG, "", "", s)
    b = sampler.sample(JIG, "", "", s)
    assert [c.abc for c in a] == [c.abc for c in b]
    c = sampler.sample(JIG, "", "", Settings(temperature=1.0, seed=12, max_chars=300, num=3))
    assert [x.abc for x in c] != [x.abc for x in a]


def test_greedy_is_deterministic_and_ignores_seed(sampler):
    a = sampler.sample(JIG, "", "", Settings(temperature=0, seed=1, max_chars=200))
    b = sampler.sample(JIG, "", "", Settings(temperature=0, seed=2, max_chars=200))
    assert a[0].abc == b[0].abc


def test_batched_candidates_are_whole_different_tunes(sampler):
    """Each row of a batch is a tune of its own: the header asked for, bars of the right length,
    ended by the model or closed at its last bar, and not a copy of another row."""
    tunes = sampler.sample(JIG, "", "", Settings(seed=3, max_chars=200, num=4))
    assert len(tunes) == 4
    for t in tunes:
        assert t.abc.startswith("X:7\nT:Test Jig\nM:6/8\nL:1/8\nK:D\n")
        report = abctools.validate(t.abc)
        assert report.bars_checked >= 1 and report.bars_ok == report.bars_checked, (t.abc, report.text())
        assert t.ended or t.closing, t.body
        assert t.body.rstrip().endswith(("|", "|]", ":|", "||")), t.body
    assert len({t.body for t in tunes}) >= 3


def test_opening_is_kept_verbatim(sampler):
    opening = "|: A2d fed | cBA"
    tunes = sampler.sample(JIG, opening, "", Settings(seed=5, max_chars=200, num=2))
    for t in tunes:
        assert t.body.startswith(opening)


class Scripted(torch.nn.Module):
    """A stand-in model with one wish: after each character it wants the one `follow` names
    (`default` after any other), and likes `second` a little, as a fallback."""

    def __init__(self, vocab, follow: dict, default: str, second: str | None = None):
        super().__init__()
        self.vocab, self.follow, self.default, self.second = vocab, follow, default, second

    def forward(self, x, state=None):
        state = state or (torch.zeros(1, 1, 1), torch.zeros(1, 1, 1))
        logits = torch.full((x.shape[0], x.shape[1], len(self.vocab)), -5.0)
        for r in range(x.shape[0]):
            prev = self.vocab.chars[int(x[r, -1])]
            logits[r, -1, self.vocab.index[self.follow.get(prev, self.default)]] = 5.0
            if self.second:
                logits[r, -1, self.vocab.index[self.second]] = 1.0
        return logits, state


def test_header_lines_are_masked(sampler):
    """A model that would love to write 'K:' after a line break is never allowed to."""
    vocab = sampler.vocab
    s = Sampler(Scripted(vocab, {"\n": "T", "T": ":", ":": "A", "A": "|", "|": "\n"}, "T").eval(), vocab)
    s.knows_codes = False
    tune = s.sample(JIG, "", "", Settings(temperature=0, max_chars=120))[0]
    lines = tune.body.split("\n")
    assert not any(len(line) >= 2 and line[0].isalpha() and line[1] == ":" for line in lines)
    assert "T" in tune.body  # it still wrote the letter (a trill), just not a field


def test_ends_at_end_symbol(sampler):
    vocab = sampler.vocab
    script = "|ABc d3:|\nfed d3|" + END      # two parts, the last note the tonic of JIG's key

    class Script(torch.nn.Module):
        def forward(self, x, state=None):
            n = 0 if state is None else int(state[0][0, 0, 0]) + 1   # characters answered so far
            logits = torch.full((x.shape[0], x.shape[1], len(vocab)), -10.0)
            logits[:, -1, vocab.index[script[min(n, len(script) - 1)]]] = 10.0
            counter = torch.full((1, x.shape[0], 1), float(n))
            return logits, (counter, counter)
    s = Sampler(Script().eval(), vocab)
    s.knows_codes = False
    tune = s.sample(JIG, "", "", Settings(temperature=0, max_chars=500))[0]
    assert tune.ended and tune.body == "|ABc d3:|\nfed d3|\n"


def test_length_cap_closes_at_a_bar_line(sampler):
    tunes = sampler.sample(JIG, "", "", Settings(seed=9, max_chars=60, num=4))
    capped = [t for t in tunes if not t.ended]
    assert capped                 # else nothing below is checked (the tiny model seldom ends a tune)
    for t in capped:
        assert t.body.rstrip().endswith(("|]", "||", ":|")), t.body
        assert t.closing


def test_stream_yields_progress_then_the_finished_candidates(sampler):
    settings = Settings(seed=3, max_chars=200, num=2)
    *progress, finished = sampler.stream(JIG, "", "", settings, every=20)
    assert progress and all(isinstance(e, Progress) and len(e.bodies) == 2 for e in progress)
    for before, after in zip(progress, progress[1:]):      # the bodies only grow
        assert all(b.startswith(a) for a, b in zip(before.bodies, after.bodies))
    assert isinstance(finished, Finished)
    assert finished.candidates == sampler.sample(JIG, "", "", settings)


@pytest.mark.parametrize("body,expected", [
    ("ABc def | gfe dcB | A2", "ABc def | gfe dcB |]\n"),
    ("ABc def | gfe dcB |: A2", "ABc def | gfe dcB |]\n"),
    ("ABc def :| gf", "ABc def :|\n"),
    ("ABc d", "ABc d |]\n"),
])
def test_close_at_last_bar(body, expected):
    assert close_at_last_bar(body)[0] == expected


@pytest.mark.parametrize("fields,field", [
    (dict(meter="7/0"), "meter"), (dict(meter="foo"), "meter"), (dict(unit="1/7"), "unit"),
    (dict(key="H#lyd"), "key"), (dict(key="Xyz"), "key"), (dict(tempo="fast"), "tempo"),
    (dict(title="a\nK:C"), "title"), (dict(x="one"), "x"),
])
def test_bad_fields_name_the_field(fields, field):
    with pytest.raises(FieldError) as e:
        Header.parse(**{"meter": "6/8", "unit": "1/8", "key": "D", **fields})
    assert e.value.field == field


@pytest.mark.parametrize("settings,field", [
    (Settings(temperature=-1), "temperature"), (Settings(num=10**9), "num"), (Settings(max_chars=0), "max_chars"),
    (Settings(top_p=0), "top_p"), (Settings(top_k=-3), "top_k"), (Settings(seed=-1), "seed"),
])
def test_bad_settings_name_the_field(sampler, settings, field):
    with pytest.raises(FieldError) as e:
        sampler.sample(JIG, "", "", settings)
    assert e.value.field == field


def test_bad_opening(sampler):
    with pytest.raises(FieldError, match="header field") as e:
        sampler.sample(JIG, "ABc|\nK:G\ndef|", "", Settings())
    assert e.value.field == "opening"
    with pytest.raises(FieldError, match="'\u00e9'") as e:
        sampler.sample(JIG, "AB\u00e9c", "", Settings())
    assert e.value.field == "opening"


def test_requested_form_is_the_prompt(sampler):
    tunes = sampler.sample(JIG, "", "S:2 B:8", Settings(seed=1, max_chars=200, num=2))
    for t in tunes:
        assert t.code.startswith("S:2\nB:8\n")


def test_unclosed_chord_cannot_be_left_open(sampler):
    """A model that opens a chord and then wants a bar line must close the chord first."""
    vocab = sampler.vocab
    s = Sampler(Scripted(vocab, {"[": "C", "C": "|", "|": "["}, "[", second="]").eval(), vocab)
    s.knows_codes = False
    body = s.sample(JIG, "", "", Settings(temperature=0, max_chars=60))[0].body
    assert "[C|" not in body and "[C]" in body


def test_int8_model_predicts_like_the_full_precision_one(tiny_checkpoint):
    """Sampling on the CPU uses int8 weights; they must cost (almost) nothing in bits per character."""
    from abcgen.sampling.sample import int8_model
    fp32 = load_sampler(tiny_checkpoint, int8=False)
    int8 = int8_model(fp32.model)
    assert int8 is not fp32.model
    ids = torch.tensor([fp32.vocab.encode("X:1\nL:1/8\nM:6/8\nK:D\nA|dfe dBA|B2A F2A|dfe dBA|B2A d2:|\n")])
    losses = []
    with torch.no_grad():
        for model in (fp32.model, int8):
            logits, _ = model(ids[:, :-1])
            losses.append(torch.nn.functional.cross_entropy(logits[0], ids[0, 1:]).item())
    assert abs(losses[0] - losses[1]) < 0.02 * losses[0]
    a = load_sampler(tiny_checkpoint).sample(JIG, "", "", Settings(seed=4, max_chars=200, num=2))
    b = load_sampler(tiny_checkpoint).sample(JIG, "", "", Settings(seed=4, max_chars=200, num=2))
    assert [t.body for t in a] == [t.body for t in b]
