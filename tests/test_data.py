import json

import pytest

from abcgen.learn import data, sources
from abcgen.learn.data import Dropped, load_corpus, normalize, split, Tune
from abcgen.errors import DataError

BOOK = """% a comment line
X: 12
T: The Test Reel
C: Trad.
M: 4/4
L: 1/8
I: abc-charset utf-8
Z: transcribed by someone
K: Dmaj
%%scale 0.8
|: "^Fine" dA FA dA FA | "G"B2 GB dBGB | \\
dA FA dA FA |1 BGAF D4 :|2 BGAF D3 z ||

X: 13
T: A Jig
M: 6/8
K: Ador
|: ABA c2 e | dBG G2 B | ABA c2 e | dBG A3 :|
w: some words here

X: 14
T: No key here
M: 6/8
ABC DEF |
"""


def test_normalize_canonical_form():
    tune = normalize(BOOK.split("X: 13")[0])
    assert tune == ("X:1\nL:1/8\nM:4/4\nK:D\n"
                    "|: dA FA dA FA | \"G\"B2 GB dBGB | dA FA dA FA |1 BGAF D4 :|2 BGAF D3 z ||\n")


def test_normalize_default_unit_and_inline_fields():
    tune = normalize("X:3\nT:x\nM:2/4\nK:G\nGABc | dedB |\nK:Emin\nM:3/4\nE2 F2 G2 |]\n")
    assert tune == "X:1\nL:1/16\nM:2/4\nK:G\nGABc | dedB |\n[K:Emin]\n[M:3/4]\nE2 F2 G2 |]\n"


@pytest.mark.parametrize("raw,reason", [
    ("X:1\nM:6/8\nABC DEF|\n", "no K: field"),
    ("X:1\nK:D\nABC DEF|\n", "no M: field"),
    ("X:1\nM:6/8\nK:D\n\n", "no notes"),
    ("X:1\nM:6/8\nK:Xyz\nABC|\n", "bad K: field"),
    ("X:1\nM:6/8\nK:D\nAB\u00e9C|\n", "non-ASCII characters"),
])
def test_normalize_drops_with_reason(raw, reason):
    with pytest.raises(Dropped, match=reason):
        normalize(raw)


