"""Checkpoints of plain types: save, verify by sha256, load strictly."""

from __future__ import annotations

import hashlib
import platform
import re
from pathlib import Path
from typing import Any

import torch

from vocalsep.config import ModelConfig
from vocalsep.errors import ConfigError, ModelLoadError
from vocalsep.files import atomic_output

FORMAT_VERSION = 1
MODELS_DIR = Path(__file__).parent / "models"
#: Bundled files are named ``<name>-<first 8 hex digits of their sha256>.pt``.
HASHED_NAME = re.compile(r"^(?P<name>.+)-(?P<sha>[0-9a-f]{8})\.pt$")
#: Payload key of the content digest that ``save_checkpoint`` adds and ``read_checkpoint`` checks.
DIGEST_KEY = "content_sha256"


def library_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint."""
    import numpy

    from vocalsep import __version__

    return {
        "vocalsep": __version__,
        "torch": str(torch.__version__),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plain types and tensors) atomically with ``torch.save``.

    The file also stores ``content_sha256``, the digest of the payload's content, which
    ``read_checkpoint`` verifies: torch's archive reader does not check its CRCs, so a
    flipped byte would otherwise load as silently different weights.

    Raises
    ------
    OutputError
        The folder cannot be written or the disk is full; an earlier file at ``path`` is kept.
    """
    path = Path(path)
    # torch reports a full disk as RuntimeError ("unexpected pos")
    with atomic_output(path, catch=(OSError, RuntimeError)) as temp_name:
        torch.save({**payload, DIGEST_KEY: content_digest(payload)}, temp_name)
    return path


def content_digest(payload: Any) -> str:
    """Hex sha256 of a payload's content: keys, plain values, tensor dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    _feed(digest, payload)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            if key != DIGEST_KEY:
                _feed(digest, key)
                _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{flat.dtype}{tuple(value.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def model_payload(estimator: torch.nn.Module, config: ModelConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """The self-sufficient description of a trained model."""
    return {
        "format_version": FORMAT_VERSION,
        "model_config": config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in estimator.state_dict().items()},
        "training_summary": summary,
        "library_versions": library_versions(),
    }


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_models() -> dict[str, Path]:
    """Models shipped in the package, by name."""
    found = {}
    for path in sorted(MODELS_DIR.glob("*.pt")):
        match = HASHED_NAME.match(path.name)
        if match:
            found[match["name"]] = path
    return found


def resolve_model(name_or_path: str | Path) -> Path:
    """A bundled model's file, or an existing checkpoint path."""
    bundled = bundled_models()
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    names = ", ".join(sorted(bundled)) or "none"
    raise ModelLoadError(f"no model {str(name_or_path)!r}: not a file, and not a bundled model ({names})")


def read_checkpoint(path: str | Path, format_version: int = FORMAT_VERSION, kind: str = "vocalsep") -> dict[str, Any]:
    """Load a checkpoint file safely, verifying the sha256 prefix in its name if it has one and the
    content digest ``save_checkpoint`` stored; ``format_version`` and ``kind`` name what it must be."""
    path = Path(path)
    match = HASHED_NAME.match(path.name)
    if match and not sha256_of(path).startswith(match["sha"]):
        raise ModelLoadError(f"{path}: sha256 does not match its name; the file is corrupted")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged archives
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelLoadError(f"{path}: not a readable checkpoint ({reason[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format_version") != format_version:
        raise ModelLoadError(f"{path}: not a {kind} checkpoint of format {format_version}")
    stored = payload.pop(DIGEST_KEY, None)  # absent in files written before it existed
    if stored is not None and stored != content_digest(payload):
        raise ModelLoadError(f"{path}: content sha256 does not match the one stored in it; the file is corrupted")
    return payload


def load_estimator(name_or_path: str | Path = "default") -> "MaskEstimator":  # noqa: F821
    """Rebuild the network of a bundled model or checkpoint file, in eval mode."""
    from vocalsep.separation.model import MaskEstimator

    path = resolve_model(name_or_path)
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        estimator = MaskEstimator(config)
        estimator.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, RuntimeError, TypeError, AttributeError, ValueError, ConfigError) as error:
        raise ModelLoadError(f"{path}: checkpoint does not fit its model ({str(error)[:200]})") from None
    return estimator.eval()
