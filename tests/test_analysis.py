"""The musical report: form as played, recurring bars, key and final note, range, chords, and
recognising a training tune (transposed) in a small index built here."""
import shutil
import subprocess

import pytest

from abcgen.judge.analysis import analyse, read
from abcgen.judge.originality import CorpusIndex, corpus_titles, is_original

HEAD = "X:1\nT:Test\nM:4/4\nL:1/8\nK:{key}\n"
A1, A2, A3, A4 = "ABcd efga", "gfed cBAG", "FGAB cdef", "d2f2 a4"
B1, B2, B3, B4 = "a2ag f2fe", "d2dc B2BA", "GABc defg", "a8"


def tune(body: str, key: str = "D") -> str:
    return HEAD.format(key=key) + body + "\n"


def report(body: str, key: str = "D"):
    return analyse(tune(body, key), originality=False)


def test_repeated_parts_play_aabb():
    r = report(f"|: {A1} | {A2} | {A3} | {A4} :|\n|: {B1} | {B2} | {B3} | {B4} :|")
    assert r.plays_as == "AABB"
    assert [(p.label, p.bars, p.pickup) for p in r.parts] == [("A", 4, False), ("B", 4, False)]
    assert r.repeats == 2 and r.bars == 8 and not r.early_ends


def test_repeat_over_a_double_bar_plays_abab():
    r = report(f"|: {A1} | {A2} || {B1} | {B2} :|")
    assert r.plays_as == "ABAB"
    assert len(r.parts) == 2


def test_a_repeat_without_its_start_sign_goes_back_to_the_last_repeat_or_the_start():
    assert report(f"{A1} | {A2} :| {B1} | {B2} :|").plays_as == "AABB"
    assert report(f"{A1} | {A2} || {B1} | {B2} |]").plays_as == "AB"
    assert "plays as AB " in report(f"{A1} | {A2} || {B1} | {B2} |]").text()


def test_endings_play_the_part_twice_and_count_first_ending_bars():
    r = report(f"E2 |: {A1} | {A2} | {A3} |1 {A4} :|2 {B4} ||\n{B1} | {B2} | {B3} | {B4} |]")
    assert r.plays_as == "AAB"
    assert r.pickup and r.parts[0].pickup and r.parts[0].bars == 4 and r.parts[0].endings == 2
    assert r.parts[1].bars == 4 and r.parts[1].first == 6


def test_final_bar_line_in_mid_tune_is_flagged():
    r = report(f"{A1} | {A2} |] {B1} | {B2} :|")
    assert r.early_ends == [2]
    assert any("|]" in p for p in r.problems)
    assert "|]" in r.text()
    assert not report(f"{A1} | {A2} | {B1} | {B2} |]").early_ends


def test_recurring_bars_ignore_chord_symbols_and_decorations():
    r = report(f'|: "D"{A1} | {A2} | !trill!{A1} | {A4} :|\n|: {B1} | {B2} | {A1} | {A4} :|')
    assert r.recurring_bars == [1, 3, 4, 7, 8]
    assert r.recurring_share == pytest.approx(5 / 8)
    assert report(f"{A1} | {A2} | {A3} | {A4} |]").recurring_bars == []


def test_same_letters_at_another_pitch_or_length_do_not_recur():
    r = report(f"{A1} | {A1.upper()} | ABcd efg2 | {A1} |]")
    assert r.recurring_bars == [1, 4]


def test_tonic_ending_follows_the_mode():
    assert report(f"{A1} | {A2} | e2d2 c2B2 | A8 |]", key="Ador").ends_on_tonic is True
    off = report(f"{A1} | {A2} | e2d2 c2B2 | d8 |]", key="Ador")
    assert off.ends_on_tonic is False and off.last_note == "d"
    assert report(f"{A1} | D8 |]", key="Dmix").ends_on_tonic is True
    assert report(f"{A1} | E8 |]", key="Emin").tonic == "E"


