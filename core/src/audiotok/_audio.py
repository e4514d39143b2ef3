"""Audio I/O: read any wav/flac/ogg/mp3 as float32 ``[C, T]`` at a target rate and channel count."""

from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path

import torch
from torch import Tensor

from ._errors import AudiotokError, InvalidAudioError
from ._files import atomic_write

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def read_audio(path: str | os.PathLike[str], *, sample_rate: int | None = None,
               channels: int | None = None) -> Tensor:
    """Read an audio file as float32 ``[C, T]`` in ``[-1, 1]``.

    Decoding goes through soundfile (libsndfile: wav, flac, ogg/vorbis, opus, mp3); ``sample_rate``
    resamples with ``torchaudio.functional.resample`` (sinc interpolation); ``channels=1``
    averages the channels, ``channels=N`` from mono repeats the one channel. Raises
    :class:`audiotok.InvalidAudioError` for a missing, empty, corrupt or unsupported file.

    >>> wav = read_audio("song.flac", sample_rate=32000, channels=1)  # doctest: +SKIP
    """
    wav, source_rate = read_file(path)
    return convert_audio(wav, source_rate, sample_rate=sample_rate, channels=channels)


def read_file(path: str | os.PathLike[str]) -> tuple[Tensor, int]:
    """Decode a file as it is: float32 ``[C, T]`` and its sample rate (errors as read_audio)."""
    import soundfile

    path = Path(path)
    if not path.exists():
        raise InvalidAudioError(f"{path}: no such file")
    if path.is_dir():
        raise InvalidAudioError(f"{path}: is a directory, not an audio file")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise InvalidAudioError(f"{path}: cannot decode audio ({exc})") from exc
    except OSError as exc:
        raise InvalidAudioError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if data.shape[0] == 0:
        raise InvalidAudioError(f"{path}: contains no samples")
    wav = torch.from_numpy(data.T.copy())
    if not bool(torch.isfinite(wav).all()):
        raise InvalidAudioError(f"{path}: contains NaN or infinite samples")
    return wav, int(rate)


def convert_audio(wav: Tensor, source_rate: int, *, sample_rate: int | None = None,
                  channels: int | None = None) -> Tensor:
    """Resample ``[..., C, T]`` audio from ``source_rate`` and down/up-mix it to ``channels``."""
    if wav.dim() < 2:
        raise InvalidAudioError(f"expected audio [..., C, T], got {tuple(wav.shape)}")
    if channels is not None and wav.shape[-2] != channels:
        if channels == 1:
            wav = wav.mean(dim=-2, keepdim=True)
        elif wav.shape[-2] == 1:
            wav = wav.expand(*wav.shape[:-2], channels, wav.shape[-1]).contiguous()
        else:
            raise InvalidAudioError(f"cannot convert {wav.shape[-2]} channels to {channels}; "
                                    "only down-mixing to mono and up-mixing from mono are defined")
    if sample_rate is not None and sample_rate != source_rate:
        wav = _resample(wav, int(source_rate), int(sample_rate))
    return wav.float()


def _resample(wav: Tensor, source_rate: int, sample_rate: int) -> Tensor:
    """``torchaudio.functional.resample`` with the sinc kernel built once per rate pair.

    The function rebuilds its kernel on every call (about half its time on a few seconds of
    audio); this calls the same two steps, so the output is bit-identical, and keeps the kernel.
    Falls back to the public function if torchaudio's internals are not there.
    """
    import torchaudio.functional as taf

    steps = getattr(taf.functional, "_apply_sinc_resample_kernel", None)
    if steps is None or not wav.is_floating_point():
        return taf.resample(wav, source_rate, sample_rate)
    gcd = math.gcd(source_rate, sample_rate)
    kernel, width = _sinc_kernel(source_rate, sample_rate, gcd, wav.device, wav.dtype)
    return steps(wav, source_rate, sample_rate, gcd, kernel, width)


@functools.lru_cache(maxsize=32)
def _sinc_kernel(source_rate: int, sample_rate: int, gcd: int, device: torch.device,
                 dtype: torch.dtype) -> tuple[Tensor, int]:
    import torchaudio.functional as taf

    return taf.functional._get_sinc_resample_kernel(source_rate, sample_rate, gcd, device=device,
                                                     dtype=dtype)


def write_audio(path: str | os.PathLike[str], wav: Tensor, sample_rate: int, *,
                subtype: str | None = None) -> None:
    """Write ``[C, T]`` (or ``[T]``) float audio; the format follows the file extension.

    ``subtype`` is soundfile's (e.g. ``"PCM_16"``, ``"FLOAT"``); the default is the format's own
    default (16-bit PCM for wav and flac). The file appears atomically (written beside, renamed).
    """
    import soundfile

    path = Path(path)
    wav = wav.detach().cpu().float()
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise InvalidAudioError(f"write_audio expects [C, T], got {tuple(wav.shape)}")
    fmt = path.suffix.lstrip(".").upper() or "WAV"
    buffer = io.BytesIO()
    try:
        soundfile.write(buffer, wav.T.clamp(-1, 1).numpy(), int(sample_rate), subtype=subtype,
                        format=fmt)
        atomic_write(path, buffer.getvalue())
    except (OSError, soundfile.LibsndfileError, ValueError, TypeError) as exc:
        raise AudiotokError(f"{path}: cannot write audio ({exc})") from exc
