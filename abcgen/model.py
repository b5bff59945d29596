"""The network: Embedding -> LSTM -> Linear, with explicit recurrent state.

`forward(x, state)` returns `(logits, state)` so that training can carry state across windows
(truncated back-propagation through time) and sampling costs one step per character.
"""
from dataclasses import dataclass, asdict

import torch
from torch import nn


@dataclass
class ModelConfig:
    vocab_size: int
    embedding_dim: int = 64   # size of each character's learned vector
    hidden_size: int = 512    # LSTM units per layer
    num_layers: int = 2       # stacked LSTM layers
    dropout: float = 0.1      # between LSTM layers and before the output layer (training only)

    def to_dict(self) -> dict:
        return asdict(self)


State = tuple[torch.Tensor, torch.Tensor]


class CharLSTM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.lstm = nn.LSTM(
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: (batch, time) character ids -> logits (batch, time, vocab) and the final state."""
        out, state = self.lstm(self.embedding(x), state)
        return self.head(self.drop(out)), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State | None) -> State | None:
    """Cut the graph between training windows while keeping the values (truncated BPTT)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state)