def test_scale_share_uses_key_signature_and_bar_accidentals():
    # in D major f and c are sharp: all in the scale; =c carries through its bar only
    assert report("defg abc'2 | d8 |]").in_scale == 1.0
    r = report("=c2 c2 d4 | c2 d6 |]")
    assert r.in_scale == pytest.approx(3 / 5)


def test_inline_key_change_spells_later_notes_in_the_new_key():
    r = report("F8 | [K:C] F8 |]")
    assert [n.pitches for b in read(tune("F8 | [K:C] F8 |]")).bars for n in b.notes] == [(66,), (65,)]
    assert r.in_scale == 1.0  # each note against the key in effect


def test_range_in_abc_names_and_midi():
    r = report("D2 F2 A2 d2 | ^c'4 _B,4 |]")
    assert (r.lowest, r.lowest_midi) == ("_B,", 58)
    assert (r.highest, r.highest_midi) == ("^c'", 85)
    assert report("F8 |]").lowest == "^F"  # F is sharp in D


def test_chords_largest_and_repeated_notes():
    r = report("[DFA]4 [AA]2 [A=A]2 | [DFAd]8 |]")
    assert r.max_chord_notes == 4
    assert r.repeated_note_chords == ["bar 1: [AA]2", "bar 1: [A=A]2"]
    assert report("d8 |]").max_chord_notes == 0


def test_lengths_with_broken_rhythm_tuplets_and_ties():
    bars = read(tune("A>B (3cde f-f g2 | g8 |]")).bars
    lengths = [n.length * 8 for n in bars[0].notes]
    assert lengths == [1.5, 0.5, pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3), 2, 2]
    assert bars[0].length == 1 and bars[0].number == 1  # a full bar, not a pickup


@pytest.mark.parametrize("text, problems", [
    ("", ["key (K:) is missing", "no notes"]),
    ("X:1\nK:D\n", ["no notes"]),
    ("not a tune at all", ["key (K:) is missing"]),
    ("X:1\nM:9/0\nL:3/7\nK:Q\n|:[(\"{!", ["key (K:) is missing", "no notes"]),
])
def test_bad_input_gives_a_report_not_an_exception(text, problems):
    """analyse turns a reader failure into a problem too ("could not be read"), so some problem
    always comes back: each input must be read, and its own faults named, in the report's text."""
    r = analyse(text, originality=False)
    assert len(r.problems) == len(problems), r.problems
    assert all(want in p for want, p in zip(problems, r.problems)), r.problems
    assert all(f"Note: {p}." in r.text() for p in r.problems), r.text()


# ----------------------------------------------------------------------------------------
# originality, on a small index of real corpus tunes

@pytest.fixture(scope="module")
def corpus_tunes():
    """Eight real tunes of O'Neill's collection, normalized as training sees them."""
    from abcgen.learn.data import Dropped, normalize
    from abcgen.learn.sources import folk_paths, read_text, split_tune_book
    path = next(p for p in folk_paths() if p.parent.name == "oneills1850")
    out = []
    for i, raw in enumerate(split_tune_book(read_text(path))):
        try:
            abc = normalize(raw)
        except Dropped:
            continue
        if len(read(abc).bars) >= 12:
            out.append((abc, f"oneills1850/{path.name}#{i}"))
        if len(out) == 8:
            return out
    raise AssertionError("the folk corpus has fewer than 8 usable tunes")


def transpose_up_a_tone(abc: str) -> str:
    """abc2abc -t 2 where installed; otherwise the reader's own pitches moved by hand."""
    exe = shutil.which("abc2abc")
    if exe:
        done = subprocess.run([exe, "-", "-t", "2"], input=abc, capture_output=True, text=True,
                              timeout=30)
        if "K:" in done.stdout:
            return done.stdout
    body = " | ".join(" ".join(f"[{''.join(_name_up(n, 2) for n in note.names)}]"
                               f"{note.length * 8}" for note in b.notes if note.pitches)
                      for b in read(abc).bars)
    return "X:1\nM:none\nL:1/8\nK:C\n" + body + " |]\n"


