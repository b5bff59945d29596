"""Train the character LSTM:  python -m abcgen.train --config configs/folk.yaml [key=value ...]

Adam with gradient clipping, warm-up then cosine learning-rate decay, train/validation loss in nats
and bits per character, early stopping, best and latest checkpoints written atomically, `--resume`
after a crash, a CSV log (and, at the end, a loss-curve PNG) beside the checkpoints. Deterministic
on CPU for a given config and seed. Multi-process data parallel with `torchrun --nproc_per_node N -m abcgen.train ...`
(gloo on CPU, nccl on GPU).
"""
from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from abcgen.learn import batching
from abcgen.learn import checkpoint
from abcgen.learn.data import Corpus, load_corpus
from abcgen.learn.model import CharLSTM, ModelConfig, detach_state
from abcgen.learn.scoring import evaluate_stream
from abcgen.learn.vocab import Vocab

LN2 = math.log(2)

DEFAULTS = {
    "data": "folk",            # "folk", a .abc file/folder, or an IrishMAN folder/JSON file
    "validate_data": True,     # drop tunes that fail the project's ABC validator
    "abc2midi_check": False,   # also drop tunes abc2midi reports errors on (needs Debian's abcmidi)
    "transpose": False,        # add training copies in the other keys of each tune's mode (abc2abc)
    "out_dir": "runs/folk",    # latest.pt, best.pt, log.csv and loss.png go here
    "export": None,            # copy of the best model (weights only) written here at the end
    "seed": 1234,
    "model": {"embedding_dim": 64, "hidden_size": 512, "num_layers": 2, "dropout": 0.2,
              "memory": 0, "memory_dim": 128,    # memory > 0: copy memory over the tune so far
              "kinds": 0, "kind_dim": 16},       # kinds > 0: the tune type heard at every step
    "batch_size": 64,          # parallel tracks of the packed stream (per process)
    "seq_len": 200,            # characters per window (truncated BPTT length)
    "lr": 2e-3,
    "min_lr": 1e-4,            # cosine decay ends here at max_steps
    "warmup_steps": 100,
    "grad_clip": 1.0,
    "max_steps": 3000,
    "eval_every": 150,         # steps between validation, logging and saving
    "patience": 6,             # stop after this many evaluations without improvement
    "eval_tracks": 16,
    "workers": 2,              # processes that prepare (normalize + validate) the data
    "cache_dir": ".cache",     # prepared corpora are cached here by fingerprint
    "init_from": "",           # start from this checkpoint's weights ("": from scratch); characters
                               # it did not know start with fresh rows
}


# --- configuration -----------------------------------------------------------------------------

def load_config(path: str | None, overrides: list[str]) -> dict:
    config = copy.deepcopy(DEFAULTS)
    if path:
        try:
            with open(path) as f:
                _merge(config, yaml.safe_load(f) or {})
        except (OSError, yaml.YAMLError) as e:
            raise SystemExit(f"config {path}: cannot be read ({e})") from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"override {item!r} must look like key=value (e.g. max_steps=100)")
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise SystemExit(f"override {item!r}: {p} is a single value, not a group of settings")
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise SystemExit(f"override {item!r}: the value is not readable; use plain numbers or text") from None
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise SystemExit(f"unknown config key(s): {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    _check_types(config, DEFAULTS)
    return config


def _check_types(config: dict, defaults: dict, prefix: str = "") -> None:
    """Each setting has the kind of value its default has (a number where a number is due)."""
    for key, default in defaults.items():
        value, name = config.get(key), prefix + key
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise SystemExit(f"config {name} must be a mapping like {default}")
            unknown = set(value) - set(default)
            if unknown:
                raise SystemExit(f"unknown config key(s) in {name}: {sorted(unknown)}; known: {sorted(default)}")
            _check_types(value, default, name + ".")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise SystemExit(f"config {name} must be true or false, not {value!r}")
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise SystemExit(f"config {name} must be a number, not {value!r}")
            if isinstance(default, int) and not isinstance(value, int):
                raise SystemExit(f"config {name} must be a whole number, not {value!r}")
            if value < 0 or abs(value) == float("inf"):
                raise SystemExit(f"config {name} must be a finite number from 0 up, not {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            raise SystemExit(f"config {name} must be text, not {value!r}")


def _merge(base: dict, extra: dict) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


# --- distributed helpers -----------------------------------------------------------------------

def setup_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); starts a process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


# --- the loop ----------------------------------------------------------------------------------

def lr_at(step: int, cfg: dict) -> float:
    """Linear warm-up, then cosine decay from lr to min_lr at max_steps."""
    if step < cfg["warmup_steps"]:
        return cfg["lr"] * (step + 1) / cfg["warmup_steps"]
    progress = min(1.0, (step - cfg["warmup_steps"]) / max(1, cfg["max_steps"] - cfg["warmup_steps"]))
    return cfg["min_lr"] + 0.5 * (cfg["lr"] - cfg["min_lr"]) * (1 + math.cos(math.pi * progress))


def epoch_tracks(tunes, vocab: Vocab, epoch: int, cfg: dict, rank: int, world: int):
    """This process's tracks for one epoch: tunes in an order fixed by (seed, epoch)."""
    g = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)
    order = torch.randperm(len(tunes), generator=g).tolist()
    stream = batching.encode_stream([tunes[i].item for i in order], vocab)
    tracks = batching.to_tracks(*stream, cfg["batch_size"] * world)
    rows = slice(rank * cfg["batch_size"], (rank + 1) * cfg["batch_size"])
    return tuple(t[rows] for t in tracks)


