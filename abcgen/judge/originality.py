"""Is a tune new, or does it copy a training tune? The longest passage, in bars, that a tune shares
with any tune of the training corpus, found whatever key either is written in.

Each bar is reduced to its rhythm and the intervals between its notes, so a transposed bar reads
the same; two bars in a row are also tied by the interval between them. An index maps every pair of
successive bars of the corpus to where it occurs; a lookup follows the pairs of a tune along the
diagonals of that index (the longest common run of bars), a few milliseconds a tune. The index of
the training corpus is built once (`python -m abcgen.judge.originality`, or the musicality benchmark)
and saved under `.cache/` with the corpus fingerprint it was built from.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from abcgen.judge.reading import Bar, Piece, read

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache"
DEFAULT_FILE = CACHE_DIR / "originality-folk.npz"
INDEX_VERSION = "1"     # bump when what an indexed bar is (reader, bar_shapes) changes
NEW_BELOW = 4           # bars: a shared passage shorter than this is the idiom, not a copy
MAX_HITS = 4000         # places one pair of bars is looked up in, to bound a lookup's time
_POS_BITS = 16          # a place is tune * 2**16 + bar position


def _hash(value) -> int:
    """A stable 63-bit hash (Python's own is salted per process for text)."""
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "big") >> 1


def _ticks(length: Fraction) -> int:
    return round(length * 3840)  # whole note = 3840: every length up to 7-tuplets of 1/64 is whole


def bar_shapes(bars: list[Bar]) -> tuple[list[int], list[int | None]]:
    """Per bar, a hash of its rhythm and inner intervals, and the interval from the previous bar's
    last note to its first (None where either has no note)."""
    shapes, links, last = [], [], None
    for bar in bars:
        events, prev = [], None
        for n in bar.notes:
            if not n.pitches:
                events.append((_ticks(n.length), "r"))
                continue
            top = n.pitches[-1]
            chord = tuple(p - top for p in n.pitches[:-1])
            events.append((_ticks(n.length), 0 if prev is None else top - prev, chord))
            prev = top
        pitched = [n.pitches[-1] for n in bar.notes if n.pitches]
        links.append(pitched[0] - last if pitched and last is not None else None)
        last = pitched[-1] if pitched else None
        shapes.append(_hash(tuple(events)))
    return shapes, links


def _pairs(bars: list[Bar]) -> tuple[list[int], list[int]]:
    """Hashes of every bar (position i) and of every pair of bars ending at position i >= 1."""
    shapes, links = bar_shapes(bars)
    return shapes, [_hash((shapes[i - 1], links[i], shapes[i])) for i in range(1, len(shapes))]


@dataclass
class Originality:
    """The training tune that shares the longest passage with this one (transposition aside)."""
    shared_bars: int                  # bars in the longest shared passage
    source: str | None = None         # Tune.source of the training tune
    title: str | None = None          # its T: title, when the source file has one
    bars: tuple[int, int] | None = None         # first and last bar of the passage here
    source_bars: tuple[int, int] | None = None  # ... and in the training tune
    new: bool = True                  # no passage of NEW_BELOW bars or more is shared

    def text(self) -> str:
        name = self.title or self.source or "a training tune"
        if self.new:
            s = "" if self.shared_bars == 1 else "s"
            return f"this tune is new (longest shared passage: {self.shared_bars} bar{s})"
        a, b = self.bars
        where = f"{self.source}, bars {self.source_bars[0]}-{self.source_bars[1]}"
        return f"bars {a}-{b} are from {name} ({where})"


