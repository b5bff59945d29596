"""Bring tunes from any source (`abcgen.learn.sources`) to one canonical text form, validated,
split and ready for training.

The canonical form is IrishMAN's: `X:1`, `L:`, `M:`, `K:` in that order, then the body, with no
titles, tempo, free text or comments. Each header field has one spelling (`M:4/4` for `M:C`,
`K:D` for `K:D Major`, `K:Ador` for `K:A Dorian`); the old `!` line breaks of some tune books
become real ones. Training, evaluation and the sampler's prompt all use this form. Every tune
that is dropped is counted with its reason. Training tunes can be transposed to the other keys
their instruments play (`abcgen.abc.transpose`), once, at preparation. A prepared corpus is
kept in `abcgen.learn.cache`.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from abcgen.abc import check as abctools
from abcgen.abc import header as abcfields
from abcgen.abc import form
from abcgen.abc import transpose as transposing
from abcgen import tune_types
from abcgen.abc.reader import INLINE_FIELD_RE, OPAQUE_RE
from abcgen.errors import DataError, FieldError
from abcgen.learn import cache, sources

VALID_FRACTION = 0.05        # share of tunes held out for validation when a source has no split


# Body lines that are music: everything except these information fields (kept: K, M, L, Q changes).
_BODY_FIELDS_KEPT = set("KML")  # tempo is in no training tune
_QUOTED = re.compile(r'"([^"]*)"')
# A chord symbol ("Am", "D7", "G/B", "Bbmaj7"); any other quoted text ("^Fine", "D.C.", "~") is
# printed words, not music, and standard tools reject it as a chord.
_CHORD_SYMBOL = re.compile(r"\(?[A-G][#b]?(m|min|maj|M|dim|aug|sus|add|\+|o)?[0-9]*"
                           r"(sus[0-9]*|add[0-9]*)?(/[A-G][#b]?)?\)?")
# `!` as a line break (the old convention of many tune books), told apart from `!trill!`-style
# decorations: a decoration is one word between two `!`, with no space or bar line inside.
_DECORATION = re.compile(r'"[^"]*"|\[[A-Za-z]:[^\]]*\]|![A-Za-z0-9.<>()+^_-]+!')


@dataclass
class Tune:
    abc: str          # canonical ABC text, header included
    code: str = ""    # control code (form) that precedes the tune in the training text
    source: str = ""  # where it came from, for messages ("ryansMammoth/AcaciaReel.abc#1")
    shift: int = 0    # semitones this copy was transposed by (0: the tune as written)
    kind: str = ""    # the tune type its source names in R:, as `abcgen.tune_types` names it

    @property
    def prefix(self) -> str:
        """What the tune is written under and the model is not scored on: its type, its form."""
        return type_line(self.kind) + self.code

    @property
    def item(self) -> tuple[str, str, int]:
        """What batching packs: the prefix, the tune, and the type id heard at every step."""
        return self.prefix, self.abc, tune_types.kind_id(self.kind)

    @property
    def text(self) -> str:
        """What the model is trained on: type and control code, then the canonical tune."""
        return self.prefix + self.abc


def type_line(kind: str) -> str:
    """The line that names a tune's type in the training text and the prompt ("R:reel\n")."""
    return f"R:{kind}\n" if kind else ""


def read_type(raw: str) -> str:
    """The type a tune's own R: field names (before its K: line), in the table's spelling; ""
    when it names none or a type the table does not hold (a set dance, a "highland")."""
    for line in raw.replace("\r", "\n").split("\n"):
        line = line.strip()
        if line.startswith("K:"):
            return ""
        if line.startswith("R:"):
            found = tune_types.tune_type(line[2:])
            return found.name if found else ""
    return ""


@dataclass
class Corpus:
    train: list[Tune]
    valid: list[Tune]
    dropped: Counter = field(default_factory=Counter)  # reason -> number of tunes
    description: dict = field(default_factory=dict)    # source, counts, fingerprint

    def report(self) -> str:
        d = self.description
        lines = [f"{d.get('source')}: {len(self.train)} training and {len(self.valid)} validation tunes "
                 f"({d.get('chars_train', 0):,} training characters); {sum(self.dropped.values())} dropped"]
        for reason, n in self.dropped.most_common(12):
            lines.append(f"  dropped {n:5d}: {reason}")
        if "code_agreement" in d:
            lines.append(f"  control codes computed here agree with the dataset's on {d['code_agreement']:.1%}")
        return "\n".join(lines)


