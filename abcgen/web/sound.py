"""The page's "Sound and practice" choices: what the controls offer, the player's choices they make
(abcgen.render.playing), and what the page says about the sound it plays."""
from __future__ import annotations

from abcgen.render.audio import BUILT_IN
from abcgen.render.instruments import INSTRUMENTS
from abcgen.render.playing import MAX_SPEED, MIN_SPEED, Playing

INSTRUMENT_CHOICES = list(INSTRUMENTS)
# (label, value) of the swing control; "" is the tune type's own lilt.
SWING_CHOICES = [("Tune type's", ""), ("Straight", "0"), ("Light lilt", "0.3"), ("Hornpipe", "0.6"),
                 ("Strathspey", "0.8"), ("Dotted", "1")]
LOOP_CHOICES = [("Whole tune", ""), ("A part", "A"), ("B part", "B"), ("C part", "C")]
SPEED_RANGE = (MIN_SPEED, MAX_SPEED)


def playing(instrument, swing, transpose, loop, speed, count_in) -> Playing:
    """The controls' values as checked choices; FieldError naming the control of a bad one."""
    return Playing(instrument=instrument, swing=swing, transpose=transpose, loop=loop, speed=speed,
                   count_in=count_in).checked()


def player_label(rendered) -> str:
    """The audio player's label: the instrument and what played it."""
    play = rendered.playing
    what = "abcgen's built-in synthesizer" if rendered.sound == BUILT_IN else f"soundfont {rendered.sound}"
    extras = [f"{play.speed:.0%} speed" if play.speed != 1 else "",
              f"looping {'part ' + play.loop if play.loop.isalpha() else 'bars ' + play.loop}" if play.loop else "",
              f"in {play.transpose}" if play.transpose else ""]
    return ", ".join([f"Listen: {play.instrument} ({what})", *filter(None, extras)])


def notes(rendered) -> list[str]:
    """What the message line adds after Play: no soundfont, and notes the instrument cannot reach."""
    out = []
    if rendered.sound == BUILT_IN:
        out.append("No soundfont is installed on this server, so abcgen's own synthesizer plays the tune "
                   "(the MIDI file still names the instrument).")
    return out + list(rendered.warnings)
