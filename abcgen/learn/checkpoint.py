"""Save and load checkpoints as plain dicts that load with `torch.load(weights_only=True)`.

A checkpoint holds the weights, the vocabulary, the model and training configuration, a description
of the data it was trained on, its metrics and the library versions. Files are written atomically
(temporary file, then rename), so a crash never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import os
import pickle
import platform
import zipfile
from pathlib import Path

import torch

from abcgen.errors import CheckpointError
from abcgen.learn.model import CharLSTM, ModelConfig
from abcgen.learn.vocab import Vocab

FORMAT = "abcgen-checkpoint"
VERSION = 1
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "folk.pt"

# Bounds on what a checkpoint may ask for; the shipped model has 3.5 M parameters. Keys not listed
# here (dropout, end_id, ...) are not sizes.
MAX_PARAMETERS = 50_000_000
SIZE_LIMITS = {"vocab_size": (1, 1000), "embedding_dim": (1, 1024), "hidden_size": (1, 4096),
               "num_layers": (1, 8), "memory": (0, 65_536), "memory_dim": (1, 1024)}
MAX_FILE_BYTES = 2 * 2**30  # weights, optimizer state and history of the largest model allowed


def versions() -> dict:
    import abcgen
    return {"abcgen": abcgen.__version__, "torch": str(torch.__version__), "python": platform.python_version()}


def save(path: str | Path, model: CharLSTM, vocab: Vocab, **extra) -> None:
    """Write `path` atomically. `extra` adds plain values (config, data, metrics, optimizer, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": model.config.to_dict(),
        "vocab": vocab.to_list(),
        "versions": versions(),
        **extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read(path: str | Path) -> dict:
    """The checkpoint dict, with clear errors for missing, unsafe, corrupt or foreign files."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; train one with "
                              f"`python -m abcgen.train --config configs/folk.yaml`")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a regular checkpoint file (it is a folder, a pipe "
                              f"or a device); give the path of a .pt file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CheckpointError(f"checkpoint {path} is {path.stat().st_size / 2**30:.1f} GB; abcgen loads "
                              f"checkpoints of at most {MAX_FILE_BYTES / 2**30:g} GB")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" in str(e).lower():   # a class or function to import: code, not weights
            raise CheckpointError(f"checkpoint {path} was refused: it contains Python objects or code "
                                  f"that a safe load does not allow ({_unsafe_name(e)})") from None
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({_first_line(e)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({_first_line(e)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an abcgen checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {payload.get('version')}; "
                              f"this abcgen reads version {VERSION}")
    return payload


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return (lines[0][:120] if lines else type(e).__name__)


def _unsafe_name(e: BaseException) -> str:
    import re
    m = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
    return f"it would import {m.group(1)}" if m else _first_line(e)


def check_size(config: ModelConfig, path) -> None:
    """Refuse a model larger than abcgen ever trains before any of its memory is allocated:
    each size in SIZE_LIMITS, then the parameters counted on torch's "meta" device (no storage)."""
    for key, (low, high) in SIZE_LIMITS.items():
        value = getattr(config, key, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(f"checkpoint {path} asks for a model with {key}={value!r}; "
                                  f"abcgen loads models with {key} from {low} to {high}")
    with torch.device("meta"):
        parameters = CharLSTM(config).num_parameters()
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(f"checkpoint {path} asks for a model of {parameters:,} parameters; "
                              f"abcgen loads models of at most {MAX_PARAMETERS:,}")


def load(path: str | Path | None = None, device: str = "cpu") -> tuple[CharLSTM, Vocab, dict]:
    """(model in eval mode, vocabulary, the whole checkpoint dict). Defaults to the shipped model."""
    payload = read(path or SHIPPED)
    try:
        vocab = Vocab(payload["vocab"])
        config = ModelConfig(**payload["model_config"])
        check_size(config, path or SHIPPED)
        model = CharLSTM(config)
        model.load_state_dict(payload["model"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path or SHIPPED} does not match this model "
                              f"({_first_line(e)})") from None
    return model.to(device).eval(), vocab, payload
