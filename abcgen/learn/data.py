"""Load ABC tunes from any source and bring them to one canonical text form.

Sources, one interface (`load_corpus`):
  * "folk" (default): the folk collections that music21 ships in its corpus; nothing to download.
  * a `.abc` file or a folder of them: tune books split at `X:` lines.
  * IrishMAN: `train.json` / `validation.json` (a JSON array or JSON lines) with the columns
    `control code` and `abc notation`; pass the folder or one of the files.

The canonical form is IrishMAN's: `X:1`, `L:`, `M:`, `K:` in that order, then the body, with no
titles, tempo, free text or comments. Each header field has one spelling (`M:4/4` for `M:C`,
`K:D` for `K:D Major`, `K:Ador` for `K:A Dorian`); the old `!` line breaks of some tune books
become real ones. Training, evaluation and the sampler's prompt all use this form. Every tune
that is dropped is counted with its reason. Training tunes can be transposed to the other keys
their instruments play (`abcgen.abc.transpose`), once, at preparation.
"""
from __future__ import annotations

import ast
import hashlib
import json
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

FOLK_COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
VALID_FRACTION = 0.05        # share of tunes held out for validation when a source has no split
IRISHMAN_COLUMNS = ("control code", "abc notation")

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


# --- reading sources ---------------------------------------------------------------------------

def read_text(path: Path) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); convert it with e.g. "
                        f"`iconv -f latin1 -t utf-8`") from None


def split_tune_book(text: str) -> list[str]:
    """Split a tune book into tunes at lines starting with `X:`; text before the first is ignored."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.M)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def folk_paths() -> list[Path]:
    """The folk ABC files that ship inside music21's corpus."""
    import music21
    root = Path(music21.__file__).parent / "corpus"
    paths = [p for c in FOLK_COLLECTIONS for p in sorted((root / c).glob("*.abc"))]
    if not paths:
        raise DataError(f"music21's folk corpus was not found under {root}")
    return paths


