"""How a tune is built, bar by bar: its parts and how the repeats play, the bars it loops, whether
its phrases answer (bars 5-6 bringing back bars 1-2), where its B part sits against its A part,
and each part's cadence: the note on its closing bar's last beat, not a pickup into the
repeat (`A2ce e2z d:|` lands on E, its `d` leads back to the start)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from abcgen.abc import reader as abcreader
from abcgen.abc.policy import LOOP_RUN, LOOP_SHARE, beats   # the writer's own: one definition of each
from abcgen.judge.reading import Bar, Note

MAX_PLAYED = 4096  # bars: a bound on expanding repeats, far above any real tune
FEW_BARS = 4       # a tune of this many different bars or fewer goes round in circles


# ----------------------------------------------------------------------------------------
# form: parts, and how the repeats play

def part_spans(bars: list[Bar]) -> list[tuple[int, int]]:
    """(first, last + 1) bar indices of each part: parts end at repeats and double bars; endings
    stay with their part; a part holding only a pickup joins the part after it."""
    spans, start = [], 0
    for i, bar in enumerate(bars):
        nxt = bars[i + 1] if i + 1 < len(bars) else None
        if nxt is None or (abcreader.is_section_delimiter(bar.right) and not nxt.ending):
            spans.append((start, i + 1))
            start = i + 1
    merged: list[tuple[int, int]] = []
    carry = None
    for a, b in spans:
        if b - a == 1 and bars[a].short and (a, b) != spans[-1]:
            carry = a if carry is None else carry  # a lone pickup
            continue
        merged.append((a if carry is None else carry, b))
        carry = None
    return merged


def played_order(bars: list[Bar]) -> tuple[list[int], int]:
    """Bar indices in the order they are played (repeats and first/second endings expanded) and
    the number of repeats taken. A :| goes back to the last |:, or to just after the last repeat
    or ending group that was finished, or to the start."""
    order: list[int] = []
    i, start, passes, taken, ending = 0, 0, 1, set(), None
    jumped = False
    while i < len(bars) and len(order) < MAX_PLAYED:
        bar = bars[i]
        if not jumped and bar.left.endswith(":") and i != start:
            start, passes = i, 1
        jumped = False
        if bar.ending:
            ending = abcreader.ending_numbers(bar.ending)
        elif bar.left not in ("", "|"):
            ending = None
        if ending and passes not in ending:
            i += 1
            continue  # an ending for another time through
        order.append(i)
        if bar.right.startswith(":") and i not in taken:
            taken.add(i)
            i, passes, ending, jumped = start, passes + 1, None, True
            continue
        if bar.right.startswith(":") or bar.right.endswith(":") or (
                ending is not None and bar.right not in ("", "|")):
            start, passes = i + 1, 1
        i += 1
    return order, len(taken)


def signature(bar: Bar) -> tuple:
    """A bar's notes, pitch and length, ignoring how they are written."""
    return tuple((n.pitches, n.length) for n in bar.notes)


@dataclass
class Part:
    label: str            # "A", "B", ...; a part written out again gets its earlier letter
    bars: int             # bars of the part, a pickup and later endings not counted
    pickup: bool          # opens with a short bar leading into it
    first: int            # bar numbers, as in the validator's messages
    last: int
    endings: int = 0      # first/second endings
    cadence: str = ""     # the note its closing bar lands on (see `cadence`), in ABC
    cadence_midi: int | None = None  # ... and its MIDI pitch (lowest of a chord)


def parts_of(bars: list[Bar], meter: str) -> tuple[list[Part], list[int]]:
    """The parts, each with its cadence, and for each bar index the part it belongs to."""
    parts, owner, seen = [], [0] * len(bars), {}
    for k, (a, b) in enumerate(part_spans(bars)):
        pickup = bars[a].short and b - a > 1
        counted, ending = [], None
        for x in bars[a + pickup:b]:  # second and later endings are played instead of the first
            if x.ending:
                ending = abcreader.ending_numbers(x.ending)
            elif x.left not in ("", "|"):
                ending = None
            if ending is None or 1 in ending:
                counted.append(x)
        content = tuple(signature(x) for x in counted)
        label = seen.setdefault(content, chr(ord("A") + len(seen)) if len(seen) < 26 else "?")
        parts.append(Part(label, len(counted), pickup, bars[a].number, bars[b - 1].number,
                          sum(1 for x in bars[a:b] if x.ending), *_landing(cadence(bars[a:b], meter))))
        for j in range(a, b):
            owner[j] = k
    return parts, owner


