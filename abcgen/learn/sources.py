"""Read the raw tunes of a source, as written, before any normalization.

Sources, one interface (`raw_tunes`):
  * "folk" (default): the folk collections that music21 ships in its corpus; nothing to download.
  * a `.abc` file or a folder of them: tune books split at `X:` lines.
  * IrishMAN: `train.json` / `validation.json` (a JSON array or JSON lines) with the columns
    `control code` and `abc notation`; pass the folder or one of the files.
"""
from __future__ import annotations

import re
from pathlib import Path

from abcgen.errors import DataError

FOLK_COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
IRISHMAN_COLUMNS = ("control code", "abc notation")

# One raw tune: (text as written, where it came from, the dataset's control code or None).
RawTune = tuple[str, str, str | None]


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


def irishman_files(path: Path) -> dict[str, Path] | None:
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


def raw_tunes(source: str) -> dict[str, list[RawTune]]:
    """The source's tunes by part: "train" and "valid" where an IrishMAN source splits them,
    else "all". Only IrishMAN tunes bring a control code; the others get None."""
    irishman = None if source == "folk" else irishman_files(Path(source))
    if irishman:
        return {part: [(abc, f"{path.name}#{i}", code) for i, (code, abc) in enumerate(read_irishman(path))]
                for part, path in irishman.items()}
    paths = folk_paths() if source == "folk" else abc_paths(Path(source))
    return {"all": [(raw, f"{p.parent.name}/{p.name}#{i}", None)
                    for p in paths for i, raw in enumerate(split_tune_book(read_text(p)))]}
