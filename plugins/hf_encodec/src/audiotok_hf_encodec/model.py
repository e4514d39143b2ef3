"""transformers' ``EncodecModel`` behind the audiotok protocol, and its Hub-aware loader.

Code layout. transformers returns ``audio_codes [n_chunks, B, K, P]`` (the last chunk right-padded
with ``last_frame_pad_length`` zeros) and one ``[B, 1]`` scale per chunk. audiotok returns

- ``codes [B, K, F]``: the chunks' codes concatenated along time with the padding removed, so
  ``F = sum(frames of each chunk) = frames_for_samples(T)``; for unchunked models (24/32 kHz) and
  inputs up to one chunk stride this is ``ceil(T / hop)``;
- ``scale [B, n_chunks]``: chunk ``i``'s RMS scale in column ``i`` for normalized models (48 kHz;
  ``[B, 1]`` for a single chunk, as AudioCraft returns it), ``None`` otherwise.

Every chunk's frame count is a non-decreasing function of ``T``, so ``F`` alone determines the
split into chunks; ``decode`` rebuilds transformers' tensors from it and calls
``EncodecModel.decode(..., last_frame_pad_length=...)``. Decoded chunks overlap (48 kHz: 480
samples), so the output has ``T' = stride * (n_chunks - 1) + hop * last_chunk_frames`` samples,
480 fewer than ``F * hop`` per chunk boundary.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from audiotok import (
    AudioTokenizer,
    CheckpointError,
    InvalidAudioError,
    InvalidCodesError,
    MissingDependencyError,
    TokenizerSpec,
)

from ._config import HUB_CONFIGS, ConfigError, EncodecFacts, _offline, facts_from_config

if TYPE_CHECKING:
    from transformers import EncodecModel

MIN_TRANSFORMERS = (4, 54)
_WEIGHT_FILES = {".safetensors": "model.safetensors", ".bin": "pytorch_model.bin"}


class HFEncodecTokenizer(AudioTokenizer):
    """A transformers ``EncodecModel`` as an :class:`audiotok.AudioTokenizer`.

    ``num_codebooks`` defaults to all codebooks (the highest bandwidth), unlike transformers'
    ``encode(bandwidth=None)``, which uses the *lowest*. ``set_num_codebooks(K)`` accepts the K
    of each configured bandwidth (24 kHz: 2, 4, 8, 16, 32); ``set_bandwidth(kbps)`` is the same
    choice in transformers' units. ``encode(wav, padding_mask=...)`` forwards a padding mask.
    """

    residual = True

    def __init__(self, model: EncodecModel) -> None:
        super().__init__()
        try:
            self._facts: EncodecFacts = facts_from_config(model.config.to_dict())
        except ConfigError as exc:
            raise CheckpointError(f"{model.config.name_or_path or 'EncodecModel'}: {exc}") \
                from None
        for bw, exact in self._facts.inexact:
            warnings.warn(f"EnCodec bandwidth {bw} kbps is {exact:.4g} codebooks, not a whole "
                          f"number; transformers uses {max(1, math.floor(exact))}", stacklevel=2)
        self.model = model.eval()
        self.uses_scale = self._facts.normalize
        self._layouts: dict[int, tuple[int, ...]] = {}

    # -- facts -------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return self._facts.sample_rate

    @property
    def channels(self) -> int:
        return self._facts.channels

    @property
    def frame_rate(self) -> float:  # type: ignore[override]
        return self._facts.frame_rate

    @property
    def cardinality(self) -> int:  # type: ignore[override]
        return self._facts.cardinality

    @property
    def total_codebooks(self) -> int:
        return self._facts.total_codebooks

    @property
    def allowed_num_codebooks(self) -> tuple[int, ...]:
        return self._facts.codebook_choices

    @property
    def bandwidths(self) -> dict[int, float]:
        """``{K: bandwidth in kbps}`` for every selectable K."""
        return dict(self._facts.bandwidths)

    @property
    def bandwidth(self) -> float:
        """The configured bandwidth (kbps) passed to transformers for the active K."""
        return self._facts.bandwidths[self.num_codebooks]

    def set_bandwidth(self, kbps: float) -> None:
        """Select codebooks by bandwidth, one of ``config.target_bandwidths`` (kbps)."""
        for bw, k in self._facts.levels:
            if math.isclose(bw, kbps):
                self.set_num_codebooks(k)
                return
        raise InvalidCodesError(f"{self.name}: bandwidth {kbps} kbps is not configured; choose "
                                f"one of {[bw for bw, _ in self._facts.levels]}")

    # -- chunk layout ------------------------------------------------------------------------
    def chunk_frames(self, num_samples: int) -> tuple[int, ...]:
        """Frames of each chunk transformers encodes for ``num_samples`` samples."""
        hop, length, stride = self._facts.hop_length, self._facts.chunk_length, \
            self._facts.chunk_stride
        if num_samples <= 0:
            return ()
        if length is None or stride is None:
            return (-(-num_samples // hop),)
        return tuple(-(-min(length, num_samples - offset) // hop)
                     for offset in range(0, num_samples, stride))

    def frames_for_samples(self, num_samples: int) -> int:
        """Total frames F of ``encode`` for ``num_samples`` samples (the sum over chunks)."""
        num_samples = int(num_samples)
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        return sum(self.chunk_frames(num_samples))

    def _layout(self, frames: int) -> tuple[int, ...]:
        """The per-chunk frame counts whose sum is ``frames`` (each is monotone in T)."""
        if self._facts.chunk_length is None:
            return (frames,)
        layout = self._layouts.get(frames)
        if layout is None:
            lo, hi = 1, frames * self._facts.hop_length  # F(T) >= ceil(T / hop)
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (mid + 1, hi) if self.frames_for_samples(mid) < frames else (lo, mid)
            layout = self.chunk_frames(lo)
            if sum(layout) != frames:
                raise InvalidCodesError(
                    f"{self.name}: {frames} frames is not a length encode produces (chunked "
                    f"model); nearest: {sum(layout)} (see tokenizer.frames_for_samples)")
            if len(self._layouts) > 4096:
                self._layouts.clear()
            self._layouts[frames] = layout
        return layout

    # -- encode / decode ---------------------------------------------------------------------
    def encode(self, wav: Tensor, padding_mask: Tensor | None = None,
               ) -> tuple[Tensor, Tensor | None]:
        """Audio ``[B, C, T]`` -> ``(codes int64 [B, K, F], scale [B, n_chunks] or None)``.

        ``padding_mask`` (``[B, T]``, ``[B, 1, T]`` or ``[B, C, T]``, true on real samples) is
        passed to transformers, which zeroes padded samples before each chunk is encoded. Codes
        of item ``b`` past ``frames_for_samples(length_b)`` are padding.
        """
        wav = self.check_audio(wav)
        if padding_mask is not None:
            padding_mask = self._check_mask(padding_mask, wav)
        return self._encode_masked(wav, padding_mask)

    def _check_mask(self, mask: Any, wav: Tensor) -> Tensor:
        if not isinstance(mask, Tensor) or mask.dim() not in (2, 3) \
                or mask.shape[0] != wav.shape[0] or mask.shape[-1] != wav.shape[-1] \
                or (mask.dim() == 3 and mask.shape[1] not in (1, wav.shape[1])):
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise InvalidAudioError(f"{self.name}: padding_mask must be [B, T], [B, 1, T] or "
                                    f"[B, C, T] matching audio {tuple(wav.shape)}, got {shape}")
        mask = mask.to(wav.device).bool()
        return mask[:, None] if mask.dim() == 2 else mask

    def _encode(self, wav: Tensor) -> tuple[Tensor, Tensor | None]:
        return self._encode_masked(wav, None)

    def _encode_masked(self, wav: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        layout = self.chunk_frames(wav.shape[-1])
        if len(set(layout[:-1])) <= 1:  # every chunk but the last has the first one's length
            codes, scales, pad = self.model.encode(wav, mask, self.bandwidth, return_dict=False)
            n, batch, k, per_chunk = codes.shape
            if n == 1:
                codes = codes[0]
            else:
                codes = codes.permute(1, 2, 0, 3).reshape(batch, k, n * per_chunk)
            if pad:
                codes = codes[..., : codes.shape[-1] - pad]
        else:  # transformers' torch.stack fails here (a short chunk before the last one)
            codes, scales = self._encode_chunks(wav, mask)
        scale = torch.cat(scales, dim=1) if self.uses_scale else None
        return codes, scale

    def _encode_chunks(self, wav: Tensor, mask: Tensor | None) -> tuple[Tensor, list[Any]]:
        """transformers' chunk loop without the final stack (its per-chunk encoder)."""
        length, stride = self._facts.chunk_length, self._facts.chunk_stride
        assert length is not None and stride is not None
        pieces, scales = [], []
        for offset in range(0, wav.shape[-1], stride):
            chunk = wav[..., offset: offset + length]
            if mask is not None:
                chunk = mask[..., offset: offset + length] * chunk
            codes, scale = self.model._encode_frame(chunk, self.bandwidth)
            pieces.append(codes)
            scales.append(scale)
        return torch.cat(pieces, dim=-1), scales

    def _decode(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        batch, k, frames = codes.shape
        layout = self._layout(frames)
        n = len(layout)
        if self.uses_scale:
            assert scale is not None
            if not isinstance(scale, Tensor) or scale.shape not in ((batch, n), (batch, 1, n)):
                got = tuple(scale.shape) if isinstance(scale, Tensor) else type(scale).__name__
                raise InvalidCodesError(f"{self.name}: {frames} frames are {n} chunk(s), so "
                                        f"the scale must be [{batch}, {n}] as encode returns "
                                        f"it, got {got}")
            scale = scale.reshape(batch, n).to(device=codes.device, dtype=torch.float32)
            scales: list[Tensor | None] = list(scale.split(1, dim=1))
        else:
            scales = [None] * n
        if len(set(layout[:-1])) > 1:
            stride = self._facts.chunk_stride
            pieces = [self.model._decode_frame(c, s)
                      for c, s in zip(codes.split(list(layout), dim=-1), scales, strict=True)]
            return self.model._linear_overlap_add(pieces, stride)
        per_chunk, pad = layout[0], layout[0] - layout[-1]
        if n == 1:
            stacked = codes[None]
        else:
            padded = torch.nn.functional.pad(codes, (0, pad))
            stacked = padded.reshape(batch, k, n, per_chunk).permute(2, 0, 1, 3)
        return self.model.decode(stacked, scales, last_frame_pad_length=pad,
                                 return_dict=False)[0]

    def _decode_latent(self, codes: Tensor) -> Tensor:
        return self.model.quantizer.decode(codes.transpose(0, 1))


# -- loading -----------------------------------------------------------------------------------
def _transformers() -> Any:
    try:
        version = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        raise MissingDependencyError("hf_encodec tokenizers need transformers: "
                                     "pip install audiotok-hf-encodec") from None
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_TRANSFORMERS:
        raise MissingDependencyError(
            f"hf_encodec needs transformers>=4.54 (chunked 48 kHz EnCodec and "
            f"last_frame_pad_length), found {version}: pip install -U 'transformers>=4.54'")
    import transformers

    return transformers


def _not_found(source: str, exc: Exception, offline: bool, cache_dir: str | None,
               ) -> CheckpointError:
    where = f" in {cache_dir}" if cache_dir else " in the Hugging Face cache"
    if offline:
        return CheckpointError(
            f"{source} is not available offline: its files are not{where} and downloads are "
            f"off (HF_HUB_OFFLINE=1 or local_files_only=True). Download it once with network "
            f"access (`hf download {source}` or `huggingface-cli download {source}`), or pass "
            f"the folder written by save_pretrained. ({exc})")
    return CheckpointError(
        f"cannot get {source} from the Hugging Face Hub: {exc}. Check the repo id and revision "
        f"and your network; for private or gated repos log in (`hf auth login`) or set HF_TOKEN")


def _config_dict(transformers: Any, source: str, **hub: Any) -> dict[str, Any]:
    try:
        config, _ = transformers.EncodecConfig.get_config_dict(source, **hub)
    except OSError as exc:
        raise _not_found(source, exc, bool(hub.get("local_files_only")), hub.get("cache_dir")) \
            from exc
    if config.get("model_type") != "encodec":
        raise CheckpointError(f"{source}: config.json has model_type "
                              f"{config.get('model_type')!r}, not 'encodec'")
    return config


def _from_folder_or_hub(transformers: Any, source: str, **hub: Any) -> EncodecModel:
    config_dict = _config_dict(transformers, source, **hub)
    try:
        facts_from_config(config_dict)
        config = transformers.EncodecConfig.from_dict(config_dict)
    except (ConfigError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{source}: config.json is not a usable EnCodec config: {exc}") \
            from None
    try:
        model = transformers.EncodecModel.from_pretrained(source, config=config, **hub)
    except OSError as exc:
        if Path(source).is_dir():
            raise CheckpointError(f"{source}: no readable EnCodec weights "
                                  f"(model.safetensors or pytorch_model.bin): {exc}") from exc
        raise _not_found(source, exc, bool(hub.get("local_files_only")), hub.get("cache_dir")) \
            from exc
    except Exception as exc:  # corrupt safetensors, refused pickles (weights_only), bad shapes
        raise CheckpointError(f"{source}: corrupt or unsafe EnCodec weights "
                              f"({type(exc).__name__}: {exc})") from exc
    return model


def _from_weights_file(transformers: Any, path: Path, source: str | None) -> EncodecModel:
    """A lone weights file: config.json beside it, else the public config named by ``source``."""
    target = _WEIGHT_FILES.get(path.suffix)
    if target is None:
        raise CheckpointError(f"{path}: expected a folder saved with save_pretrained or a "
                              f"weights file ending in {' or '.join(_WEIGHT_FILES)}")
    config_path = path.with_name("config.json")
    with tempfile.TemporaryDirectory(prefix="audiotok_hf_encodec_") as tmp:
        if config_path.is_file():
            shutil.copyfile(config_path, Path(tmp) / "config.json")
        elif source in HUB_CONFIGS:
            transformers.EncodecConfig(**{k: v for k, v in HUB_CONFIGS[source].items()
                                          if k != "model_type"}).save_pretrained(tmp)
        else:
            raise CheckpointError(f"{path}: no config.json beside it; put the model's "
                                  f"config.json in {path.parent} or pass the whole folder")
        os.symlink(path.resolve(), Path(tmp) / target)
        return _from_folder_or_hub(transformers, tmp, local_files_only=True)


def load(spec: TokenizerSpec, *, checkpoint: str | None = None, source: str | None = None,
         revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
         local_files_only: bool | None = None, token: str | bool | None = None,
         ) -> HFEncodecTokenizer:
    """Factory of every ``hf_encodec`` tokenizer.

    Args:
        spec: the registered or claimed spec.
        checkpoint: a local folder saved with ``save_pretrained``, or a ``.safetensors`` /
            ``.bin`` weights file (``config.json`` beside it, or the public config of ``spec``).
        source: Hub repo id or local folder (set by the spec; ``checkpoint`` overrides it).
        revision: Hub branch, tag or commit.
        cache_dir: Hugging Face cache folder (default: ``HF_HUB_CACHE`` / ``HF_HOME``).
        local_files_only: never download (also implied by ``HF_HUB_OFFLINE=1``).
        token: Hub token; default: ``HF_TOKEN`` or the stored login.

    Never passes ``trust_remote_code``: only transformers' own ``EncodecModel`` runs.
    """
    transformers = _transformers()
    location = checkpoint if checkpoint is not None else source
    if location is None:
        raise CheckpointError(f"{spec.name}: nothing to load; pass checkpoint=PATH")
    path = Path(location).expanduser()
    if checkpoint is not None and not path.exists():
        raise CheckpointError(f"{spec.name}: checkpoint {path} does not exist")
    if path.is_file():
        model = _from_weights_file(transformers, path, source)
    elif path.is_dir():
        model = _from_folder_or_hub(transformers, str(path), local_files_only=True)
    else:
        offline = bool(local_files_only) or _offline()
        model = _from_folder_or_hub(
            transformers, location, revision=revision,
            cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
            local_files_only=offline, token=token)
    return HFEncodecTokenizer(model.float())
