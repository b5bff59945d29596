"""The page's and the API's fields, read and checked before any work starts: a bad value is a
FieldError naming the field and saying how to fix it."""
from __future__ import annotations

from abcgen.errors import FieldError

MAX_ABC = 20_000          # characters of ABC the Render button accepts


def check_abc(abc: str) -> str:
    """The ABC box's text, refused when empty or over the size cap."""
    if not (abc or "").strip():
        raise FieldError("ABC", "the text box is empty; compose a tune or paste one in ABC")
    if len(abc) > MAX_ABC:
        raise FieldError("ABC", f"is {len(abc):,} characters long; the limit is {MAX_ABC:,}")
    return abc