def _landing(note: Note | None) -> tuple[str, int | None]:
    return (note.names[0], note.pitches[0]) if note else ("", None)


def plays_as(parts: list[Part], owner: list[int], order: list[int]) -> str:
    """Part letters in playing order: a new letter each time the music moves to another part or
    goes back."""
    out, prev = [], None
    for i in order:
        if prev is None or owner[i] != owner[prev] or i <= prev:
            out.append(parts[owner[i]].label)
        prev = i
    return "".join(out)


# ----------------------------------------------------------------------------------------
# cadences

def cadence(bars: list[Bar], meter: str) -> Note | None:
    """The note a passage lands on: in its last bar with notes, the one sounding on the last beat
    where a note sounds (counted from the bar's start). Notes between beats after it, or after a
    rest on the last beat, lead into what follows (`A2ce e2z d:|` lands on e)."""
    bar = next((b for b in reversed(bars) if any(n.pitches for n in b.notes)), None)
    if bar is None:
        return None
    onsets, t = [], Fraction(0)
    for n in bar.notes:
        onsets.append(t)
        t += n.length
    for beat in reversed(beats(meter, bar.expected)):
        for n, start in zip(bar.notes, onsets):
            if n.pitches and start <= beat < start + n.length:
                return n
    return next(n for n in reversed(bar.notes) if n.pitches)


# ----------------------------------------------------------------------------------------
# loops and answers

@dataclass
class Loops:
    """What a tune does with its bars (full bars with notes, as written)."""
    distinct: int = 0        # different bars
    run: int = 0             # most times one bar is written running
    run_at: int = 0          # the bar number where that run starts
    top_share: float = 0.0   # share of the bars that are the most frequent one
    top_at: int = 0          # that bar's first number

    def problem(self, bars: int) -> str:
        """What makes the tune go round in circles, in a musician's words; "" when nothing does."""
        if self.run >= LOOP_RUN:
            return f"bar {self.run_at} is played {self.run} times running"
        if self.top_share > LOOP_SHARE:
            return f"bar {self.top_at} makes up {self.top_share:.0%} of the tune"
        if bars > FEW_BARS and self.distinct <= FEW_BARS:
            return f"it has only {self.distinct} different bars in {bars}"
        return ""


def loops(bars: list[Bar]) -> Loops:
    full = [b for b in bars if not b.short and any(n.pitches for n in b.notes)]
    if not full:
        return Loops()
    sigs = [signature(b) for b in full]
    out = Loops(distinct=len(set(sigs)))
    k = 0
    for i, s in enumerate(sigs):
        k = k + 1 if i and s == sigs[i - 1] else 1
        if k > out.run:
            out.run, out.run_at = k, full[i - k + 1].number
    top, count = Counter(sigs).most_common(1)[0]
    out.top_share, out.top_at = count / len(sigs), full[sigs.index(top)].number
    return out


def answers(bars: list[Bar]) -> bool | None:
    """Whether bars 5-6 play the notes of bars 1-2 again, the first half of a phrase coming back
    to be answered differently (None: a tune of fewer than 6 bars)."""
    numbered = {b.number: signature(b) for b in reversed(bars)}  # a number's first bar wins
    if not all(n in numbered for n in range(1, 7)):
        return None
    return (numbered[1], numbered[2]) == (numbered[5], numbered[6])


def b_register(bars: list[Bar], parts: list[Part], owner: list[int]) -> float | None:
    """Semitones the B part's mean pitch sits above the A part's (negative: below); None without
    both parts. The top note of chords counts."""
    mean = {}
    for label in "AB":
        tops = [n.pitches[-1] for i, b in enumerate(bars) if parts[owner[i]].label == label
                for n in b.notes if n.pitches]
        if not tops:
            return None
        mean[label] = sum(tops) / len(tops)
    return mean["B"] - mean["A"]