@dataclass
class Run:
    """What one training run works with, set up once (`_start`): where it is, its data, its model."""
    cfg: dict
    device: torch.device
    rank: int                  # this process among `world` data-parallel ones; rank 0 writes
    world: int
    out: Path                  # latest.pt, best.pt, log.csv and loss.png go here
    corpus: Corpus
    vocab: Vocab
    val_tracks: tuple
    model: CharLSTM
    optimizer: torch.optim.Optimizer
    ddp: torch.nn.Module       # the model, wrapped for data parallel when world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def save_latest(self, st: dict, hidden) -> None:
        """Everything needed to continue exactly where this save leaves off (`--resume`)."""
        checkpoint.save(self.out / "latest.pt", self.model, self.vocab, config=self.cfg,
                        data=self.corpus.description, optimizer=self.optimizer.state_dict(), train_state=st,
                        rng=torch.get_rng_state(), hidden=[h.cpu() for h in hidden] if hidden else None)


def train(cfg: dict, resume: bool = False) -> dict:
    """Train as `cfg` says, afresh or (`resume`) from out_dir/latest.pt; returns the run's state
    (steps, best validation loss, the log)."""
    run = _start(cfg, resume)
    st, hidden = _resumed(run, resume)
    tracks = epoch_tracks(run.corpus.train, run.vocab, st["epoch"], cfg, run.rank, run.world)
    if batching.num_windows(tracks[0].shape[1], cfg["seq_len"]) == 0:
        raise SystemExit("training data is shorter than one window; lower seq_len or batch_size")
    bar = tqdm(total=cfg["max_steps"], initial=st["step"], disable=not run.main, desc="train", unit="step")
    try:
        _loop(run, st, hidden, tracks, bar)
    except KeyboardInterrupt:
        if run.main:
            print("\ninterrupted: progress up to the last evaluation is in latest.pt; "
                  "continue with --resume", flush=True)
        raise
    finally:
        bar.close()
    if run.main:
        _report_end(run, st)
    if run.world > 1:
        dist.destroy_process_group()
    return st


def _start(cfg: dict, resume: bool) -> Run:
    """Device, process group, seeds, data and model: everything fixed before the first step. The
    vocabulary comes from the data, so a warm start (`init_from`) maps characters by name."""
    device = pick_device()
    rank, world = setup_distributed(device)
    torch.manual_seed(cfg["seed"])
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(cfg["data"], validate=cfg["validate_data"], workers=cfg["workers"],
                         cache_dir=cfg["cache_dir"], abc2midi=cfg["abc2midi_check"],
                         transpose=cfg["transpose"])
    if rank == 0:
        print(corpus.report(), flush=True)
    if not corpus.valid or not corpus.train:
        raise SystemExit(f"{cfg['data']}: no {'validation' if corpus.train else 'training'} tunes; "
                         f"use a larger source")
    vocab = Vocab.from_texts(t.text for t in corpus.train + corpus.valid)
    val_tracks = batching.tune_tracks([t.item for t in corpus.valid], vocab, cfg["eval_tracks"])
    model = CharLSTM(ModelConfig(vocab_size=len(vocab), end_id=vocab.end_id, **cfg["model"])).to(device)
    if cfg["init_from"] and not (resume and (out / "latest.pt").exists()):
        warm_start(model, vocab, cfg["init_from"])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    return Run(cfg, device, rank, world, out, corpus, vocab, val_tracks, model, optimizer, ddp)