def test_abc_file_source_counts_dropped(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(BOOK)
    corpus = load_corpus(path, workers=1, valid_fraction=0.0)
    assert len(corpus.train) == 2 and corpus.valid == []
    assert corpus.dropped == {"no K: field": 1}
    assert "1 dropped" in corpus.report()
    assert corpus.train[1].abc.startswith("X:1\nL:1/8\nM:6/8\nK:Ador\n")
    assert "w:" not in corpus.train[1].abc
    # the control code precedes the tune in the training text
    assert corpus.train[1].code == "S:1\nB:4\n" and corpus.train[1].text.startswith("S:1\nB:4\nX:1\n")


def test_folder_source(tmp_path):
    (tmp_path / "a.abc").write_text(BOOK)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.abc").write_text(BOOK.split("X: 14")[0])
    corpus = load_corpus(tmp_path, workers=1, valid_fraction=0.0)
    assert len(corpus.train) == 4


def test_validation_drops_broken_tunes(tmp_path):
    path = tmp_path / "bad.abc"
    path.write_text(BOOK.split("X: 14")[0] + "X:15\nM:6/8\nL:1/8\nK:D\nABC DEF G | ABC DEF |]\n")
    corpus = load_corpus(path, workers=1, valid_fraction=0.0)
    assert len(corpus.train) == 2
    (reason, n), = corpus.dropped.items()
    assert n == 1 and reason.startswith("fails validation")
    unchecked = load_corpus(path, workers=1, valid_fraction=0.0, validate=False)
    assert len(unchecked.train) == 3


def _irishman_records(n, start=0):
    bodies = ["|: E2 EF E2 EF | DEFG AFDF :|\n", "GABc dedB | c2 A2 B4 |]\n", "ABA c2e | dBG G2B |]\n"]
    return [{"control code": "S:1\nB:2\n", "abc notation": f"X:{i}\nL:1/8\nM:4/4\nK:Emin\n{bodies[i % 3]}"}
            for i in range(start, start + n)]


@pytest.mark.parametrize("lines", [False, True])
def test_irishman_json_source(tmp_path, lines):
    valid = _irishman_records(2, 6)
    valid[1]["control code"] = "S:1\nB:3\n"              # the dataset's code, off by a bar
    for name, recs in (("train.json", _irishman_records(6)), ("validation.json", valid)):
        text = "\n".join(json.dumps(r) for r in recs) if lines else json.dumps(recs)
        (tmp_path / name).write_text(text)
    corpus = load_corpus(tmp_path, workers=1)
    assert len(corpus.train) == 6 and len(corpus.valid) == 2
    assert corpus.train[0].code == "S:1\nB:2\n"           # the dataset's own column is kept
    assert sorted(t.code for t in corpus.valid) == ["S:1\nB:2\n", "S:1\nB:3\n"]   # even where it is wrong
    assert corpus.description["code_agreement"] == 7 / 8
    assert "agree with the dataset's on 87.5%" in corpus.report()


def test_irishman_wrong_columns(tmp_path):
    (tmp_path / "train.json").write_text(json.dumps([{"abc": "X:1"}]))
    with pytest.raises(DataError, match="missing column"):
        load_corpus(tmp_path / "train.json", workers=1)


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "nothing.abc")
    bad = tmp_path / "latin.abc"
    bad.write_bytes("X:1\nT:Caf\u00e9\nM:4/4\nK:D\nABcd|\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        load_corpus(bad)


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.abc"
    path.write_text("X:1\nT:nothing\n")
    with pytest.raises(DataError, match="no usable tunes"):
        load_corpus(path, workers=1)


def test_split_is_stable_and_keeps_duplicates_together():
    tunes = [Tune(f"X:1\nM:4/4\nK:D\nA{i % 50}|\n") for i in range(400)]
    train, valid = split(tunes, 0.05)
    assert 5 <= len(valid) <= 60
    assert not {t.abc for t in train} & {t.abc for t in valid}
    again_train, again_valid = split(list(reversed(tunes)), 0.05)
    assert {t.abc for t in valid} == {t.abc for t in again_valid}


def test_cache_round_trip(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(BOOK)
    first = load_corpus(path, workers=1, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").glob("corpus-*.json"))
    second = load_corpus(path, workers=1, cache_dir=tmp_path / "cache")
    assert [t.text for t in second.train] == [t.text for t in first.train]


def test_cache_key_covers_every_module_that_decides_what_is_kept():
    """The key hashes the lexer, the validator and the header spellings as well as the loader:
    after an edit to any of them the prepared corpus is rebuilt, never reused stale."""
    from pathlib import Path
    from abcgen.learn import cache
    root = Path(data.__file__)
    covered = {p.relative_to(root.parents[1]).as_posix() for p in cache.deciding_modules(root)}
    assert {"learn/data.py", "learn/sources.py", "learn/cache.py", "abc/reader.py", "abc/scan.py",
            "abc/check.py", "abc/header.py", "abc/transpose.py", "tune_types.py"} <= covered


def _write_often(folder: str, n: int, start) -> None:
    from abcgen.learn import cache
    start.wait(60)
    for i in range(n):
        cache.write(folder, "same-key", {"tunes": ["X:1\nK:D\nABcd|"] * 20000, "i": i})


def test_processes_preparing_the_same_corpus_at_once_do_not_break_each_other(tmp_path):
    """The ranks of a multi-process training run prepare the same corpus at the same moment: each
    writes the cache aside under its own name, so neither renames away the other's file."""
    import json
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    writers = [ctx.Process(target=_write_often, args=(str(tmp_path), 100, start)) for _ in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    written = list(tmp_path.rglob("*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())["i"] == 99
    assert not list(tmp_path.rglob("*.tmp"))


def test_default_folk_source_is_there():
    paths = sources.folk_paths()
    tunes = [t for p in paths for t in sources.split_tune_book(sources.read_text(p))]
    assert len(tunes) > 4000
    assert {p.parent.name for p in paths} == set(sources.FOLK_COLLECTIONS)


def test_normalize_removes_what_standard_tools_reject():
    tune = normalize('X:1\nM:6/8\nL:1/8\nK:D\nuA|v(f/e/d)c d2A|"~"=fed "D.C."cA^G "Am"B T(AB) [K:Ador] ~(ef)|\n')
    body = tune.split("K:D\n", 1)[1]
    assert body == 'A|(f/e/d)c d2A|=fed cA^G "Am"B (TAB) [K:Ador] (~ef)|\n'


def test_abc2midi_check_drops_tunes_it_rejects(tmp_path):
    from abcgen.abc.check import abc2midi_errors
    if abc2midi_errors("X:1\nM:4/4\nL:1/8\nK:C\nCDEF|]\n") is None:
        pytest.skip("abc2midi (Debian package abcmidi) is not installed; CI installs it")
    path = tmp_path / "book.abc"
    # a tie between different pitches: music21 and our validator accept it, abc2midi does not
    path.write_text(BOOK.split("X: 14")[0] + "X:20\nM:4/4\nL:1/8\nK:G\nD2d2- f2f2 | e2de d4 |]\n")
    plain = load_corpus(path, workers=1, valid_fraction=0.0)
    checked = load_corpus(path, workers=1, valid_fraction=0.0, abc2midi=True)
    assert len(checked.train) == len(plain.train) - 1
    assert any(r.startswith("abc2midi:") for r in checked.dropped)


# --- the ABC people paste: one spelling per field, old line breaks --------------------------------

DIALECT = """X:7
T:Pasted Reel
% from an online tune book
M:C|
L:1/8
Q:1/2=100
K:D Major
|:dA FA dA FA|B2 GB dBGB!dA FA dA FA|BGAF D4:|!
"""


def test_normalize_reads_old_line_breaks_and_spellings():
    tune = normalize(DIALECT)
    assert tune == ("X:1\nL:1/8\nM:2/2\nK:D\n|:dA FA dA FA|B2 GB dBGB\ndA FA dA FA|BGAF D4:|\n")
    assert "!" not in tune and "Q:" not in tune          # no tempo in any training tune


@pytest.mark.parametrize("field,canonical", [
    ("M:C", "M:4/4"), ("M:4/4", "M:4/4"), ("M:C|", "M:2/2"), ("M:2/2", "M:2/2"),
    ("K:DMaj", "K:D"), ("K:Amin", "K:Amin"), ("K:A Dorian", "K:Ador"), ("K:E minor", "K:Emin"),
])
def test_each_header_field_has_one_spelling(field, canonical):
    letter = field[0]
    raw = f"X:1\n{'M:6/8' if letter != 'M' else field}\n{'K:G' if letter != 'K' else field}\nABc def|\n"
    assert f"\n{canonical}\n" in normalize(raw)


def test_decorations_are_not_line_breaks():
    tune = normalize("X:1\nM:6/8\nK:G\n!trill!B2A GAB|\"G\"dBG !fermata!G3|]\n")
    assert "!trill!B2A GAB|" in tune and "!fermata!G3|]" in tune


def test_default_unit_follows_the_bar_length():
    assert "\nL:1/16\n" in normalize("X:1\nM:2+3/8\nK:G\nABcde|\n")
    assert "\nL:1/8\n" in normalize("X:1\nM:3+3+3/8\nK:G\nABcdefgab|\n")


def test_one_spelling_of_lengths_and_endings():
    tune = normalize("X:1\nM:2/4\nL:1/8\nK:G\nc/2d/2e f``g|1 a2 b2 :| [2 a4|]\n")
    assert "c/d/e fg|1 a2 b2 :|[2 a4|]" in tune


abc2abc = pytest.mark.skipif(not __import__("shutil").which("abc2abc"),
                             reason="abc2abc (Debian package abcmidi) is not installed")


@abc2abc
def test_transposed_copies_go_to_the_keys_of_the_mode():
    tunes = [Tune(normalize("X:1\nM:6/8\nL:1/8\nK:Edor\n|:B,EE GFE|DFA dAF|B,EE GFE|FDF E3:|\n"), source="t")]
    copies = data.transposed_copies(tunes)
    keys = sorted(c.abc.split("\nK:")[1].split("\n")[0] for c in copies)
    assert keys == ["Ador", "Bdor", "Ddor", "Gdor"]
    a = next(c for c in copies if "\nK:Ador\n" in c.abc)
    assert a.shift == 5 and "|:EAA cBA|GBd gdB|EAA cBA|BGB A3:|" in a.abc
    assert all(c.code == tunes[0].code and "transposed" in c.source for c in copies)


@abc2abc
def test_validation_tunes_are_never_transposed_into_training(small_book):
    plain = load_corpus(small_book, workers=1)
    more = load_corpus(small_book, workers=1, transpose=True)
    assert [t.abc for t in more.valid] == [t.abc for t in plain.valid]
    assert not any(t.shift for t in more.valid)
    assert len(more.train) > 2 * len(plain.train) and more.description["tunes_train_as_written"] == len(plain.train)
    originals = {t.source for t in plain.train}
    assert all(t.source.split(" transposed")[0] in originals for t in more.train)
