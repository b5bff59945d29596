"""Real training characters per second: the seed's padding scheme against packed windows.

The seed pads every tune to the longest one and trains on batches of whole tunes, so most of each
batch is padding. abcgen packs tunes into a stream and trains on full windows. Both run here, one
after the other, on the same data, model size and batch size; only real (non-padding) characters
count.

    python -m benchmarks.train_throughput [--steps 6] [--hidden 512] [--layers 2]
"""
import argparse
import time

import torch
import torch.nn.functional as F

from abcgen.learn import batching
from abcgen.learn.data import load_corpus
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.learn.vocab import Vocab


def timed_steps(model, opt, batches) -> tuple[float, int]:
    real, t0 = 0, None
    for i, (x, y, real_chars) in enumerate(batches):
        if i == 1:
            t0, real = time.perf_counter(), 0   # the first step warms up
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        real += real_chars
    return time.perf_counter() - t0, real


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=8, help="tunes per batch (the seed used 8)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=200)
    p.add_argument("--memory", type=int, default=0, help="copy memory size (the shipped model: 1024)")
    args = p.parse_args()
    corpus = load_corpus("folk", validate=False, cache_dir=".cache")
    tunes = [t.abc for t in corpus.train]
    vocab = Vocab.from_texts(tunes + [" "])
    torch.manual_seed(0)
    cfg = ModelConfig(len(vocab), args.embedding, args.hidden, args.layers, 0.0, memory=args.memory,
                      end_id=vocab.end_id)

    # Seed scheme: every tune padded with spaces to the longest tune, batches of whole tunes.
    longest = max(len(t) for t in tunes)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(tunes), generator=g).tolist()

    def seed_batches():
        for s in range(0, args.batch * (args.steps + 1), args.batch):
            chunk = [tunes[i] for i in order[s:s + args.batch]]
            ids = torch.tensor([vocab.encode(t + " " * (longest - len(t))) for t in chunk])
            yield ids[:, :-1], ids[:, 1:], sum(len(t) - 1 for t in chunk)

    # abcgen: packed stream, windows of seq_len; same number of sequences per batch.
    tracks, scored, kinds = batching.to_tracks(*batching.encode_stream([("", t) for t in tunes], vocab), args.batch)

    def packed_batches():
        for w in range(args.steps * 20 + 1):
            x, y, _, _ = batching.window(tracks, scored, kinds, w, args.seq_len)
            yield x, y, x.numel()

    model = CharLSTM(cfg)
    seed_time, seed_chars = timed_steps(model, torch.optim.Adam(model.parameters()), seed_batches())
    model = CharLSTM(cfg)
    ours_time, ours_chars = timed_steps(model, torch.optim.Adam(model.parameters()), packed_batches())
    seed_rate, ours_rate = seed_chars / seed_time, ours_chars / ours_time
    pad_share = 1 - sum(len(t) for t in tunes) / (len(tunes) * longest)
    print(f"data: {len(tunes)} tunes, longest {longest} chars; padding would be {pad_share:.1%} of the seed's input")
    print(f"model: embedding {args.embedding}, LSTM {args.layers}x{args.hidden}, copy memory {args.memory}, "
          f"batch {args.batch}")
    print(f"seed (pad to longest, whole tunes): {seed_rate:10,.0f} real chars/s")
    print(f"abcgen (packed windows of {args.seq_len}):  {ours_rate:10,.0f} real chars/s")
    print(f"ratio: {ours_rate / seed_rate:.1f}x")


if __name__ == "__main__":
    main()