class Dropped(Exception):
    """A tune cannot be used; the message is the reason, counted by the loader."""


# --- normalization -----------------------------------------------------------------------------

def _canonical_field(letter: str, value: str) -> str | None:
    """Canonical value of a header field the model sees, or raise Dropped."""
    parse = {"M": abcfields.parse_meter, "L": abcfields.parse_unit, "K": abcfields.parse_key}[letter]
    try:
        return abcfields.model_meter(parse(value)) if letter == "M" else parse(value)
    except FieldError as e:
        raise Dropped(f"bad {letter}: field") from e


def normalize(raw: str) -> str:
    """Bring one tune to the canonical form, or raise Dropped with the reason."""
    header, body = _header_and_body(_joined_lines(raw))
    if "K" not in header:
        raise Dropped("no K: field")
    if "M" not in header:
        raise Dropped("no M: field")
    meter = _canonical_field("M", header["M"])
    unit = _canonical_field("L", header["L"]) if "L" in header else abcfields.default_unit(meter)
    key = _canonical_field("K", header["K"])
    if not any(re.search(r"[A-Ga-g]", line) for line in body if not INLINE_FIELD_RE.fullmatch(line)):
        raise Dropped("no notes")
    head = ["X:1", f"L:{unit}", f"M:{meter}", f"K:{key}"]
    tune = "\n".join(head + body) + "\n"
    if not tune.isascii():
        raise Dropped("non-ASCII characters")
    return tune


def _joined_lines(raw: str) -> list[str]:
    """The tune's lines without comments or `%%` directives, with backslash continuations
    (O'Neill's) joined: the music runs on, so a bar is never cut in two."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    lines = [abcfields.strip_comment(line) for line in text.split("\n") if not line.startswith("%%")]
    joined: list[str] = []
    carry = ""
    for line in lines:
        line = carry + line
        if line.endswith("\\"):
            carry = line[:-1] + " "
            continue
        carry = ""
        joined.append(line)
    if carry:
        joined.append(carry)
    return joined


def _header_and_body(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """The first L:, M: and K: values of the header (stray header text carries no music), and
    the body's music lines, cleaned, with K:, M:, L: changes written as inline fields so that no
    body line ever looks like a header line."""
    header: dict[str, str] = {}
    body: list[str] = []
    in_body = False
    for line in lines:
        line = line.strip()
        if not line:
            continue
        m = abcfields.field_line(line)
        if not in_body:
            if m:
                letter, value = m.group(1), m.group(2).strip()
                if letter in "LMK" and letter not in header:
                    header[letter] = value
                in_body = letter == "K"
            continue
        if m:
            letter, value = m.group(1), m.group(2).strip()
            if letter in _BODY_FIELDS_KEPT and (canonical := _canonical_field(letter, value)):
                body.append(f"[{letter}:{canonical}]")
            continue
        for piece in _bang_breaks(line).split("\n"):
            piece = re.sub(r" +", " ", _clean_music_line(piece)).strip()
            if piece:
                body.append(piece)
    return header, body


def _clean_music_line(line: str) -> str:
    """Remove what standard ABC tools trip over and that carries no music: quoted text that is
    not a chord symbol, up/down-bow marks (u, v); and write a decoration before a slur as a
    decoration of the slur's first note (`T(AB)` -> `(TAB)`)."""
    line = _QUOTED.sub(lambda m: m.group(0) if _CHORD_SYMBOL.fullmatch(m.group(1)) else "", line)
    pieces, last = [], 0
    for m in OPAQUE_RE.finditer(line):  # chord symbols, decorations, inline fields: not notes
        pieces += [_clean_notes(line[last:m.start()]), m.group(0)]
        last = m.end()
    return "".join(pieces + [_clean_notes(line[last:])])


def _clean_notes(text: str) -> str:
    """Bow marks out; one spelling for what ABC writes several ways: no beam-joining backquotes,
    `A/` for `A/2`, `|[1` for `| [1`."""
    text = re.sub(r"[uv`]", "", text)
    text = re.sub(r"(?<=[A-Ga-gxz,'])/2(?![0-9/])", "/", text)
    text = re.sub(r"\| +\[(?=\d)", "|[", text)
    return re.sub(r"([~.HLMOPST]+)\(", r"(\1", text)