def _resumed(run: Run, resume: bool) -> tuple[dict, tuple | None]:
    """The run's state and the LSTM state carried between windows: fresh, or as latest.pt left
    them (weights, optimizer and random state too), so a resumed run matches an unbroken one."""
    st = {"step": 0, "epoch": 0, "window": 0, "best_val": float("inf"), "best_step": 0,
          "bad_evals": 0, "elapsed": 0.0, "log": [], "done": False}
    latest = run.out / "latest.pt"
    if resume and latest.exists():
        payload = checkpoint.read(latest)
        if payload["vocab"] != run.vocab.to_list():
            raise SystemExit(f"{latest} was trained on other data (vocabulary differs); "
                             f"start afresh in another out_dir")
        run.model.load_state_dict(payload["model"])
        run.optimizer.load_state_dict(payload["optimizer"])
        torch.set_rng_state(payload["rng"])
        hidden = tuple(h.to(run.device) for h in payload["hidden"]) if payload["hidden"] else None
        if run.main:
            print(f"resumed from {latest} at step {payload['train_state']['step']}", flush=True)
        return payload["train_state"], hidden
    if resume and run.main:
        print(f"no {latest} to resume from; starting afresh", flush=True)
    return st, None


def _loop(run: Run, st: dict, hidden, tracks: tuple, bar: tqdm) -> None:
    """Steps until max_steps or early stopping, a new epoch's order when the windows run out, and
    an evaluation every eval_every steps."""
    cfg = run.cfg
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if run.device.type == "cuda"
           else torch.autocast("cpu", enabled=False))
    n_windows = batching.num_windows(tracks[0].shape[1], cfg["seq_len"])
    run_loss, run_n, t0, chars = 0.0, 0, time.time(), 0
    while st["step"] < cfg["max_steps"] and not st["done"]:
        if st["window"] >= n_windows:
            st["epoch"] += 1
            st["window"] = 0
            hidden = None
            tracks = epoch_tracks(run.corpus.train, run.vocab, st["epoch"], cfg, run.rank, run.world)
            n_windows = batching.num_windows(tracks[0].shape[1], cfg["seq_len"])
        x, y, _, k = (t.to(run.device) for t in batching.window(*tracks, st["window"], cfg["seq_len"]))
        loss, hidden = _step(run, x, y, k, hidden, lr_at(st["step"], cfg), amp)
        st["step"] += 1
        st["window"] += 1
        run_loss += loss
        run_n += 1
        chars += x.numel() * run.world
        bar.update(1)
        if st["step"] % cfg["eval_every"] == 0 or st["step"] == cfg["max_steps"]:
            now = time.time()
            st["elapsed"] += now - t0
            _evaluate(run, st, hidden, run_loss / run_n, chars / max(1e-9, now - t0), bar)
            run_loss, run_n, t0, chars = 0.0, 0, time.time(), 0


def _step(run: Run, x, y, k, hidden, lr: float, amp) -> tuple[float, tuple]:
    """One optimizer step on a window, with the state carried in from the window before (its
    gradient cut there: truncated BPTT). Returns the window's loss in nats and the state."""
    run.model.train()
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    with amp:
        logits, hidden = run.ddp(x, hidden, kinds=k)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg["grad_clip"])
    run.optimizer.step()
    return loss.item(), detach_state(hidden)


def _evaluate(run: Run, st: dict, hidden, train_nats: float, chars_per_s: float, bar: tqdm) -> None:
    """Validation loss, a log row and early stopping; the main process writes best.pt when the
    loss improved, and latest.pt and log.csv every time, so a crash loses at most eval_every steps."""
    cfg = run.cfg
    val, _ = evaluate_stream(run.model, *run.val_tracks, cfg["seq_len"], run.device)
    row = {"step": st["step"], "epoch": st["epoch"], "lr": lr_at(st["step"] - 1, cfg),
           "train_nats": train_nats, "train_bpc": train_nats / LN2,
           "val_nats": val, "val_bpc": val / LN2, "elapsed_s": round(st["elapsed"], 1),
           "chars_per_s": round(chars_per_s)}
    st["log"].append(row)
    improved = val < st["best_val"]
    if improved:
        st["best_val"], st["best_step"], st["bad_evals"] = val, st["step"], 0
    else:
        st["bad_evals"] += 1
        st["done"] = st["bad_evals"] >= cfg["patience"]
    if run.main:
        bar.write(f"step {row['step']:5d} | train {row['train_bpc']:.3f} bpc | "
                  f"val {row['val_bpc']:.3f} bpc{' *' if improved else ''} | "
                  f"{row['chars_per_s']:,} chars/s")
        if improved:
            checkpoint.save(run.out / "best.pt", run.model, run.vocab, config=cfg, data=run.corpus.description,
                            metrics=_metrics(st, row))
        run.save_latest(st, hidden)
        write_log(run.out, st["log"])


