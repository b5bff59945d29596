"""One request to compose, built once from the page, the API, the command line or a share link,
and handed unchanged to the sampler and the renderer.

`FIELDS` lists what a request holds, once: the page's inputs, the API's keyword parameters, the
command line's options and a share link's keys are all derived from it (or checked against it by
`tests/test_request.py`). A value that cannot be read raises FieldError naming its field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from abcgen.abc import form as formtools
from abcgen.errors import FieldError
from abcgen.keep import kept_request
from abcgen.render.playing import Playing
from abcgen.sampling.asked import MAX_OPENING, Header, Settings, type_name
from abcgen.tune_types import TUNE_TYPES


@dataclass(frozen=True)
class Field:
    name: str          # API keyword, share-link key; the command line's option is --name-with-dashes
    default: object    # what an absent value means
    help: str
    kind: type | None = None   # the value's type, where the default does not show it (None)

    @property
    def type(self) -> type:
        return self.kind or type(self.default)


FIELDS = (
    Field("type", "", "tune type (reel, jig, hornpipe, ...): reaches the model as R: and fills in "
                      "meter, unit, tempo and form where they are not given"),
    Field("x", 1, "X: number"),
    Field("title", "", "T: field (not seen by the model)"),
    Field("meter", "4/4", "M: field, e.g. 4/4, 6/8, 9/8, 3/4, C, C|"),
    Field("unit", "1/8", "L: field, e.g. 1/8"),
    Field("key", "D", "K: field with mode, e.g. D, Dmix, Ador, Bm, F#min"),
    Field("tempo", "", "Q: field, e.g. 1/4=120 or 3/8=116 (not seen by the model)"),
    Field("form", "", 'form as musicians name it (AABB, AABBCC, AB, "AABB 16" for 16-bar parts) or an '
                      'IrishMAN control code ("S:2 B:9 E:5 B:9"); empty lets the model choose'),
    Field("opening", "", "the first notes, in ABC, kept verbatim"),
    Field("keep_bars", "", 'with a whole tune as the opening: keep its first N bars ("4") or its first '
                           'part ("A") byte for byte and write the rest again, in the tune\'s form'),
    Field("temperature", 1.0, "0 is greedy; 1 is the model's own taste"),
    Field("top_k", 0, "sample from the k likeliest characters (0: all)"),
    Field("top_p", 1.0, "nucleus sampling threshold (1: off)"),
    Field("seed", 0, "the same seed and settings give the same tunes"),
    Field("max_chars", 1200, "length cap; the tune is closed at its last full bar"),
    Field("num", 1, "candidates sampled together"),
    Field("instrument", "fiddle", "the instrument the audio is played on (fiddle, flute, tin whistle, ...)"),
    Field("swing", None, "0 (straight) to 1 (dotted) for written eighths; none: the tune type's lilt",
          float),
    Field("transpose", "", "play and write the tune in this key (e.g. G, Bb, Ador)"),
    Field("loop", "", 'play only part "A", "B", ... or bars "N-M"'),
    Field("speed", 1.0, "0.5 to 1 of the tune's tempo, for practice (the written Q: stays)"),
    Field("count_in", False, "a bar of ticks before the tune"),
)
NAMES = tuple(f.name for f in FIELDS)
DEFAULTS = {f.name: f.default for f in FIELDS}
FILLED_BY_TYPE = ("meter", "unit", "tempo", "form")   # what choosing a type fills in


@dataclass(frozen=True)
class Request:
    header: Header       # type, meter, unit, key (what the model reads), tempo, title, X
    form: str            # checked form text (a preset's, musicians' letters or a control code)
    opening: str         # as typed; the sampler checks it against its vocabulary
    settings: Settings
    playing: Playing = Playing()   # how the audio is played (instrument, swing, practice)

    @classmethod
    def read(cls, values: Mapping) -> "Request":
        """A request from named values; absent or None ones take the type's or the default value."""
        unknown = sorted(set(values) - set(NAMES))
        if unknown:
            raise FieldError(unknown[0], f"is not a request field; known fields: {', '.join(NAMES)}")
        v = {k: values[k] for k in NAMES if values.get(k) is not None}
        kind = type_name(v.get("type"))
        if kind:
            t = TUNE_TYPES[kind]
            for name, value in zip(FILLED_BY_TYPE, (t.meter, t.unit, t.tempo, t.form)):
                v.setdefault(name, value)
        v = {**DEFAULTS, **v}
        header = Header.parse(v["meter"], v["unit"], v["key"], v["tempo"], v["title"], v["x"], kind)
        settings = Settings(v["temperature"], v["top_k"], v["top_p"], v["seed"], v["max_chars"],
                            v["num"]).checked()
        opening = str(v["opening"])
        form = v["form"]
        if str(v["keep_bars"]).strip():
            header, opening, kept_form = kept_request(opening, v["keep_bars"], header, values.get("form") or "")
            form = values.get("form") or kept_form
        if len(opening) > MAX_OPENING:
            raise FieldError("opening", f"is {len(opening)} characters long; the limit is {MAX_OPENING}")
        playing = Playing(v["instrument"], v["swing"], v["transpose"], v["loop"], v["speed"],
                          v["count_in"]).checked()
        return cls(header, form_text(form), opening, settings, playing)

    def values(self) -> dict:
        """The request as named values again (what a share link or a history entry keeps)."""
        h, s = self.header, self.settings
        return {"type": h.kind, "x": h.x, "title": h.title, "meter": h.meter, "unit": h.unit,
                "key": h.key, "tempo": h.tempo or "", "form": self.form, "opening": self.opening, "keep_bars": "",
                "temperature": s.temperature, "top_k": s.top_k, "top_p": s.top_p, "seed": s.seed,
                "max_chars": s.max_chars, "num": s.num, **vars(self.playing)}


def form_text(form) -> str:
    """The form as compose takes it: a preset's text, a musicians' form ("AABB") or a code; checked."""
    text = formtools.PRESETS.get(form, form or "")
    formtools.parse_form(text)
    return text