def _bang_breaks(line: str) -> str:
    """The line with every `!` that is not part of a decoration, quoted text or inline field
    turned into a line break."""
    pieces, last = [], 0
    for m in _DECORATION.finditer(line):
        pieces += [line[last:m.start()].replace("!", "\n"), m.group(0)]
        last = m.end()
    return "".join(pieces + [line[last:].replace("!", "\n")])


def body_of(tune: str) -> str:
    """The body of a canonical tune (everything after the K: line)."""
    return abcfields.split_tune(tune)[1]


# --- preparing tunes (normalize + validate), in parallel ---------------------------------------

def _prepare_one(item: tuple[str, str, str | None, bool, bool]) -> tuple[str, str | Tune]:
    """(raw, source, code or None, validate, abc2midi) -> ("ok", Tune) or ("dropped", reason)."""
    raw, source, code, check, check_abc2midi = item
    try:
        tune = normalize(raw)
    except Dropped as e:
        return "dropped", str(e)
    if check:
        report = abctools.validate(tune)
        if not report.valid:
            first = report.errors[0].message if report.errors else "does not parse"
            return "dropped", "fails validation: " + _reason_kind(first)
    if check_abc2midi:
        errors = [m for m in abctools.abc2midi_errors(tune) or [] if m.startswith("Error")]
        if errors:
            return "dropped", "abc2midi: " + _reason_kind(errors[0].split(":", 1)[-1].strip())
    computed = form.control_code(body_of(tune))
    return "ok", Tune(tune, code if code is not None else computed, source, kind=read_type(raw))


def _reason_kind(message: str) -> str:
    """Group similar messages: numbers and quoted bits replaced, so counts are meaningful."""
    kind = re.sub(r"\d+", "N", message)
    kind = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", kind)
    return kind[:80]


def _prepare(items, workers: int) -> tuple[list[Tune], Counter]:
    tunes, dropped = [], Counter()
    if workers > 1 and len(items) > 200:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_prepare_one, items, chunksize=64))
    else:
        results = [_prepare_one(i) for i in items]
    for status, value in results:
        if status == "ok":
            tunes.append(value)
        else:
            dropped[value] += 1
    return tunes, dropped


# --- transposed copies ------------------------------------------------------------------------

def transposed_copies(tunes: list[Tune]) -> list[Tune]:
    """Each tune in the other keys of its mode that folk instruments play, normalized like any
    tune; copies that do not normalize are left out. The form code is the original's: transposing
    changes no section or bar."""
    jobs = []
    for t in tunes:
        key = re.search(r"^K:(.*)$", t.abc, re.M)
        jobs += [(t, s) for s in transposing.shifts_for(key.group(1) if key else "")]
    texts = transposing.transpose([t.abc for t, _ in jobs], [s for _, s in jobs])
    copies = []
    for (t, s), text in zip(jobs, texts):
        if text is None:
            continue                     # abc2abc gave nothing back for this tune
        try:
            copies.append(Tune(normalize(text), t.code, f"{t.source} transposed {s:+d}", shift=s,
                               kind=t.kind))
        except Dropped:
            continue
    return copies


# --- splitting ---------------------------------------------------------------------------------

