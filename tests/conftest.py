"""Shared fixtures. Fixtures are written by the tests themselves from music21's folk corpus."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.fixture(scope="session")
def small_book(tmp_path_factory) -> Path:
    """A tune book of 60 real tunes (O'Neill's), enough for a tiny training run."""
    from abcgen.data import folk_paths, read_text, split_tune_book
    tunes = []
    for p in folk_paths():
        if "oneills1850" in str(p):
            tunes += split_tune_book(read_text(p))
        if len(tunes) >= 60:
            break
    path = tmp_path_factory.mktemp("book") / "book.abc"
    path.write_text("".join(tunes[:60]))
    return path


def tiny_overrides(data: Path, out: Path, **extra) -> list[str]:
    items = {"data": str(data), "out_dir": str(out), "cache_dir": str(out / "cache"), **extra}
    return [f"{k}={v}" for k, v in items.items()]


@pytest.fixture(scope="session")
def tiny_checkpoint(small_book, tmp_path_factory) -> Path:
    """A tiny model really trained for a few seconds on real tunes (form codes included)."""
    from abcgen import train
    out = tmp_path_factory.mktemp("tiny")
    cfg = train.load_config(str(ROOT / "configs/tiny.yaml"),
                            tiny_overrides(small_book, out, max_steps=40, eval_every=20))
    train.train(cfg)
    return out / "best.pt"
