"""Token files: codes (+ scale) in safetensors with the metadata needed to decode them.

Layout (readable without audiotok: ``safetensors.numpy.load_file`` + ``json.loads``):

- tensor ``codes``: ``[K, F]`` or ``[B, K, F]``, ``uint16`` when cardinality <= 65536, else
  ``int32`` (``int64`` beyond);
- tensor ``scale`` (optional): float32, as returned by ``encode``;
- header metadata ``format = "audiotok.tokens"``, ``format_version = "1"`` and ``audiotok``: a
  JSON object with the fields of :class:`TokenMetadata`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import CheckpointError, InvalidCodesError
from ._files import atomic_write
from ._version import __version__

if TYPE_CHECKING:
    from torch import Tensor

    from ._protocol import AudioTokenizer

FORMAT = "audiotok.tokens"
FORMAT_VERSION = "1"


def provenance(tokenizer: AudioTokenizer) -> dict[str, Any]:
    """What is needed to load ``tokenizer`` again: the identifier it was loaded by (or its
    qualified name), its name, plugin and plugin version, and the checkpoint file given."""
    spec = tokenizer.spec
    return {
        "tokenizer": tokenizer.identifier or (spec.qualified_name if spec else tokenizer.name),
        "name": tokenizer.name, "plugin": spec.plugin if spec else "",
        "plugin_version": spec.version if spec else "", "checkpoint": tokenizer.checkpoint,
    }


@dataclass(frozen=True)
class TokenMetadata:
    """What a token file records about how its codes were made (enough to decode them)."""

    tokenizer: str
    name: str
    plugin: str
    plugin_version: str
    sample_rate: int
    channels: int
    frame_rate: float
    cardinality: int
    num_codebooks: int
    num_samples: int | None = None
    interleave_stereo: bool = False
    checkpoint: str | None = None
    audiotok_version: str = __version__

    @classmethod
    def from_tokenizer(cls, tokenizer: AudioTokenizer, num_codebooks: int,
                       num_samples: int | None) -> TokenMetadata:
        """Describe ``tokenizer`` (loaded through :func:`audiotok.load`, or wrapped in stereo)."""
        from ._stereo import InterleaveStereo

        inner = tokenizer.mono if isinstance(tokenizer, InterleaveStereo) else tokenizer
        return cls(
            **provenance(inner), sample_rate=tokenizer.sample_rate, channels=tokenizer.channels,
            frame_rate=float(tokenizer.frame_rate), cardinality=tokenizer.cardinality,
            num_codebooks=num_codebooks, num_samples=num_samples,
            interleave_stereo=inner is not tokenizer)

    @classmethod
    def from_json(cls, text: str) -> TokenMetadata:
        """Parse and type-check the JSON object stored in a token file."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        missing = [n for n, f in fields.items()
                   if f.default is dataclasses.MISSING and n not in data]
        if missing:
            raise ValueError(f"metadata lacks {missing}")
        kwargs = {k: v for k, v in data.items() if k in fields}
        for key in ("sample_rate", "channels", "cardinality", "num_codebooks"):
            if not isinstance(kwargs[key], int) or isinstance(kwargs[key], bool) or kwargs[key] < 1:
                raise ValueError(f"metadata {key} must be a positive int")
        if not isinstance(kwargs["frame_rate"], (int, float)) or not kwargs["frame_rate"] > 0:
            raise ValueError("metadata frame_rate must be positive")
        n = kwargs.get("num_samples")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise ValueError("metadata num_samples must be a non-negative int or null")
        for key in ("tokenizer", "name", "plugin", "plugin_version"):
            if not isinstance(kwargs[key], str):
                raise ValueError(f"metadata {key} must be a string")
        if not isinstance(kwargs.get("checkpoint"), (str, type(None))):
            raise ValueError("metadata checkpoint must be a string or null")
        return cls(**kwargs)