def abc_paths(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        paths = sorted(path.rglob("*.abc"))
        if not paths:
            raise DataError(f"{path}: folder holds no .abc files")
        return paths
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return [path]


def read_irishman(path: Path) -> list[tuple[str, str]]:
    """(control code, abc) pairs from an IrishMAN JSON file (array or JSON lines), via pandas."""
    import pandas as pd
    text = read_text(path).lstrip()
    if not text:
        raise DataError(f"{path}: empty file")
    try:
        frame = pd.read_json(path, lines=not text.startswith("["), dtype=False)
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON or JSON lines ({e})") from None
    missing = [c for c in IRISHMAN_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; IrishMAN records need "
                        f"{list(IRISHMAN_COLUMNS)}, found {list(frame.columns)}")
    return [(str(c or ""), str(a or "")) for c, a in zip(frame["control code"], frame["abc notation"])]


def _irishman_files(path: Path) -> dict[str, Path] | None:
    """{'train': ..., 'valid': ...} when `path` is an IrishMAN folder or JSON file, else None."""
    path = Path(path)
    if path.is_dir():
        files = {"train": path / "train.json", "valid": path / "validation.json"}
        return {k: p for k, p in files.items() if p.exists()} or None
    if path.suffix in (".json", ".jsonl"):
        if not path.exists():
            raise DataError(f"{path}: no such file")
        return {"all": path}
    return None


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
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    lines = []
    for line in text.split("\n"):
        if line.startswith("%%"):
            continue
        lines.append(abcfields.strip_comment(line))
    # Join backslash line continuations (O'Neill's): the music runs on.
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

    header = {}
    body: list[str] = []
    in_body = False
    for line in joined:
        line = line.strip()
        if not line:
            continue
        m = abcfields.field_line(line)
        if not in_body:
            if not m:
                continue  # stray text in the header carries no music
            letter, value = m.group(1), m.group(2).strip()
            if letter in "LMK" and letter not in header:
                header[letter] = value
            if letter == "K":
                in_body = True
            continue
        if m:
            letter, value = m.group(1), m.group(2).strip()
            if letter in _BODY_FIELDS_KEPT:
                canonical = _canonical_field(letter, value)
                if canonical:  # as an inline field, so no body line ever looks like a header line
                    body.append(f"[{letter}:{canonical}]")
            continue
        for piece in _bang_breaks(line).split("\n"):
            piece = re.sub(r" +", " ", _clean_music_line(piece)).strip()
            if piece:
                body.append(piece)

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
    irishman = None if source == "folk" else _irishman_files(Path(source))
    items: dict[str, list] = {}
    if irishman:
        for part, path in irishman.items():
            items[part] = [(abc, f"{path.name}#{i}", code, validate, abc2midi)
                           for i, (code, abc) in enumerate(read_irishman(path))]
    else:
        paths = folk_paths() if source == "folk" else abc_paths(Path(source))
        items["all"] = [(raw, f"{p.parent.name}/{p.name}#{i}", None, validate, abc2midi)
                        for p in paths for i, raw in enumerate(split_tune_book(read_text(p)))]
    fingerprint = _fingerprint(items, validate, abc2midi, transpose)

    cached = _read_cache(cache_dir, fingerprint)
    if cached:
        return cached

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
    originals = len(train)
    if transpose and train:
        train = train + transposed_copies(train)
    if not train and not valid:
        raise DataError(f"{source}: no usable tunes ({sum(dropped.values())} dropped: "
                        f"{dict(dropped.most_common(3))})")
    description = {
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
    if irishman:
        both = train + valid
        agree = sum(t.code == form.control_code(body_of(t.abc)) for t in both)
        description["code_agreement"] = agree / max(1, len(both))
    corpus = Corpus(train, valid, dropped, description)
    _write_cache(cache_dir, fingerprint, corpus)
    return corpus


def corpus_fingerprint(train: list[Tune], valid: list[Tune]) -> str:
    """Hash of the prepared training and validation text: the same fingerprint means the model
    was trained on exactly the same data, whatever code version prepared it."""
    h = hashlib.sha256()
    for part in (train, valid):
        for t in part:
            h.update(t.text.encode() + b"\x04")
        h.update(b"|")
    return h.hexdigest()[:16]


def _fingerprint(items: dict[str, list], validate: bool, abc2midi: bool, transpose: bool = False) -> str:
    """Cache key: hash of the raw tunes and of every module that decides what is kept."""
    h = hashlib.sha256()
    h.update(f"{validate}|{abc2midi}|{transpose}".encode())
    for path in deciding_modules():
        h.update(path.read_bytes())
    for part in sorted(items):
        h.update(part.encode())
        for raw, _source, code, *_ in items[part]:
            h.update(raw.encode())
            h.update((code or "").encode())
    return h.hexdigest()[:16]


def deciding_modules() -> list[Path]:
    """This module and every abcgen module it imports, directly or not: the code that decides
    what a prepared corpus holds. Found by reading the imports, so no list can go stale."""
    package = Path(__file__).parents[1]
    seen, todo = set(), [Path(__file__)]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("abcgen"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("abcgen")]
            for name in names:
                parts = name.split(".")[1:]
                todo += [package.joinpath(*parts).with_suffix(".py"), package.joinpath(*parts, "__init__.py")]
    return sorted(seen)


def _cache_path(cache_dir, fingerprint: str) -> Path | None:
    return Path(cache_dir) / f"corpus-{fingerprint}.json" if cache_dir else None


def _read_cache(cache_dir, fingerprint: str) -> Corpus | None:
    path = _cache_path(cache_dir, fingerprint)
    if not path or not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
        tunes = {k: [Tune(**t) for t in d[k]] for k in ("train", "valid")}
        return Corpus(tunes["train"], tunes["valid"], Counter(d["dropped"]), d["description"])
    except (ValueError, KeyError, TypeError):
        return None  # a damaged cache is rebuilt, never trusted


def _write_cache(cache_dir, fingerprint: str, corpus: Corpus) -> None:
    path = _cache_path(cache_dir, fingerprint)
    if not path:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    d = {"train": [t.__dict__ for t in corpus.train], "valid": [t.__dict__ for t in corpus.valid],
         "dropped": dict(corpus.dropped), "description": corpus.description}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(d))
    tmp.replace(path)
