"""Sampling speed: the seed's re-feed loop against abcgen's stateful sampler, side by side.

The seed feeds the whole sequence through the LSTM at every step (quadratic in length); abcgen
carries the state and feeds one character per step, and samples many tunes as one batch.
For the shipped model size and for the seed's Embedding16/LSTM64 size, prints characters per second
of both for one 500-character tune, their ratio, and the time for 8 tunes batched against 1.
The shipped model is measured twice: in full precision and with the int8 weights the CPU sampler
uses, whose bits per character on held-out tunes are printed next to full precision's.

    python -m benchmarks.sample_speed [--chars 500]
"""
import argparse
import time

import torch

from abcgen.learn import checkpoint
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.sampling.asked import Header, Settings
from abcgen.sampling.sample import Sampler, int8_model

PROMPT = "X:1\nL:1/8\nM:6/8\nK:D\n"


@torch.no_grad()
def refeed(model, vocab, chars: int) -> float:
    """The seed's loop: the whole sequence goes through the model for every new character."""
    ids = vocab.encode(PROMPT)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(chars):
        logits, _ = model(torch.tensor([ids]))
        ids.append(int(torch.multinomial(torch.softmax(logits[0, -1], -1), 1, generator=g)))
    return time.perf_counter() - t0


@torch.no_grad()
def stateful(model, vocab, chars: int, batch: int = 1) -> float:
    """One step per character with the state carried (the core of abcgen's sampler)."""
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    logits, state = model(torch.tensor([vocab.encode(PROMPT)] * batch))
    for _ in range(chars):
        nxt = torch.multinomial(torch.softmax(logits[:, -1], -1), 1, generator=g)
        logits, state = model(nxt, state)
    return time.perf_counter() - t0


def full_sampler(model, vocab, chars: int, num: int) -> float:
    """The real sampler with masks and bookkeeping, forced to write `chars` characters."""
    s = Sampler(model, vocab)
    s.knows_codes = False
    header = Header.parse("6/8", "1/8", "D")
    end, bar, close = vocab.end_id, vocab.index["|"], vocab.index["]"]
    class NoEnd(torch.nn.Module):       # never ends early, so every run writes the same length
        def forward(self, x, state=None):
            logits, state = model(x, state)
            logits[..., end] = float("-inf")
            logits[x[:, -1] == bar, -1, close] = float("-inf")    # nor writes the final bar line "|]"
            return logits, state
    s.model = NoEnd()
    t0 = time.perf_counter()
    s.sample(header, "", "", Settings(temperature=1.0, seed=0, max_chars=chars, num=num))
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chars", type=int, default=500)
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()
    torch.manual_seed(0)
    shipped, vocab, _ = checkpoint.load(args.checkpoint)
    seed_size = CharLSTM(ModelConfig(len(vocab), 16, 64, 1, 0.0)).eval()
    n = args.chars
    print(f"{'model':28s} {'re-feed c/s':>12s} {'stateful c/s':>13s} {'ratio':>7s} {'sampler 1':>10s} {'sampler 8':>10s} {'8 vs 1':>7s}")
    rows = (("shipped " + _size(shipped), shipped), ("shipped, int8 weights", int8_model(shipped)),
            ("seed " + _size(seed_size), seed_size))
    for name, model in rows:
        t_re = refeed(model, vocab, n)
        t_st = stateful(model, vocab, n)
        t1 = full_sampler(model, vocab, n, 1)
        t8 = full_sampler(model, vocab, n, 8)
        print(f"{name:28s} {n / t_re:12,.0f} {n / t_st:13,.0f} {t_re / t_st:6.1f}x {t1:9.2f}s {t8:9.2f}s {t8 / t1:6.2f}x")
    print("bits per character on 60 held-out tunes: " + ", ".join(
        f"{name} {bpc(model, vocab):.4f}" for name, model in rows[:2]))


@torch.no_grad()
def bpc(model, vocab, tunes: int = 60) -> float:
    """Bits per character on the first held-out tunes of the default corpus (as training saw them)."""
    import math

    from abcgen.learn.data import load_corpus
    from abcgen.learn.vocab import END
    corpus = load_corpus("folk", abc2midi=True)
    ids = torch.tensor([vocab.encode("".join(END + t.code + t.abc for t in corpus.valid[:tunes]))])
    logits, _ = model(ids[:, :-1])
    return torch.nn.functional.cross_entropy(logits[0], ids[0, 1:]).item() / math.log(2)


def _size(m) -> str:
    c = m.config
    return f"E{c.embedding_dim}/LSTM{c.num_layers}x{c.hidden_size}"


if __name__ == "__main__":
    main()
