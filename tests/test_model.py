import pytest
import torch

from abcgen.errors import FieldError
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.learn.vocab import END, Vocab


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


def memory_model(size=64):
    torch.manual_seed(0)
    return CharLSTM(ModelConfig(vocab_size=20, embedding_dim=8, hidden_size=16, num_layers=2, dropout=0,
                                memory=size, memory_dim=8)).eval()


def test_copy_memory_gives_probabilities_and_carries_across_windows():
    model = memory_model()
    x = torch.randint(1, 20, (3, 40))
    x[0, 12] = 0                                   # a tune ends in row 0
    full, _ = model(x)
    assert torch.allclose(full.exp().sum(-1), torch.ones(3, 40), atol=1e-5)
    state, parts = None, []
    for s in range(0, 40, 7):
        out, state = model(x[:, s:s + 7], state)
        parts.append(out)
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


def test_copy_memory_looks_only_back_and_only_inside_the_tune():
    model = memory_model()
    x = torch.randint(1, 20, (1, 30))
    x[0, 10] = 0
    full, _ = model(x)
    later = x.clone()
    later[0, 20:] = 3
    assert torch.equal(model(later)[0][:, :20], full[:, :20])       # the future is not seen
    # the memory keeps nothing of a tune that ended: with the same LSTM state (and the same key
    # for the end symbol's position), what the last tune held changes nothing
    other = x.clone()
    other[0, :10] = 5
    _, (h, c, *mem) = model(x[:, :11])
    _, (h2, c2, *mem2) = model(other[:, :11])
    a, _ = model(x[:, 11:], (h, c, *mem))
    b, _ = model(x[:, 11:], (h, c, *mem2[:-1], mem[-1]))
    assert torch.allclose(a, b, atol=1e-6)


def test_copy_memory_is_bounded():
    model = memory_model(size=5)
    state = None
    for t in range(30):
        _, state = model(torch.randint(1, 20, (2, 1)), state)
    assert state[2].shape[1] == 5 and state[3].shape[1] == 5


def test_plain_lstm_stays_a_config():
    model = CharLSTM(ModelConfig(vocab_size=10, embedding_dim=4, hidden_size=8, num_layers=1))
    assert model.memory is None
    _, state = model(torch.randint(0, 10, (2, 5)))
    assert len(state) == 2


def test_the_type_is_heard_at_every_step():
    """A model conditioned on the type: per-row ids broadcast over time, no ids mean type 0, and a
    different type changes every step's prediction, not only the first."""
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=20, embedding_dim=8, hidden_size=16, num_layers=1,
                                 dropout=0.0, kinds=4, kind_dim=3)).eval()
    x = torch.randint(0, 20, (2, 12))
    per_row, _ = model(x, kinds=torch.tensor([2, 2]))
    per_step, _ = model(x, kinds=torch.full((2, 12), 2))
    assert torch.allclose(per_row, per_step)
    assert torch.allclose(model(x)[0], model(x, kinds=torch.zeros(2, dtype=torch.long))[0])
    other, _ = model(x, kinds=torch.tensor([3, 3]))
    assert not torch.isclose(per_row, other).all(-1).any()      # every step differs
    stepwise, state = [], None
    for t in range(12):
        out, state = model(x[:, t:t + 1], state, kinds=torch.tensor([2, 2]))
        stepwise.append(out)
    assert torch.allclose(torch.cat(stepwise, 1), per_row, atol=1e-5)


def test_a_warm_start_adds_the_type_without_changing_the_model(tmp_path):
    """init_from a model without types: at first the new model predicts exactly what the old one
    did, whatever the type, so training starts from the trained model."""
    from abcgen import train
    from abcgen.learn import checkpoint
    torch.manual_seed(0)
    vocab = Vocab([END, "a", "b", "|"])
    old = CharLSTM(ModelConfig(vocab_size=4, embedding_dim=8, hidden_size=16, num_layers=2)).eval()
    checkpoint.save(tmp_path / "old.pt", old, vocab)
    bigger = Vocab([END, "a", "b", "|", "R"])
    new = CharLSTM(ModelConfig(vocab_size=5, embedding_dim=8, hidden_size=16, num_layers=2, kinds=3)).eval()
    train.warm_start(new, bigger, str(tmp_path / "old.pt"))
    x = torch.tensor([[0, 1, 2, 3, 1, 1]])
    want, _ = old(x)
    for kind in range(3):
        got, _ = new(x, kinds=torch.tensor([kind]))
        assert torch.allclose(got[..., :4], want, atol=1e-6)
