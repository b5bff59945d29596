"""Pack tunes into one character stream and cut it into training windows: no padding at all.

Each tune is preceded by the end-of-tune symbol, so the model learns where tunes start and stop.
The stream is laid out as `tracks` parallel rows; consecutive windows of a row follow each other,
so the LSTM state can be carried from one window to the next (truncated BPTT).
"""
import torch

from abcgen.learn.vocab import Vocab


def encode_stream(tunes, vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(code, abc) or (code, abc, kind) tunes -> (ids, scored, kinds). `scored` marks the ABC
    characters and each tune's end symbol: what bits-per-character counts. Control codes are
    context, not scored. `kinds` gives each input position the type id of the tune it is read for
    (`abcgen.tune_types.kind_id`; 0: none), so the model can hear the type at every step."""
    ids, scored, kinds = [vocab.end_id], [False], []
    for code, abc, *kind in tunes:
        ids += vocab.encode(code) + vocab.encode(abc) + [vocab.end_id]
        scored += [False] * len(code) + [True] * (len(abc) + 1)
        # the end symbol before a tune is read for that tune; the one after it starts the next
        kinds += [kind[0] if kind else 0] * (len(code) + len(abc) + 1)
    kinds.append(0)
    return (torch.tensor(ids, dtype=torch.long), torch.tensor(scored, dtype=torch.bool),
            torch.tensor(kinds, dtype=torch.long))


def to_tracks(ids: torch.Tensor, scored: torch.Tensor, kinds: torch.Tensor, tracks: int):
    """Reshape a stream into `tracks` rows of equal length (the tail that does not fit is dropped)."""
    length = len(ids) // tracks
    if length < 2:
        raise ValueError(f"stream of {len(ids)} characters is too short for {tracks} tracks")
    n = length * tracks
    return tuple(t[:n].view(tracks, length) for t in (ids, scored, kinds))


def num_windows(track_length: int, seq_len: int) -> int:
    return max(0, (track_length - 1) // seq_len)


def window(ids: torch.Tensor, scored: torch.Tensor, kinds: torch.Tensor, index: int, seq_len: int):
    """Inputs, targets, the scored mask of the targets and the inputs' type ids for window
    `index` of every track."""
    s = index * seq_len
    x = ids[:, s:s + seq_len]
    y = ids[:, s + 1:s + seq_len + 1]
    return x, y, scored[:, s + 1:s + seq_len + 1], kinds[:, s:s + seq_len]


def tune_tracks(pairs, vocab: Vocab, tracks: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Whole tunes dealt round-robin into `tracks` rows, each row starting at a tune start, so
    every tune is scored with its full context. Short rows are padded at the end; padding is never
    scored. Used for validation and evaluation, where exact figures matter more than speed."""
    pairs = list(pairs)
    tracks = max(1, min(tracks, len(pairs)))
    rows = [encode_stream(pairs[i::tracks], vocab) for i in range(tracks)]
    length = max(len(ids) for ids, _, _ in rows)
    ids = torch.full((tracks, length + 1), vocab.end_id, dtype=torch.long)
    scored = torch.zeros((tracks, length + 1), dtype=torch.bool)
    kinds = torch.zeros((tracks, length + 1), dtype=torch.long)
    for r, (i, s, k) in enumerate(rows):
        ids[r, :len(i)] = i
        scored[r, :len(s)] = s
        kinds[r, :len(k)] = k
    return ids, scored, kinds
