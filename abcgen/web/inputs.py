"""The page's and the API's fields, read and checked before any work starts: a bad value is a
FieldError naming the field and saying how to fix it."""
from __future__ import annotations

import functools

from abcgen.abc import header as abcfields
from abcgen.errors import FieldError
from abcgen.sampling.sample import MAX_OPENING, Header
from abcgen.tune_types import tune_type

MAX_ABC = 20_000          # characters of ABC the Render button accepts


def check_abc(abc: str) -> str:
    """The ABC box's text, refused when empty or over the size cap."""
    if not (abc or "").strip():
        raise FieldError("ABC", "the text box is empty; compose a tune or paste one in ABC")
    if len(abc) > MAX_ABC:
        raise FieldError("ABC", f"is {len(abc):,} characters long; the limit is {MAX_ABC:,}")
    return abc


def header_of(abc: str) -> Header:
    """The header fields of a tune as written, so Continue keeps the tune's own M, L, K, Q, T and X."""
    field = functools.partial(abcfields.header_field, abc)
    if not field("M") or not field("K"):
        raise FieldError("ABC", "to continue a tune, its header needs an M: (meter) and a K: (key) line")
    unit = field("L") or abcfields.default_unit(abcfields.parse_meter(field("M")))   # ABC's rule without L:
    kind = tune_type(field("R"))      # an R: abcgen does not know is kept in the text, not read
    return Header.parse(field("M"), unit, field("K"), field("Q"), field("T"), field("X", "1"),
                        kind.name if kind else "")


def continuation_opening(abc: str) -> str:
    """The tune's music as an opening to write on from; a final "|]" becomes a plain bar line."""
    body = abcfields.split_tune(abc)[1].rstrip()
    if body.endswith("|]"):
        body = body[:-2] + "|"
    if len(body) > MAX_OPENING:
        raise FieldError("ABC", f"the tune has {len(body):,} characters of music; "
                                f"Continue can take at most {MAX_OPENING:,}")
    return body