def stable_bucket(text: str) -> float:
    """A number in [0, 1) that depends only on the text: identical tunes land on the same side."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 2**32


def split(tunes: list[Tune], valid_fraction: float = VALID_FRACTION) -> tuple[list[Tune], list[Tune]]:
    """Hold out the tunes whose stable bucket falls below `valid_fraction`; a small source still
    gets at least one validation tune (all copies of it) when a fraction is asked for."""
    threshold = valid_fraction
    if valid_fraction > 0 and len({t.abc for t in tunes}) >= 2:
        threshold = max(threshold, min(stable_bucket(t.abc) for t in tunes) + 1e-12)
    train = [t for t in tunes if stable_bucket(t.abc) >= threshold]
    valid = [t for t in tunes if stable_bucket(t.abc) < threshold]
    return train, valid


# --- the one entry point -----------------------------------------------------------------------

def load_corpus(source: str | Path = "folk", validate: bool = True, workers: int = 2,
                valid_fraction: float = VALID_FRACTION, cache_dir: str | Path | None = None,
                abc2midi: bool = False, transpose: bool = False) -> Corpus:
    """Load, normalize, validate and split a source. Raises DataError with a clear message.
    With `abc2midi`, tunes that abc2midi (Debian package abcmidi) reports errors on are dropped too.
    With `transpose`, the training split also gets each tune in the other keys of its mode that
    folk instruments play (`abcgen.abc.transpose`); the validation split stays as written, so every
    copy of a tune is on the side of its original."""
    source = str(source)
    if abc2midi and abctools.abc2midi_errors("X:1\nM:4/4\nL:1/8\nK:C\nCDEF|]\n") is None:
        raise DataError("the abc2midi check is on but abc2midi is not installed: "
                        "`apt-get install abcmidi`, or turn the check off (abc2midi_check=false)")
    raw = sources.raw_tunes(source)
    key = cache.cache_key(Path(__file__), f"{validate}|{abc2midi}|{transpose}", raw)
    cached = _corpus_from_record(cache.read(cache_dir, key))
    if cached:
        return cached
    items = {part: [(text, where, code, validate, abc2midi) for text, where, code in tunes]
             for part, tunes in raw.items()}
    train, valid, dropped = _prepared_split(items, workers, valid_fraction)
    originals = len(train)
    if transpose and train:
        train = train + transposed_copies(train)
    if not train and not valid:
        raise DataError(f"{source}: no usable tunes ({sum(dropped.values())} dropped: "
                        f"{dict(dropped.most_common(3))})")
    description = _describe(source, train, valid, dropped, originals, validate, abc2midi)
    if any(code is not None for tunes in raw.values() for _, _, code in tunes):
        both = train + valid                      # the dataset brought its own control codes
        agree = sum(t.code == form.control_code(body_of(t.abc)) for t in both)
        description["code_agreement"] = agree / max(1, len(both))
    corpus = Corpus(train, valid, dropped, description)
    cache.write(cache_dir, key, _corpus_record(corpus))
    return corpus


def _prepared_split(items: dict[str, list], workers: int,
                    valid_fraction: float) -> tuple[list[Tune], list[Tune], Counter]:
    """Prepare every part, then split: a source split in train and valid keeps its split (unless
    its valid part is empty); one without gets the stable split."""
    parts, dropped = {}, Counter()
    for part, its in items.items():
        parts[part], d = _prepare(its, workers)
        dropped += d
    if "all" in parts:
        train, valid = split(parts.pop("all"), valid_fraction)
    else:
        train, valid = parts.get("train", []), parts.get("valid", [])
        if not valid:
            train, valid = split(train, valid_fraction)
    return train, valid, dropped


def _describe(source: str, train: list[Tune], valid: list[Tune], dropped: Counter, originals: int,
              validate: bool, abc2midi: bool) -> dict:
    """What the checkpoint's model card says about its data: counts, types, checks, fingerprint."""
    return {
        "source": source,
        "tunes_train": len(train),
        "tunes_train_as_written": originals,
        "tunes_valid": len(valid),
        "types": dict(Counter(t.kind or "none" for t in train + valid if not t.shift).most_common()),
        "chars_train": sum(len(t.text) for t in train),
        "chars_valid": sum(len(t.text) for t in valid),
        "dropped": dict(dropped),
        "validated": validate,
        "abc2midi_checked": abc2midi,
        "fingerprint": corpus_fingerprint(train, valid),
    }


def corpus_fingerprint(train: list[Tune], valid: list[Tune]) -> str:
    """Hash of the prepared training and validation text: the same fingerprint means the model
    was trained on exactly the same data, whatever code version prepared it."""
    h = hashlib.sha256()
    for part in (train, valid):
        for t in part:
            h.update(t.text.encode() + b"\x04")
        h.update(b"|")
    return h.hexdigest()[:16]


def _corpus_record(corpus: Corpus) -> dict:
    """The corpus as plain JSON values, for the cache."""
    return {"train": [t.__dict__ for t in corpus.train], "valid": [t.__dict__ for t in corpus.valid],
            "dropped": dict(corpus.dropped), "description": corpus.description}


def _corpus_from_record(record: dict | None) -> Corpus | None:
    """The corpus a cache record holds, or None when there is none or it is damaged."""
    if record is None:
        return None
    try:
        tunes = {k: [Tune(**t) for t in record[k]] for k in ("train", "valid")}
        return Corpus(tunes["train"], tunes["valid"], Counter(record["dropped"]), record["description"])
    except (KeyError, TypeError):
        return None  # a damaged cache is rebuilt, never trusted