@dataclass(frozen=True)
class Tokens:
    """A loaded token file: ``codes`` (int64), ``scale`` (or None) and ``metadata``."""

    codes: Tensor
    scale: Tensor | None
    metadata: TokenMetadata


def codes_dtype(cardinality: int) -> str:
    """The numpy dtype audiotok stores codes of this cardinality in."""
    if cardinality <= 1 << 16:
        return "uint16"
    return "int32" if cardinality <= 1 << 31 else "int64"


def save_tokens(path: str | os.PathLike[str], codes: Tensor, scale: Tensor | None = None, *,
                tokenizer: AudioTokenizer, num_samples: int | None = None) -> Path:
    """Save ``codes`` (``[K, F]`` or ``[B, K, F]``) and ``scale`` to a safetensors token file.

    The file appears atomically. ``num_samples`` (the original length) lets decoding trim the
    output exactly. Returns the path.
    """
    import numpy as np
    from safetensors.numpy import save

    path = Path(path)
    if codes.dim() not in (2, 3) or codes.is_floating_point():
        raise InvalidCodesError(f"save_tokens expects integer codes [K, F] or [B, K, F], got "
                                f"{codes.dtype} {tuple(codes.shape)}")
    k = codes.shape[-2]
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= tokenizer.cardinality):
        raise InvalidCodesError(f"codes out of range [0, {tokenizer.cardinality})")
    meta = TokenMetadata.from_tokenizer(tokenizer, k, num_samples)
    arrays = {"codes": codes.detach().cpu().numpy().astype(codes_dtype(tokenizer.cardinality))}
    if scale is not None:
        arrays["scale"] = np.ascontiguousarray(scale.detach().cpu().float().numpy())
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "audiotok": json.dumps(dataclasses.asdict(meta))}
    try:
        atomic_write(path, save(arrays, metadata=header))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write token file ({exc})") from exc
    return path


def load_tokens(path: str | os.PathLike[str]) -> Tokens:
    """Load a token file written by :func:`save_tokens` (safetensors only, never pickle).

    Raises :class:`audiotok.CheckpointError` naming the file if it is missing, not a token file,
    or inconsistent (codes out of range, wrong K, bad metadata).
    """
    import torch
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such token file")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
            keys = set(handle.keys())
            arrays = {key: handle.get_tensor(key) for key in keys & {"codes", "scale"}}
    except Exception as exc:  # safetensors raises several types for corrupt headers
        raise CheckpointError(f"{path}: not a readable safetensors token file ({exc})") from exc
    if header.get("format") != FORMAT:
        found = header.get("format")
        raise CheckpointError(f"{path}: not an audiotok token file (format={found!r})")
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: token format version {header.get('format_version')!r} is "
                              f"not supported (this audiotok reads {FORMAT_VERSION})")
    try:
        meta = TokenMetadata.from_json(header.get("audiotok", ""))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: bad token metadata ({exc})") from exc
    if "codes" not in arrays:
        raise CheckpointError(f"{path}: token file has no 'codes' tensor")
    raw = arrays["codes"]
    if raw.dtype.kind not in "iu" or raw.ndim not in (2, 3):
        raise CheckpointError(f"{path}: codes must be integer [K, F] or [B, K, F], got "
                              f"{raw.dtype} {raw.shape}")
    codes = torch.from_numpy(raw.astype("int64"))
    if codes.shape[-2] != meta.num_codebooks:
        raise CheckpointError(f"{path}: codes have {codes.shape[-2]} codebooks, metadata says "
                              f"{meta.num_codebooks}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= meta.cardinality):
        raise CheckpointError(f"{path}: codes out of range [0, {meta.cardinality})")
    scale = None
    if "scale" in arrays:
        if arrays["scale"].dtype.kind != "f":
            raise CheckpointError(f"{path}: scale must be floating point")
        scale = torch.from_numpy(arrays["scale"].astype("float32"))
    return Tokens(codes=codes, scale=scale, metadata=meta)
