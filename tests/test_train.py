import os
import signal
import socket
import subprocess

import pytest
import torch

from abcgen import train
from abcgen.learn import checkpoint
from abcgen.errors import CheckpointError
from conftest import PYTHON, ROOT, tiny_overrides, wait_for


def run_tiny(small_book, out, **extra):
    cfg = train.load_config(str(ROOT / "configs/tiny.yaml"), tiny_overrides(small_book, out, **extra))
    return train.train(cfg)


def test_tiny_training_lowers_loss_and_reloads(small_book, tmp_path):
    st = run_tiny(small_book, tmp_path / "run", max_steps=60, eval_every=20, patience=10)
    log = st["log"]
    assert log[-1]["val_bpc"] < log[0]["val_bpc"] and log[-1]["train_bpc"] < log[0]["train_bpc"]
    for name in ("best.pt", "latest.pt", "log.csv", "loss.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    model, vocab, payload = checkpoint.load(tmp_path / "run" / "best.pt")
    assert payload["metrics"]["val_bpc"] == pytest.approx(min(r["val_bpc"] for r in log))
    assert payload["data"]["fingerprint"] and payload["config"]["max_steps"] == 60
    x = torch.tensor([vocab.encode("X:1\nL:1/8\n")])
    logits, _ = model(x)
    assert logits.shape == (1, x.shape[1], len(vocab))


def test_training_is_deterministic(small_book, tmp_path):
    run_tiny(small_book, tmp_path / "a", max_steps=20)
    run_tiny(small_book, tmp_path / "b", max_steps=20)
    a = checkpoint.read(tmp_path / "a" / "latest.pt")["model"]
    b = checkpoint.read(tmp_path / "b" / "latest.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(small_book, tmp_path):
    """SIGKILL a run mid-way, resume it, and end with exactly the weights of a run never stopped."""
    steps = dict(max_steps=200, eval_every=10, patience=1000)
    run_tiny(small_book, tmp_path / "straight", **steps)
    out = tmp_path / "killed"
    args = [PYTHON, "-m", "abcgen.train", "--config", "configs/tiny.yaml", *tiny_overrides(small_book, out, **steps)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "log.csv"
    wait_for(lambda: proc.poll() is not None or (log.exists() and len(log.read_text().splitlines()) >= 4),
             600, "three evaluations saved")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = checkpoint.read(out / "latest.pt")
    killed_at = saved["train_state"]["step"]
    assert 0 < killed_at < 200, "the run should have been killed part-way"
    for name in ("best.pt", "latest.pt"):    # a kill mid-save may leave a *.tmp behind, but never
        checkpoint.load(out / name)           # a half-written checkpoint: each loads whole
    cfg = train.load_config(str(ROOT / "configs/tiny.yaml"), tiny_overrides(small_book, out, **steps))
    st = train.train(cfg, resume=True)
    assert st["step"] == 200 and st["log"][0]["step"] == 10   # the log before the kill is kept
    a = checkpoint.read(tmp_path / "straight" / "latest.pt")
    b = checkpoint.read(out / "latest.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(_tensors(a["optimizer"]), _tensors(b["optimizer"])))


def _tensors(opt_state):
    return [v for s in opt_state["state"].values() for v in s.values() if torch.is_tensor(v)]


def test_corrupt_truncated_and_unsafe_checkpoints(small_book, tmp_path):
    run_tiny(small_book, tmp_path / "run", max_steps=10)
    good = (tmp_path / "run" / "best.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    torch.save({"format": "abcgen-checkpoint", "version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()

    other = checkpoint.read(tmp_path / "run" / "best.pt")
    other["model_config"]["hidden_size"] += 1
    torch.save(other, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        checkpoint.load(tmp_path / "mismatch.pt")


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(small_book, tmp_path):
    out = tmp_path / "ddp"
    with socket.socket() as sock:                     # a free loopback port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(port),
            "-m", "abcgen.train", "--config", "configs/tiny.yaml",
            *tiny_overrides(small_book, out, max_steps=20, batch_size=2)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    res = subprocess.run([PYTHON, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    payload = checkpoint.read(out / "latest.pt")
    assert payload["train_state"]["step"] == 20
    assert "finished" in res.stdout


def test_config_overrides_and_unknown_keys():
    cfg = train.load_config(str(ROOT / "configs/folk.yaml"), ["max_steps=5", "model.hidden_size=32"])
    assert cfg["max_steps"] == 5 and cfg["model"]["hidden_size"] == 32 and cfg["model"]["num_layers"] == 2
    with pytest.raises(SystemExit, match="unknown config"):
        train.load_config(None, ["nonsense=1"])