def _name_up(name: str, semitones: int) -> str:
    midi = read(f"X:1\nL:1/8\nK:C\n{name}|]\n").bars[0].notes[0].pitches[0] + semitones
    sharps = ["C", "^C", "D", "^D", "E", "F", "^F", "G", "^G", "A", "^A", "B"]
    octave, pc = divmod(midi, 12)
    n = sharps[pc]
    return n[:-1] + (n[-1].lower() + "'" * (octave - 6) if octave >= 6 else n[-1] + "," * (5 - octave))


def test_transposed_corpus_tune_is_recognised(corpus_tunes):
    index = CorpusIndex.build((abc, source, f"Tune {k}") for k, (abc, source) in enumerate(corpus_tunes))
    abc, source = corpus_tunes[5]
    moved = transpose_up_a_tone(abc)
    assert read(moved).bars[0].notes[0].pitches != read(abc).bars[0].notes[0].pitches
    o = analyse(moved, index).originality
    assert o.source == source and o.title == "Tune 5"
    assert o.shared_bars >= 8 and not o.new
    assert o.text().startswith(f"bars {o.bars[0]}-{o.bars[1]} are from Tune 5")


def test_a_new_tune_is_new_and_the_index_round_trips(corpus_tunes, tmp_path):
    index = CorpusIndex.build((abc, source, "") for abc, source in corpus_tunes)
    path = tmp_path / "index.npz"
    index.save(path)
    loaded = CorpusIndex.load(path)
    new = tune(f"|: {A1} | {A2} | {A3} | {A4} :|\n|: {B1} | {B2} | {B3} | {B4} :|")
    o = analyse(new, loaded).originality
    assert o.new and o.shared_bars < 4
    assert o.text().startswith("this tune is new (longest shared passage:")
    abc, source = corpus_tunes[2]
    assert analyse(abc, loaded).originality.source == source


def test_a_report_never_waits_for_an_index_that_is_not_built(corpus_tunes, tmp_path, monkeypatch):
    from abcgen.judge import originality
    monkeypatch.setattr(originality, "DEFAULT_FILE", tmp_path / "index.npz")
    monkeypatch.setattr(originality, "_default", {"index": None, "checked": False})
    r = analyse(tune(f"{A1} | {A2} |]"))
    assert r.originality is None and any("not indexed yet" in p for p in r.problems)
    built = CorpusIndex.build((abc, source, "") for abc, source in corpus_tunes)
    built.fingerprint = f"{originality.INDEX_VERSION}:folk:test"
    built.save(tmp_path / "index.npz")
    abc, source = corpus_tunes[1]
    assert analyse(abc).originality.source == source  # found on disk, no corpus loaded


def test_titles_come_from_the_raw_corpus_and_copies_are_not_indexed(corpus_tunes):
    titles = corpus_titles([source for _, source in corpus_tunes[:2]])
    assert len(titles) == 2 and all(t.strip() for t in titles.values())

    from abcgen.learn.data import Tune
    assert not is_original(Tune("X:1\n", source="oneills1850/x.abc#1 transposed +2", shift=2))
    assert is_original(Tune("X:1\n", source="oneills1850/x.abc#1"))


def test_generate_json_carries_the_musical_report(tiny_checkpoint, corpus_tunes, monkeypatch, capsys):
    import json

    from abcgen import generate
    from abcgen.judge import originality
    index = CorpusIndex.build((abc, source, "") for abc, source in corpus_tunes)
    monkeypatch.setattr(originality, "default_index", lambda: index)
    assert generate.main(["--checkpoint", str(tiny_checkpoint), "--key", "Ador", "--num", "2",
                          "--max-chars", "200", "--retries", "0", "--json"]) == 0
    tunes = json.loads(capsys.readouterr().out)
    assert len(tunes) == 2
    for t in tunes:
        music = t["music"]
        assert music["key"] == "Ador" and music["tonic"] == "A"
        assert music["originality"] is not None          # looked up in the index, not skipped
        assert music == json.loads(json.dumps(analyse(t["abc"], index).to_dict()))  # as JSON carries it