def _report_end(run: Run, st: dict) -> None:
    """The loss curve, a closing line, and the exported model when the config asks for one."""
    draw_curve(run.out, st["log"])
    reason = "early stopping" if st["done"] else "max_steps reached"
    print(f"finished ({reason}): best validation {st['best_val'] / LN2:.4f} bpc at step "
          f"{st['best_step']}, {st['elapsed'] / 60:.1f} min", flush=True)
    if run.cfg.get("export"):
        export(run.out / "best.pt", Path(run.cfg["export"]), st)


def warm_start(model: CharLSTM, vocab: Vocab, path: str) -> None:
    """Copy a trained checkpoint's weights into `model`: the same shapes whole, and for the
    per-character rows (embedding, output layer) each character the old vocabulary knew."""
    payload = checkpoint.read(path)
    old = Vocab(payload["vocab"])
    rows = [(i, old.index[c]) for i, c in enumerate(vocab.chars) if c in old.index]
    new_ids, old_ids = (torch.tensor(x) for x in zip(*rows))
    state = model.state_dict()
    for name, value in payload["model"].items():
        if name not in state:
            raise SystemExit(f"init_from {path}: its model has {name}, this one does not; "
                             f"use the same model settings")
        if value.shape == state[name].shape and name.split(".")[0] not in ("embedding", "head"):
            state[name] = value
        elif name == "lstm.weight_ih_l0" and value.shape[0] == state[name].shape[0]:
            state[name].zero_()              # the type's new inputs start silent: the same model
            state[name][:, :value.shape[1]] = value
        elif name.split(".")[0] in ("embedding", "head") and value.shape[1:] == state[name].shape[1:]:
            state[name][new_ids] = value[old_ids]
        else:
            raise SystemExit(f"init_from {path}: {name} is {tuple(value.shape)}, this model's is "
                             f"{tuple(state[name].shape)}; use the same model settings")
    model.load_state_dict(state)
    print(f"started from {path}: {len(rows)} of {len(vocab)} characters known", flush=True)


def _metrics(st: dict, row: dict) -> dict:
    return {"step": row["step"], "val_bpc": row["val_bpc"], "val_nats": row["val_nats"],
            "train_bpc": row["train_bpc"], "elapsed_s": row["elapsed_s"]}


def write_log(out: Path, log: list[dict]) -> None:
    """log.csv beside the checkpoints, rewritten whole and atomically at every evaluation (the curve
    is drawn once, at the end: `draw_curve`)."""
    tmp = out / "log.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(log[0]))
        w.writeheader()
        w.writerows(log)
    tmp.replace(out / "log.csv")


def draw_curve(out: Path, log: list[dict]) -> None:
    """loss.png beside the checkpoints: training and validation bits per character by step."""
    if not log:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([r["step"] for r in log], [r["train_bpc"] for r in log], label="train")
    ax.plot([r["step"] for r in log], [r["val_bpc"] for r in log], label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png.tmp.png")
    plt.close(fig)
    (out / "loss.png.tmp.png").replace(out / "loss.png")


def export(best: Path, target: Path, st: dict) -> None:
    """The shipped file: the best weights with config, data and metrics, and no optimizer state."""
    payload = checkpoint.read(best)
    model = CharLSTM(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"])
    metrics = dict(payload["metrics"], total_steps=st["step"], wall_time_s=round(st["elapsed"], 1))
    checkpoint.save(target, model, Vocab(payload["vocab"]), config=payload["config"],
                    data=payload["data"], metrics=metrics)
    out = best.parent
    for name in ("log.csv", "loss.png"):
        src = out / name
        if src.exists():
            (target.parent / f"{target.stem}-{name}").write_bytes(src.read_bytes())
    print(f"exported {target} ({target.stat().st_size / 1e6:.1f} MB)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m abcgen.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML file (configs/folk.yaml, configs/tiny.yaml, configs/irishman.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from out_dir/latest.pt")
    p.add_argument("overrides", nargs="*", help="key=value settings, e.g. max_steps=100 model.hidden_size=256")
    args = p.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    try:
        train(cfg, resume=args.resume)
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, ValueError) as e:
        from abcgen.errors import CheckpointError, DataError
        if isinstance(e, (CheckpointError, DataError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
