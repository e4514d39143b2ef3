"""``DACTokenizer``: DAC behind the audiotok protocol, plus the safe, strict checkpoint loader.

Loading never imports descript-audio-codec: the network is :mod:`audiotok_dac.model`, with
DAC's own ``state_dict`` keys, so release files load with ``torch.load(weights_only=True)``
and a strict key and shape check.
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import audiotok
from audiotok import AudioTokenizer, CheckpointError, TokenizerSpec

from .model import DACNetwork
from .releases import DAC_DEFAULTS, RELEASES, Release, cache_dir, config_facts

#: Default length of the windows long inputs are encoded and decoded in (seconds of audio).
DEFAULT_CHUNK_SECONDS = 10.0


class DACTokenizer(AudioTokenizer):
    """Descript Audio Codec as an :class:`audiotok.AudioTokenizer` (mono, residual VQ).

    - ``encode`` right-pads the input to a multiple of the hop, as ``DAC.preprocess`` does, so
      ``F = ceil(T / hop)``; the codes are bit-identical to ``DAC.encode`` on that padded input.
      Inputs longer than ``chunk_seconds`` are encoded window by window with enough context on
      both sides (the encoder's exact receptive field) that the codes are identical to encoding
      the whole input, with memory bounded by the window size.
    - ``decode`` sums the projected codewords (``quantizer.from_codes``), runs the decoder and
      returns exactly ``F * hop`` samples. The 16 and 24 kHz decoders (odd stride 5) produce
      ``F * hop - 8`` samples; the last 8 are zero-filled. Long code sequences are decoded in
      windows the same way (equal to whole decoding up to float rounding).
    - ``decode_latent`` is the quantized latent ``z`` the decoder consumes, ``[B, latent_dim, F]``.
    """

    residual = True
    exact_chunking = True  # encode_chunked gives the codes of whole-input encoding

    def __init__(self, network: DACNetwork, *, chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS
                 ) -> None:
        super().__init__()
        if chunk_seconds is not None and not chunk_seconds > 0:
            raise ValueError(f"chunk_seconds must be positive or None, got {chunk_seconds!r}")
        self.model = network
        self.chunk_seconds = chunk_seconds

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()}, chunk_seconds={self.chunk_seconds})"

    # -- facts -----------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    @property
    def channels(self) -> int:
        return 1

    @property
    def frame_rate(self) -> float:
        return self.model.sample_rate / self.model.hop_length

    @property
    def hop_length(self) -> int:
        return self.model.hop_length

    @property
    def cardinality(self) -> int:
        return self.model.codebook_size

    @property
    def total_codebooks(self) -> int:
        return self.model.n_codebooks

    def _chunk_frames(self, chunk_frames: int | None) -> int | None:
        if chunk_frames is not None:
            if chunk_frames < 1:
                raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
            return chunk_frames
        if self.chunk_seconds is None:
            return None
        return max(1, math.ceil(self.chunk_seconds * self.frame_rate))

    # -- encode ----------------------------------------------------------------------------
    def _encode(self, wav: Tensor) -> tuple[Tensor, None]:
        return self._encode_windows(wav, None), None

    def encode_chunked(self, wav: Tensor, chunk_samples: int | None = None, *,
                       chunk_frames: int | None = None) -> tuple[Tensor, None]:
        """``(codes [B, K, ceil(T / hop)], None)`` computed a window at a time (the audiotok
        ``encode_chunked`` protocol; ``audiotok tokenize`` uses it for long files).

        Windows are ``chunk_frames`` frames (or ``chunk_samples`` rounded up to whole hops);
        each is extended by the encoder's receptive field (aligned to the hop) and clipped to
        the hop-padded signal, so every code equals the one whole-input encoding gives. With
        neither given, ``chunk_seconds`` applies; whole-input encoding when that is None or the
        input fits in one window.
        """
        if chunk_frames is None and chunk_samples is not None:
            chunk_frames = max(1, -(-int(chunk_samples) // self.hop_length))
        return self._encode_windows(self.check_audio(wav), chunk_frames), None

    def _encode_windows(self, wav: Tensor, chunk_frames: int | None) -> Tensor:
        hop, length = self.hop_length, wav.shape[-1]
        frames = -(-length // hop)
        step = self._chunk_frames(chunk_frames) or frames
        encoder, quantizer = self.model.encoder, self.model.quantizer
        out = []
        for f0 in range(0, frames, step):
            f1 = min(frames, f0 + step)
            lo, hi = encoder.needed((f0, f1 - 1))
            start = max(0, lo // hop) * hop
            stop = min(frames, -(-(hi + 1) // hop)) * hop
            window = wav[..., start:min(stop, length)]
            if window.shape[-1] < stop - start:  # DAC.preprocess: right-pad with zeros
                window = torch.nn.functional.pad(window, (0, stop - start - window.shape[-1]))
            z = encoder(window)[..., f0 - start // hop:f1 - start // hop]
            out.append(quantizer.encode(z, self.num_codebooks))
        return torch.cat(out, dim=-1) if len(out) > 1 else out[0]

    # -- decode ----------------------------------------------------------------------------
    def _decode_latent(self, codes: Tensor) -> Tensor:
        return self.model.quantizer.from_codes(codes)

    def _decode(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        return self._decode_windows(codes, None)

    def decode_chunked(self, codes: Tensor, chunk_frames: int | None = None) -> Tensor:
        """Audio ``[B, 1, F * hop]`` decoded ``chunk_frames`` frames at a time (with context).

        Each output window is computed from the code frames its samples depend on (the
        decoder's receptive field), so the result equals whole decoding up to float rounding.
        """
        return self._decode_windows(self.check_codes(codes), chunk_frames)

    def _decode_windows(self, codes: Tensor, chunk_frames: int | None) -> Tensor:
        hop, frames = self.hop_length, codes.shape[-1]
        step = self._chunk_frames(chunk_frames) or frames
        decoder, quantizer = self.model.decoder, self.model.quantizer
        out = []
        for f0 in range(0, frames, step):
            f1 = min(frames, f0 + step)
            lo, hi = decoder.needed((f0 * hop, f1 * hop - 1))
            start, stop = max(0, lo), min(frames, hi + 1)
            wav = decoder(quantizer.from_codes(codes[..., start:stop]))
            out.append(wav[..., (f0 - start) * hop:(f1 - start) * hop])
        wav = torch.cat(out, dim=-1) if len(out) > 1 else out[0]
        missing = frames * hop - wav.shape[-1]  # 8 samples for the odd-stride 16/24 kHz decoders
        return torch.nn.functional.pad(wav, (0, missing)) if missing > 0 else wav


# -- loading ---------------------------------------------------------------------------------
def _read_release(path: Path) -> tuple[dict[str, Any], Mapping[str, Tensor]]:
    """``(kwargs, state_dict)`` of a DAC release file, loaded with ``weights_only=True``."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if _is_torch_package(path):
        raise CheckpointError(f"{path}: refused to load a torch.package archive (DAC.save's "
                              "default, it runs packaged code); re-save the model with "
                              "DAC.save(path, package=False)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message suggests weights_only=False; pass on only the line naming the culprit.
        lines = [line.strip() for line in str(exc).splitlines()
                 if "GLOBAL" in line or "Unsupported" in line]
        reason = lines[0] if lines else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused to load: the pickle is not plain weights ({reason}); only state "
            "dicts are loaded (torch.load weights_only=True), never arbitrary objects") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: "
                              f"{exc})") from None
    if not (isinstance(obj, dict) and isinstance(obj.get("state_dict"), Mapping)
            and isinstance(obj.get("metadata"), dict)
            and isinstance(obj["metadata"].get("kwargs"), dict)):
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{path}: not a DAC checkpoint: expected DAC's release layout "
            f"{{'state_dict': ..., 'metadata': {{'kwargs': ...}}}} (DAC.save(path, "
            f"package=False)), found {found}")
    return dict(obj["metadata"]["kwargs"]), obj["state_dict"]


