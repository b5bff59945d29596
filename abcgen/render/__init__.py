"""Tunes out: notation, audio, MIDI, in bounded worker processes, into one file store."""