@dataclass
class CorpusIndex:
    sources: list[str]        # Tune.source per indexed tune
    titles: list[str]         # T: title ("" when unknown)
    first_numbers: list[int]  # number of each tune's first bar (0 when it opens with a pickup)
    pair_keys: np.ndarray     # sorted pair hashes ...
    pair_places: np.ndarray   # ... and where each occurs (tune << 16 | position of its 2nd bar)
    bar_keys: np.ndarray      # sorted distinct bar hashes ...
    bar_places: np.ndarray    # ... and one place where each occurs
    fingerprint: str = ""     # version, source and corpus fingerprint it was built from

    @classmethod
    def build(cls, tunes) -> "CorpusIndex":
        """From (abc, source, title) triples."""
        sources, titles, firsts, pairs, singles = [], [], [], [], {}
        for t, (abc, source, title) in enumerate(tunes):
            bars = read(abc).bars[:2 ** _POS_BITS - 1]
            if not bars:
                continue
            t = len(sources)
            sources.append(source)
            titles.append(title or "")
            firsts.append(bars[0].number)
            shapes, pair_hashes = _pairs(bars)
            for i, h in enumerate(shapes):
                singles.setdefault(h, (t << _POS_BITS) | i)
            pairs += [(h, (t << _POS_BITS) | (i + 1)) for i, h in enumerate(pair_hashes)]
        pairs.sort()
        keys = np.array(sorted(singles), dtype=np.int64)
        return cls(sources, titles, firsts,
                   np.array([h for h, _ in pairs], dtype=np.int64),
                   np.array([p for _, p in pairs], dtype=np.int64),
                   keys, np.array([singles[k] for k in keys.tolist()], dtype=np.int64))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        meta = json.dumps({"sources": self.sources, "titles": self.titles,
                           "first_numbers": self.first_numbers, "fingerprint": self.fingerprint})
        np.savez(tmp, meta=np.array(meta), pair_keys=self.pair_keys, pair_places=self.pair_places,
                 bar_keys=self.bar_keys, bar_places=self.bar_places)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "CorpusIndex":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(meta["sources"], meta["titles"], meta["first_numbers"], z["pair_keys"],
                       z["pair_places"], z["bar_keys"], z["bar_places"], meta.get("fingerprint", ""))

    def _bar_number(self, place: int) -> int:
        tune, pos = place >> _POS_BITS, place & (2 ** _POS_BITS - 1)
        return self.first_numbers[tune] + pos

    def lookup(self, piece: Piece) -> Originality:
        """The longest run of successive bars this tune shares with one indexed tune."""
        bars = piece.bars
        if not bars:
            return Originality(0)
        shapes, pair_hashes = _pairs(bars)
        best_run, best_end, best_place = 0, 0, None    # run of pairs, its end here and there
        runs: dict[int, int] = {}
        for i, h in enumerate(pair_hashes, start=1):
            lo = np.searchsorted(self.pair_keys, h, "left")
            hi = np.searchsorted(self.pair_keys, h, "right")
            current = {}
            for place in self.pair_places[lo:min(hi, lo + MAX_HITS)].tolist():
                run = runs.get(place - 1, 0) + 1
                current[place] = run
                if run > best_run:
                    best_run, best_end, best_place = run, i, place
            runs = current
        if best_place is None:   # no two bars in a row are shared: is any one bar?
            keys = np.asarray(shapes, dtype=np.int64)
            at = np.searchsorted(self.bar_keys, keys).clip(0, max(0, len(self.bar_keys) - 1))
            found = [i for i, a in enumerate(at.tolist())
                     if len(self.bar_keys) and self.bar_keys[a] == keys[i]]
            if not found:
                return Originality(0)
            best_end, best_place = found[0], int(self.bar_places[at[found[0]]])
            shared = 1
        else:
            shared = best_run + 1
        tune = best_place >> _POS_BITS
        here = (bars[best_end - shared + 1].number, bars[best_end].number)
        there_end = self._bar_number(best_place)
        return Originality(shared, self.sources[tune], self.titles[tune] or None, here,
                           (there_end - shared + 1, there_end), shared < NEW_BELOW)


# ----------------------------------------------------------------------------------------
# the training corpus's index

def is_original(tune) -> bool:
    """False for a transposed copy the loader made of a training tune: only originals are
    indexed, a copy would only repeat its original."""
    return not getattr(tune, "shift", 0) and "transposed" not in (getattr(tune, "source", "") or "")


def corpus_titles(sources: list[str]) -> dict[str, str]:
    """T: titles of folk-corpus tunes by source ("ryansMammoth/SilverSpear.abc#3")."""
    from abcgen.learn.sources import folk_paths, read_text, split_tune_book
    wanted: dict[str, set[int]] = {}
    for s in sources:
        name, _, number = s.rpartition("#")
        if number.isdigit():
            wanted.setdefault(name, set()).add(int(number))
    titles = {}
    for path in folk_paths():
        name = f"{path.parent.name}/{path.name}"
        if name not in wanted:
            continue
        for i, raw in enumerate(split_tune_book(read_text(path))):
            m = re.search(r"^T:\s*(.+?)\s*$", raw, re.M)
            if i in wanted[name] and m:
                titles[f"{name}#{i}"] = m.group(1)
    return titles


def corpus_index(source: str = "folk", path: Path | None = DEFAULT_FILE) -> CorpusIndex:
    """The index of a source's untransposed training tunes: the one saved at `path` when it was
    built from the same corpus by this version, else built (and saved there)."""
    from abcgen.learn.data import load_corpus
    corpus = load_corpus(source, abc2midi=False, cache_dir=CACHE_DIR)
    key = f"{INDEX_VERSION}:{source}:{corpus.description.get('fingerprint', '')}"
    if path and path.exists():
        try:
            index = CorpusIndex.load(path)
            if index.fingerprint == key:
                return index
        except (OSError, ValueError, KeyError):
            pass  # a damaged or stale file is rebuilt
    tunes = [t for t in corpus.train if is_original(t)]
    titles = corpus_titles([t.source for t in tunes]) if source == "folk" else {}
    index = CorpusIndex.build((t.abc, t.source, titles.get(t.source, "")) for t in tunes)
    index.fingerprint = key
    if path:
        try:
            index.save(path)
        except OSError:
            pass  # a read-only disk: the index still serves this process
    return index


_default: dict = {"index": None, "checked": False}  # the loaded index; checked against the corpus


def default_index(build: bool = False) -> CorpusIndex | None:
    """The training corpus's index for `analysis.analyse`: from memory, else from `.cache/` (a
    tenth of a second). With `build`, it is first checked against the corpus and built when
    missing or stale (about ten seconds on two cores, more for a fresh checkout whose corpus is
    not prepared yet; `python -m abcgen.judge.originality` does the same). Without it, None when no index
    was built yet: a report never waits for the corpus."""
    if build and not _default["checked"]:
        _default.update(index=corpus_index(), checked=True)
    elif _default["index"] is None and DEFAULT_FILE.exists():
        try:
            index = CorpusIndex.load(DEFAULT_FILE)
            if index.fingerprint.startswith(f"{INDEX_VERSION}:"):
                _default["index"] = index
        except (OSError, ValueError, KeyError):
            pass
    return _default["index"]


if __name__ == "__main__":
    import time
    start = time.monotonic()
    built = default_index(build=True)
    print(f"{DEFAULT_FILE}: {len(built.sources)} tunes, {len(built.pair_keys)} pairs of bars, "
          f"{time.monotonic() - start:.1f} s")
