"""Turn header fields, an optional form and an opening into complete tunes.

The prompt is what training saw: the end-of-tune symbol, the control code (form), the canonical
header (`X:1`, L, M, K, spelled as in the training text) and the opening. The LSTM state is
carried, so each new character costs one step, and all candidates are sampled together as one
batch. Masks keep the model from writing
what would break the tune: header-field lines and blank lines in the body, and everything a bar
tune state (`abcgen.abc.tune`) that follows each tune as it is written forbids: overfull or short bars,
unreadable note lengths, unclosed groups, and, for a requested form, section ends in the wrong
place. A tune ends at the end-of-tune symbol; at the length cap it is closed at its last complete
bar. Same seed and settings give the same tunes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterator

import torch

from abcgen.abc import header as abcfields
from abcgen.abc import form as formtools
from abcgen.abc.accepts import allows, next_state
from abcgen.abc.tune import TuneState
from abcgen.errors import FieldError
from abcgen.learn.model import CharLSTM, repeat_state
from abcgen.tune_types import MELODY_RANGE, TUNE_TYPES, kind_id
from abcgen.learn.data import type_line
from abcgen.learn.vocab import END, Vocab
from abcgen.sampling.asked import Header, Settings, check_opening

CODE_CHARS = set("SBE:0123456789\n")
CODE_LIMIT = 120         # characters the model may spend writing the form before the header is forced
GRACE = 0.5             # once enough tunes are accepted, the other rows get this share more steps to end
GREEDY_BELOW = 0.01      # temperatures this low are greedy: dividing by them overflows the logits
MIN_LABELLED = 20        # a tune type reaches the model (as R:) only when at least this many of its
                         # training tunes were labelled with it; for rarer types the meter speaks


@dataclass
class Candidate:
    header: Header
    code: str            # the control code the tune was written under (requested + model's)
    body: str            # the music after the header (opening included)
    ended: bool          # True: the model ended it; False: closed at the length cap
    closing: list[str] = field(default_factory=list)  # what was done to close it at the cap

    @property
    def abc(self) -> str:
        return self.header.full() + self.body


@dataclass(frozen=True)
class Progress:
    """What `Sampler.stream` yields while it writes: the bodies so far, one per candidate, for a
    page that shows the tune as it grows."""
    bodies: list[str]


@dataclass(frozen=True)
class Finished:
    """What `Sampler.stream` yields last: the finished candidates."""
    candidates: list[Candidate]


@dataclass
class Row:
    """One candidate while it is written. All rows are sampled as one batch, but each is at its
    own place: still writing its form code or already its body, with characters of its own forced
    on it and its own bar clock masking what it may write next."""
    clock: TuneState          # the body as written so far; what may come next picks the body mask
    code: str                 # the control code: the requested one, then what the model added
    body: str = ""            # the music so far (opening included), without the header
    phase: str = "body"       # "code" while the model writes its form, then "body"
    forced: list[str] = field(default_factory=list)  # characters written next whatever the model says
    header_left: int = 0      # how many of `forced` are header characters, which the body leaves out
    written: int = 0          # body characters counted against `max_chars`
    done: bool = False        # nothing more is written to this row
    ended: bool = False       # the model wrote the end-of-tune symbol (not cut at the length cap)
    accepted: bool = False    # `accept` said yes to it (only asked once the model ended it)



class Sampler:
    """Holds a model and its vocabulary; `stream` and `sample` write tunes."""

    def __init__(self, model: CharLSTM, vocab: Vocab, device: str = "cpu", types=frozenset()):
        self.model = model.eval()
        self.types = frozenset(types)    # the tune types the model learned to read in R:
        self.vocab = vocab
        self.device = device
        code_ids = [vocab.index[c] for c in CODE_CHARS if c in vocab.index]
        self.code_mask = torch.ones(len(vocab), dtype=torch.bool)
        self.code_mask[code_ids] = False           # True = forbidden
        self.knows_codes = all(c in vocab.index for c in "SBE")
        self.masks: dict[tuple, torch.Tensor] = {}   # body state -> additive mask (0 or -inf)

    # -- public ---------------------------------------------------------------------------------

    def sample(self, header: Header, opening: str = "", form: str = "",
               settings: Settings = Settings(), deadline: float | None = None) -> list[Candidate]:
        """The finished candidates of `stream`, without its progress."""
        for event in self.stream(header, opening, form, settings, deadline=deadline):
            if isinstance(event, Finished):
                return event.candidates
        raise AssertionError("stream ended without its Finished event")

    @torch.no_grad()
    def stream(self, header: Header, opening: str = "", form: str = "", settings: Settings = Settings(),
               every: int = 40, accept=None, enough: int = 0, grace: float = GRACE,
               deadline: float | None = None) -> Iterator[Progress | Finished]:
        """Yields the bodies written so far (`Progress`) every `every` characters, and finally the
        finished candidates (`Finished`). At `deadline` (a `time.monotonic()` value) the rows still
        being written are closed at their last complete bar, as at the length cap.

        With `accept` (a function of a Candidate) and `enough`: once `enough` candidates the model
        ended are accepted, the other rows get `grace` times as many steps again to end theirs, and
        the rows still being written then are left out. The batch need not wait for a row that
        rambles on, and a tune a little longer than the first (a strathspey's dotted pairs take
        characters) still competes with it."""
        settings = settings.checked()
        self._check_header(header)
        opening = check_opening(opening, self.vocab)
        request = formtools.parse_form(form)
        code_done = self._form_is_given(request.code)
        gen = torch.Generator().manual_seed(settings.seed)
        logits, state, heard = self._read_prompt(header, request.code, opening if code_done else None,
                                                 settings.num)
        start = opening if code_done else ""     # else the opening is forced after the model's form
        rows = [Row(clock=_clock(header, request).feed_text(start), code=request.code, body=start,
                    phase="body" if code_done else "code") for _ in range(settings.num)]
        stop_at = None      # the step after which rows still being written are left out
        for step in range(settings.max_chars + CODE_LIMIT + len(header.prompt()) + 2):
            choice = self._choose(logits, rows, settings, gen)
            for r, row in enumerate(rows):
                if row.done:
                    continue
                c = self.vocab.chars[choice[r]]
                if row.phase == "code":
                    choice[r] = self.vocab.index[_write_code(row, c, header, opening, len(request.code))]
                else:
                    self._write_body(row, c, header, settings.max_chars, accept)
            if all(row.done for row in rows) or (deadline is not None and time.monotonic() >= deadline):
                break
            if enough and stop_at is None and sum(row.accepted for row in rows) >= enough:
                stop_at = step + int(grace * step)
            if stop_at is not None and step >= stop_at:
                rows = [row for row in rows if row.done]
                break
            out, state = self.model(torch.tensor(choice, device=self.device).unsqueeze(1), state, **heard)
            logits = out[:, -1]
            if every and step % every == every - 1:
                yield Progress([row.body for row in rows])
        yield Finished([self._finish(header, row) for row in rows])

    def type_line(self, header: Header) -> str:
        """The R: line the prompt starts with: the tune's type where the model learned it."""
        return type_line(header.kind) if header.kind in self.types else ""

    def kind_of(self, header: Header) -> int:
        """The type id the model hears at every step (a model conditioned on the type), or 0."""
        return kind_id(header.kind) if header.kind in self.types and self.model.config.kinds else 0

    # -- internals ------------------------------------------------------------------------------

    def _form_is_given(self, code: str) -> bool:
        """Whether the prompt holds the whole form, so the header and opening follow it there; else
        the model writes the rest of its form first. A checkpoint trained without form codes writes
        none and can be asked for none."""
        if code and not self.knows_codes:
            raise FieldError("form", "this checkpoint was trained without form codes; leave the form empty")
        return not self.knows_codes or (bool(code) and _form_complete(code))

    def _read_prompt(self, header: Header, code: str, opening: str | None, n: int):
        """The model reads the prompt once (the header and `opening` only when the form is given) and
        its state is copied to `n` rows: (their first logits, the state, the type heard at every
        step by a model conditioned on it)."""
        prompt = END + self.type_line(header) + code
        if opening is not None:
            prompt += header.prompt() + opening
        ids = torch.tensor([self.vocab.encode(prompt, field="opening")], device=self.device)
        kind = self.kind_of(header)
        heard = {"kinds": torch.full((n,), kind, dtype=torch.long, device=self.device)} if kind else {}
        logits, state = self.model(ids, **{k: v[:1] for k, v in heard.items()})
        return logits[:, -1].expand(n, -1), repeat_state(state, n), heard

    def _write_body(self, row: Row, c: str, header: Header, max_chars: int, accept) -> None:
        """The row takes a body character: a forced header character is not part of the body; the
        end-of-tune symbol ends the row (and asks `accept`); the length cap closes it."""
        if row.header_left:
            row.header_left -= 1
            return
        if c == END:
            row.done = row.ended = True
            if accept is not None:
                row.accepted = bool(accept(self._finish(header, row)))
            return
        row.body += c
        row.clock = row.clock.feed(c)
        row.written += 1
        if row.written >= max_chars:
            row.done = True

    def _check_header(self, header: Header) -> None:
        """Each header value the model reads must be written in characters it knows."""
        for name, letter, value in (("meter", "M", abcfields.model_meter(header.meter)),
                                    ("unit", "L", header.unit), ("key", "K", header.key)):
            self.vocab.encode(f"{letter}:{value}\n", field=name)

    def _choose(self, logits: torch.Tensor, rows: list[Row], settings: Settings, gen) -> list[int]:
        """Next character per row: forced characters first, else sampled under the masks."""
        logits = logits.float().clone()
        for r, row in enumerate(rows):
            if row.done:
                continue                  # its pick is not used: no mask to work out
            if row.phase == "code":
                if not row.forced:
                    mask = self.code_mask.clone()
                    at_line_start = not row.code or row.code.endswith("\n")
                    mask[self.vocab.index["X"]] = not at_line_start
                    if row.code.endswith("S:"):
                        mask[self.vocab.index["1"]] = True      # a tune has two parts or more
                    logits[r][mask] = float("-inf")
            elif not row.forced:
                logits[r] += self._body_mask(row.clock)
        if settings.temperature < GREEDY_BELOW:
            picks = logits.argmax(-1)
        else:
            logits = logits / settings.temperature
            if settings.top_k:
                kth = torch.topk(logits, min(settings.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                logits[logits < kth] = float("-inf")
            probs = torch.softmax(logits, -1)
            if settings.top_p < 1:
                sorted_p, order = probs.sort(-1, descending=True)
                drop = sorted_p.cumsum(-1) - sorted_p > settings.top_p
                sorted_p[drop] = 0
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
            picks = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        picks = picks.tolist()
        for r, row in enumerate(rows):
            if row.forced:
                picks[r] = self.vocab.index[row.forced.pop(0)]
        return picks

    def _body_mask(self, clock: TuneState) -> torch.Tensor:
        """What may come next in the body (`abcgen.abc.accepts`): an additive mask, 0 where allowed
        and -inf where forbidden, cached per value of `next_state`."""
        key = next_state(clock)
        mask = self.masks.get(key)
        if mask is None:
            allowed = [allows(key, c) for c in self.vocab.chars]
            if not any(allowed):      # a dead end (a note too long for any suffix): close the bar
                allowed = [c in "|" for c in self.vocab.chars]
            mask = torch.tensor([0.0 if ok else float("-inf") for ok in allowed])
            self.masks[key] = mask
        return mask

    def _finish(self, header: Header, row: Row) -> Candidate:
        body = row.body.rstrip(" ")
        closing = []
        if not row.ended:
            body, closing = close_at_last_bar(body)
        if not body.endswith("\n"):
            body += "\n"
        return Candidate(header=header, code=row.code, body=body, ended=row.ended, closing=closing)


def _write_code(row: Row, c: str, header: Header, opening: str, asked: int) -> str:
    """The row takes a character of the form the model writes, and returns the character the model
    reads in its place. At `X` (or after CODE_LIMIT characters of its own) the model has finished
    its form: from here the header and the opening are forced, and the tune state holds the model
    to the form it chose."""
    if c != "X" and len(row.code) - asked < CODE_LIMIT:
        row.code += c
        return c
    row.phase = "body"
    row.clock = _clock(header, _own_form(row.code))
    rest = header.prompt()[1 if c == "X" else 0:]
    row.forced = list(rest + opening)
    row.header_left = len(rest)
    if c == "X":
        return c
    row.header_left -= 1
    return row.forced.pop(0)


def _clock(header: Header, request: formtools.Request) -> TuneState:
    """The state of a tune under `header` and a requested form, with cadences in its key and
    melodies kept in a fiddle's range."""
    return TuneState(header.meter, header.unit, request.sections, list(request.bars), request.repeats,
                    request.full_bars, header.key, *MELODY_RANGE)


def _own_form(code: str) -> formtools.Request:
    """The form a control code the model wrote itself asks for (none when it cannot be read or is
    out of range)."""
    try:
        return formtools.parse_form(code)
    except FieldError:
        return formtools.Request()


def close_at_last_bar(body: str) -> tuple[str, list[str]]:
    """Cut a body that hit the length cap after its last complete bar and close it with a final
    bar line, so a tune never ends mid-bar or mid-note."""
    cut = body.rfind("|")
    if cut < 0:
        return body.rstrip() + " |]\n", ["closed with a final bar line"]
    end = cut + 1
    while end < len(body) and body[end] in "]":
        end += 1
    kept = body[:end].rstrip()
    if kept.endswith("|:"):           # a repeat that opens on nothing
        kept = kept[:-1]
    notes = ["cut at the length cap after the last complete bar"]
    if not kept.endswith(("|]", "||", ":|")):
        kept = kept[:-1] + "|]" if kept.endswith("|") else kept + "|]"
        notes.append("added a final bar line")
    return kept + "\n", notes


def _form_complete(code: str) -> bool:
    """Whether a canonical control code specifies every section (then the header follows it)."""
    f = formtools.parse_code(code)
    if f.sections is None or len(f.bars) != f.sections or any(b is None for b in f.bars):
        return False
    return all(len(row) == i and None not in row for i, row in enumerate(f.similarity))


def load_sampler(path=None, device: str = "cpu", int8: bool | None = None) -> Sampler:
    """A sampler for a checkpoint (the shipped one by default). On the CPU the model runs with
    int8 weights unless `int8=False` (see `int8_model`)."""
    from abcgen.learn import checkpoint
    model, vocab, payload = checkpoint.load(path, device)
    if int8 if int8 is not None else device == "cpu":
        model = int8_model(model)
    return Sampler(model, vocab, device, types=learned_types(payload, vocab))


def learned_types(payload: dict, vocab: Vocab) -> frozenset:
    """The tune types a checkpoint's training tunes named often enough (MIN_LABELLED) in R:."""
    counts = (payload.get("data") or {}).get("types") or {}
    if not isinstance(counts, dict) or "R" not in vocab.index:
        return frozenset()
    return frozenset(name for name, n in counts.items() if name in TUNE_TYPES
                     and isinstance(n, int) and n >= MIN_LABELLED
                     and all(c in vocab.index for c in type_line(name)))


def int8_model(model: CharLSTM) -> torch.nn.Module:
    """The model with int8 LSTM and output weights (torch's dynamic quantization), for sampling on
    the CPU: a step costs about a tenth as much, at the same bits per character
    (`python -m benchmarks.sample_speed` prints both). Where the CPU has no int8 engine, the model
    is returned as it is."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torch suggests torchao for new code; this API still works
        try:
            return torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8).eval()
        except (RuntimeError, AssertionError):
            return model


def candidate_settings(settings: Settings, attempt: int) -> Settings:
    """Settings for a resampling attempt: a new seed derived from the user's, still deterministic."""
    return replace(settings, seed=(settings.seed * 1_000_003 + attempt) % 2**63)
