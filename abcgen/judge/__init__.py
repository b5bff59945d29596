"""Listening to a tune: the musical report, originality against the training tunes, ranking."""