def _is_torch_package(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(".data/version") for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _legacy_names(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Accept ``parametrizations.weight.original0/1`` (new-style weight norm) as ``weight_g/v``."""
    renamed = {}
    for key, value in state.items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        renamed[key] = value
    return renamed


def _preview(keys: set[str]) -> str:
    ordered = sorted(keys)
    more = f" ... (+{len(ordered) - 5} more)" if len(ordered) > 5 else ""
    return ", ".join(ordered[:5]) + more


def build_network(kwargs: Mapping[str, Any], state: Mapping[str, Tensor], path: Path
                  ) -> DACNetwork:
    """A :class:`DACNetwork` from release kwargs with ``state`` loaded strictly (names ``path``)."""
    cfg = {k: v for k, v in {**DAC_DEFAULTS, **kwargs}.items() if k in DAC_DEFAULTS}
    cfg.pop("quantizer_dropout")  # training only
    try:
        config_facts(cfg)
        network = DACNetwork(**cfg)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: unsupported DAC configuration {dict(kwargs)}: {exc}") \
            from None
    state = _legacy_names(state)
    expected = network.state_dict()
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        parts = ([f"missing {len(missing)} key(s): {_preview(missing)}"] if missing else []) + \
                ([f"unexpected {len(unexpected)} key(s): {_preview(unexpected)}"]
                 if unexpected else [])
        raise CheckpointError(f"{path}: the weights do not match the DAC architecture its "
                              f"metadata describes ({'; '.join(parts)}); the file is truncated "
                              "or belongs to another model")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if not isinstance(state[k], Tensor) or state[k].shape != v.shape]
    if wrong:
        raise CheckpointError(f"{path}: tensor shapes do not match the DAC architecture its "
                              f"metadata describes: {'; '.join(wrong[:5])}"
                              + (f" (+{len(wrong) - 5} more)" if len(wrong) > 5 else ""))
    non_finite = [k for k, v in state.items() if v.is_floating_point() and not
                  bool(torch.isfinite(v).all())]
    if non_finite:
        raise CheckpointError(f"{path}: non-finite values in {_preview(set(non_finite))}")
    network.load_state_dict(state, strict=True)
    return network.eval()


def download(release: Release, *, directory: Path | None = None) -> Path:
    """Path of ``release``'s weights in the cache, downloading them once if absent.

    Nothing is downloaded when :func:`audiotok.offline` is on (``AUDIOTOK_OFFLINE=1`` or
    ``HF_HUB_OFFLINE=1``): a missing file is then an error.
    """
    directory = directory or cache_dir()
    target = directory / release.cache_name
    if target.is_file():
        return target
    if audiotok.offline():
        raise CheckpointError(f"{target}: not in the cache and downloads are off "
                              f"(AUDIOTOK_OFFLINE or HF_HUB_OFFLINE); download "
                              f"{release.url} to that path or pass checkpoint=PATH")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        # Writes to a temporary file in ``directory`` and renames it when complete.
        torch.hub.download_url_to_file(release.url, str(target), progress=True)
    except Exception as exc:
        raise CheckpointError(f"{target}: could not download {release.url} ({exc}); download it "
                              "to that path yourself or pass checkpoint=PATH") from None
    return target


def load(spec: TokenizerSpec, *, checkpoint: str | os.PathLike[str] | None = None,
         chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS, release: str | None = None,
         cache_dir: str | os.PathLike[str] | None = None) -> DACTokenizer:
    """Factory of every DAC tokenizer (``TokenizerSpec.factory``).

    Args:
        spec: the registered or claimed spec; its facts must match the checkpoint's.
        checkpoint: a DAC release ``.pth`` (``{"state_dict", "metadata": {"kwargs"}}``);
            default: the official release of ``spec`` (``release``), downloaded into the cache.
        chunk_seconds: window length for encoding/decoding long inputs (None: never chunk).
        release: which official release to fetch (a key of ``RELEASES``; set by the plugin).
        cache_dir: download directory (default: ``$AUDIOTOK_DAC_CACHE`` or
            ``~/.cache/descript/dac``).
    """
    if checkpoint is None:
        if release not in RELEASES:
            raise CheckpointError(f"{spec.name}: no official DAC release named {release!r}; "
                                  "pass checkpoint=PATH to a DAC .pth file")
        path = download(RELEASES[release], directory=Path(cache_dir) if cache_dir else None)
    else:
        path = Path(os.fspath(checkpoint)).expanduser()
    kwargs, state = _read_release(path)
    network = build_network(kwargs, state, path)
    tokenizer = DACTokenizer(network, chunk_seconds=chunk_seconds)
    facts = {"sample_rate": tokenizer.sample_rate, "frame_rate": tokenizer.frame_rate,
             "cardinality": tokenizer.cardinality, "num_codebooks": tokenizer.total_codebooks}
    wrong = [f"{k} {v:g} (expected {getattr(spec, k):g})" for k, v in facts.items()
             if not math.isclose(v, getattr(spec, k), rel_tol=1e-9)]
    if wrong:
        raise CheckpointError(f"{path}: this DAC model does not fit {spec.name}: "
                              f"{', '.join(wrong)}; load the file by path instead "
                              f"(audiotok.load({str(path)!r}))")
    return tokenizer
