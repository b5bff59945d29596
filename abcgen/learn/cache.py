"""The prepared-corpus cache: preparing a corpus (normalizing and validating every tune) takes
minutes, so the result is kept as JSON under a key that changes whenever the result could.

The key hashes the raw tunes, the preparation settings and the source of every module that
decides what a prepared corpus holds, found by reading the imports: after an edit to the lexer,
the validator or the header spellings, the old file is simply never found again.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path


def deciding_modules(root: Path) -> list[Path]:
    """The module at `root` and every abcgen module it imports, directly or not: the code that
    decides what a prepared corpus holds. Found by reading the imports, so no list can go stale."""
    package = Path(__file__).parents[1]
    seen, todo = set(), [Path(root)]
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


def cache_key(root: Path, settings: str, parts: dict[str, list[tuple]]) -> str:
    """Hash of the settings, of every module `root` leans on, and of each part's raw tunes
    (tuples whose first item is the text and third the dataset's control code or None)."""
    h = hashlib.sha256()
    h.update(settings.encode())
    for path in deciding_modules(root):
        h.update(path.read_bytes())
    for part in sorted(parts):
        h.update(part.encode())
        for raw, _where, code, *_ in parts[part]:
            h.update(raw.encode())
            h.update((code or "").encode())
    return h.hexdigest()[:16]


def _path(cache_dir, key: str) -> Path | None:
    return Path(cache_dir) / f"corpus-{key}.json" if cache_dir else None


def read(cache_dir, key: str) -> dict | None:
    """The record kept under `key`, or None when there is none or it does not parse."""
    path = _path(cache_dir, key)
    if not path or not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a damaged cache is rebuilt, never trusted


def write(cache_dir, key: str, record: dict) -> None:
    """Keep `record` under `key`; written aside under a name of this process's own and renamed, so
    a reader never sees half a file and processes preparing the same corpus at once (the ranks of
    a multi-process training run) do not write over each other's half-written files."""
    path = _path(cache_dir, key)
    if not path:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
