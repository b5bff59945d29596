import pytest
import torch

from abcgen.errors import FieldError
from abcgen.model import CharLSTM, ModelConfig
from abcgen.vocab import END, Vocab


def test_stepwise_logits_equal_full_sequence():
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=20, embedding_dim=8, hidden_size=16, num_layers=2, dropout=0.3)).eval()
    x = torch.randint(0, 20, (3, 25))
    full, _ = model(x)
    state, steps = None, []
    for t in range(x.shape[1]):
        out, state = model(x[:, t:t + 1], state)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


def test_state_carries_across_windows():
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=10, embedding_dim=4, hidden_size=8, num_layers=1, dropout=0)).eval()
    x = torch.randint(0, 10, (2, 12))
    full, _ = model(x)
    a, s = model(x[:, :5])
    b, _ = model(x[:, 5:], s)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-6)
    fresh, _ = model(x[:, 5:])
    assert not torch.allclose(fresh, b)


def test_vocab_round_trip_and_end_symbol():
    v = Vocab.from_texts(["X:1\nK:D\nabc|", "def"])
    assert v.chars[0] == END and v.end_id == 0
    assert v.decode(v.encode("abc|def")) == "abc|def"


def test_unknown_character_error_names_it():
    v = Vocab.from_texts(["abc"])
    with pytest.raises(FieldError) as e:
        v.encode("ab\u00e9z", field="opening")
    assert e.value.field == "opening"
    assert "'z'" in str(e.value) and "'é'" in str(e.value)
