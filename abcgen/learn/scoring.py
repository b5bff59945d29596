"""The loss of a model on packed tracks (`abcgen.learn.batching`), window after window with the
state carried, counting only the scored characters: what training's validation and the evaluate
command both report, computed one way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from abcgen.learn.model import CharLSTM


@torch.no_grad()
def evaluate_stream(model: CharLSTM, ids: torch.Tensor, scored: torch.Tensor, kinds: torch.Tensor,
                    seq_len: int, device: torch.device) -> tuple[float, int]:
    """(mean nats per scored character, number of scored characters) with state carried."""
    model.eval()
    total, count, state = 0.0, 0, None
    last = ids.shape[1] - 1
    for s in range(0, last, seq_len):
        e = min(s + seq_len, last)
        x, y, m, k = (t.to(device) for t in (ids[:, s:e], ids[:, s + 1:e + 1], scored[:, s + 1:e + 1],
                                             kinds[:, s:e]))
        logits, state = model(x, state, kinds=k)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        total += loss[m.reshape(-1)].sum().item()
        count += int(m.sum())
    return total / max(1, count), count
