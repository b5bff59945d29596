"""Keep what you like and ask again for the rest.

A musician keeps the first bars of a tune (or its first part) and has the model write the rest
again, in the tune's own form; or, on a finished tune, asks Continue for one more part. Either way
the kept music becomes the opening, which the sampler writes on from byte for byte, under the
tune's own header. The page, the API and the command line all ask through `kept_opening` and
`continuation`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import replace

from abcgen.abc import form as formtools
from abcgen.abc import header as abcfields
from abcgen.abc.layout import bar_count, first_part, kept_bars
from abcgen.abc.scan import scan
from abcgen.errors import FieldError
from abcgen.sampling.asked import MAX_OPENING, Header
from abcgen.tune_types import tune_type

LETTERS = "ABCDEFGH"
_ENDS = ("|]", ":|", "||", "::")


def tune_header(abc: str) -> Header:
    """The header fields of a tune as written, so what is written on keeps its M, L, K, Q, T and X."""
    field = functools.partial(abcfields.header_field, abc)
    if not field("M") or not field("K"):
        raise FieldError("ABC", "to write on from a tune, its header needs an M: (meter) and a K: (key) line")
    unit = field("L") or abcfields.default_unit(abcfields.parse_meter(field("M")))   # ABC's rule without L:
    kind = tune_type(field("R"))      # an R: abcgen does not know is kept in the text, not read
    return Header.parse(field("M"), unit, field("K"), field("Q"), field("T"), field("X", "1"),
                        kind.name if kind else "")


def _parts(abc: str) -> list[tuple[bool, int]]:
    """(repeated, full bars) of each part of the tune."""
    s = scan(abc)
    body = abc[s.body_start:]
    out, start = [], 0
    for text in formtools.sections(body):
        end = body.index(text, start) + len(text)
        bars = {b.number for b in s.bars if b.number and start <= b.start - s.body_start < end}
        out.append((":|" in text or "::" in text, len(bars)))
        start = end
    return out


def tune_form(abc: str, extra_parts: int = 0) -> str:
    """The tune's form as musicians name it ("AABB", "AB 16"), with `extra_parts` more parts of
    the same kind; "" when it has no parts."""
    parts = _parts(abc)
    if not parts:
        return ""
    repeated = parts[-1][0]
    parts += [(repeated, parts[0][1])] * extra_parts
    if len(parts) > len(LETTERS):
        raise FieldError("ABC", f"the tune has {len(parts) - extra_parts} parts; abcgen writes tunes of at "
                                f"most {len(LETTERS)}, so it cannot add one: keep fewer bars and write "
                                "the rest again instead")
    letters = "".join(LETTERS[i] * (2 if rep else 1) for i, (rep, _) in enumerate(parts))
    bars = parts[0][1]
    if not 1 <= bars <= formtools.MAX_BARS or bars == formtools.MUSICIAN_BARS:
        return letters
    return f"{letters} {bars}"


def _fits(opening: str) -> str:
    if len(opening) > MAX_OPENING:
        raise FieldError("ABC", f"the music to keep is {len(opening):,} characters long; the model can write "
                                f"on from at most {MAX_OPENING:,}: keep fewer bars")
    return opening


def kept_opening(abc: str, bars: int | None = None, part: bool = False) -> str:
    """The tune's first `bars` bars, or with `part` its first part, byte for byte."""
    if part:
        return _fits(first_part(abc))
    try:
        bars = int(bars)
    except (TypeError, ValueError, OverflowError):
        raise FieldError("keep_bars", "give the number of the last bar to keep, e.g. 4") from None
    return _fits(kept_bars(abc, bars))


def kept_request(opening: str, keep: str, header: Header, form: str = "") -> tuple[Header, str, str]:
    """(header, opening, form) that keep part of `opening`, a whole tune (or its music under `header`):
    `keep` is a number of bars ("4") or "A" for the first part. The tune's own header and form are
    kept, unless a form is given."""
    whole = re.search(r"^\s*K:", opening or "", re.MULTILINE) is not None
    tune = opening if whole else header.full() + (opening or "")
    if whole:
        own = tune_header(tune)
        header = own if own.kind or not header.kind else replace(own, kind=header.kind)
    keep = str(keep).strip()
    kept = kept_opening(tune, part=True) if keep.upper() == "A" else kept_opening(tune, keep)
    return header, kept, form or tune_form(tune)


def finished(abc: str) -> bool:
    """Whether the tune ends as a part ends (|], :| or ||) with at least one full bar."""
    body = abcfields.split_tune(abc)[1].rstrip()
    return body.endswith(_ENDS) and bar_count(abc) > 0


def continuation(abc: str, form: str = "") -> tuple[str, str]:
    """(opening, form) for Continue. A finished tune gets one more part like its last one (AABB
    becomes AABBCC), its final bar line made a part's end; an unfinished one is written on in
    `form` (the form it was asked in), or, without one, as the model likes."""
    body = abcfields.split_tune(abc)[1].rstrip()
    if not finished(abc):
        return _fits(body), form
    if body.endswith("|]"):
        body = body[:-2] + "||"
    return _fits(body + "\n"), tune_form(abc, extra_parts=1)
