"""The network: Embedding -> LSTM -> Linear, with explicit recurrent state, and optionally a
memory of the tune so far that the model can copy from.

`forward(x, state)` returns `(logits, state)` so that training can carry state across windows
(truncated back-propagation through time) and sampling costs one step per character.

Folk tunes repeat themselves: bars 1-2 come back as bars 5-6, the B part ends with the A part's
cadence. An LSTM's state forgets that far back, so the model also keeps a copy memory (a learned
pointer, after Merity et al.'s pointer sentinel and Grave et al.'s continuous cache): every
position of the current tune is stored with a key made from the LSTM output there and, as value,
the character that followed it. At each step a query from the LSTM output attends over the
stored keys and a sentinel; the attention on the keys becomes probability of copying their
characters, the sentinel's share goes to the LSTM's own prediction:

    p(c) = g * softmax(logits)(c) + sum_i a_i [value_i == c],   g + sum_i a_i = 1

Its output is log p, so losses and samplers that take logits work unchanged. The memory never
reaches across the end-of-tune symbol, holds at most `memory` positions, and costs O(tune length)
per character when sampling. `memory: 0` is the plain LSTM of the course report.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class ModelConfig:
    vocab_size: int
    embedding_dim: int = 64   # size of each character's learned vector
    hidden_size: int = 512    # LSTM units per layer
    num_layers: int = 2       # stacked LSTM layers
    dropout: float = 0.1      # between LSTM layers and before the output layer (training only)
    memory: int = 0           # positions of the tune so far the copy memory holds (0: plain LSTM)
    memory_dim: int = 128     # size of the memory's keys and queries
    end_id: int = 0           # the end-of-tune symbol: the memory is emptied there
    kinds: int = 0            # tune types heard at every step (abcgen.tune_types.kind_id; 0: none)
    kind_dim: int = 16        # size of each type's learned vector

    def to_dict(self) -> dict:
        return asdict(self)


# (h, c) for the plain LSTM; (h, c, keys, values, alive, last_key) with the copy memory.
State = tuple[torch.Tensor, ...]


class CopyMemory(nn.Module):
    """Attention over the current tune's earlier positions that copies the characters that
    followed them (see the module docstring)."""

    def __init__(self, hidden: int, dim: int, size: int, end_id: int):
        super().__init__()
        self.query = nn.Linear(hidden, dim)
        self.key = nn.Linear(hidden, dim)
        self.sentinel = nn.Linear(hidden, 1)    # score of "use the LSTM's own prediction"
        self.size, self.dim, self.end_id = size, dim, end_id

    def empty(self, batch: int, like: torch.Tensor):
        keys = like.new_zeros(batch, 0, self.dim)
        return (keys, torch.zeros(batch, 0, dtype=torch.long, device=like.device),
                torch.zeros(batch, 0, dtype=torch.bool, device=like.device), like.new_zeros(batch, 1, self.dim))

    def forward(self, out: torch.Tensor, x: torch.Tensor, logits: torch.Tensor, memory):
        """out: LSTM outputs (B, T, H); x: the inputs (B, T); logits (B, T, V) -> log p, memory."""
        batch, steps, _ = out.shape
        keys, values, alive, last_key = memory if memory is not None else self.empty(batch, out)
        fresh = memory is None
        new_keys = self.key(out)
        # Entry j of this window: the key of the position before it, and x[j] as value.
        chunk_keys = torch.cat([last_key, new_keys[:, :-1]], 1)
        ends = x == self.end_id
        tune = ends.long().cumsum(1)                      # which tune each position belongs to
        chunk_alive = ~ends
        if fresh:
            chunk_alive = chunk_alive.clone()
            chunk_alive[:, 0] = False                     # no position before the first one
        # Query t sees entry j of this window when j <= t, both in the same tune.
        causal = torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()
        sees_chunk = causal & (tune.unsqueeze(2) == tune.unsqueeze(1)) & chunk_alive.unsqueeze(1)
        sees_memory = alive.unsqueeze(1) & (tune == 0).unsqueeze(2)   # no tune ended since
        sees = torch.cat([sees_memory, sees_chunk], 2)
        all_keys = torch.cat([keys, chunk_keys], 1)
        all_values = torch.cat([values, x], 1)

        scores = torch.einsum("btd,bnd->btn", self.query(out), all_keys) / math.sqrt(self.dim)
        scores = scores.masked_fill(~sees, float("-inf"))
        weights = torch.softmax(torch.cat([self.sentinel(out), scores], 2), 2)
        probs = torch.softmax(logits, 2) * weights[..., :1]
        probs = probs.scatter_add(2, all_values.unsqueeze(1).expand(-1, steps, -1), weights[..., 1:])
        log_p = probs.clamp_min(1e-12).log()

        # Keep what the next window may see: this tune's entries, at most `size` of them.
        still = alive & (tune[:, -1:] == 0)
        chunk_kept = chunk_alive & (tune == tune[:, -1:])
        keep = slice(-self.size, None)
        memory = (all_keys[:, keep], all_values[:, keep], torch.cat([still, chunk_kept], 1)[:, keep],
                  new_keys[:, -1:])
        return log_p, memory


class CharLSTM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        # The tune's type joins every character's vector, so the type is heard throughout the tune
        # rather than remembered from one header line.
        self.kind_embedding = nn.Embedding(config.kinds, config.kind_dim) if config.kinds else None
        self.lstm = nn.LSTM(
            config.embedding_dim + (config.kind_dim if config.kinds else 0),
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.memory = (CopyMemory(config.hidden_size, config.memory_dim, config.memory, config.end_id)
                       if config.memory else None)

    def forward(self, x: torch.Tensor, state: State | None = None,
                kinds: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """x: (batch, time) character ids -> logits (batch, time, vocab) and the final state.
        kinds: the tune type id of each position (batch, time), or one per row (batch,); none: 0."""
        vectors = self.embedding(x)
        if self.kind_embedding is not None:
            kinds = torch.zeros_like(x) if kinds is None else kinds
            kinds = kinds.unsqueeze(1).expand_as(x) if kinds.dim() == 1 else kinds
            vectors = torch.cat([vectors, self.kind_embedding(kinds)], -1)
        out, (h, c) = self.lstm(vectors, state[:2] if state is not None else None)
        logits = self.head(self.drop(out))
        if self.memory is None:
            return logits, (h, c)
        log_p, memory = self.memory(out, x, logits, state[2:] if state is not None else None)
        return log_p, (h, c) + memory

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State | None) -> State | None:
    """Cut the graph between training windows while keeping the values (truncated BPTT)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state)


def repeat_state(state: State, n: int) -> State:
    """The state of one sequence repeated for a batch of n (LSTM tensors are (layers, batch, H),
    memory tensors batch-first)."""
    h, c, *memory = state
    return (h.expand(-1, n, -1).contiguous(), c.expand(-1, n, -1).contiguous(),
            *(m.expand(n, *m.shape[1:]).contiguous() for m in memory))
