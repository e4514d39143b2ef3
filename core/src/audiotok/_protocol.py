"""AudioTokenizer: AudioCraft's ``CompressionModel`` contract, with input checks every codec gets.

Subclasses implement ``_encode``, ``_decode`` and ``_decode_latent`` and the abstract
properties; the public ``encode``/``decode``/``decode_latent`` validate inputs first, so every
tokenizer rejects bad audio and bad codes with the same :mod:`audiotok` errors.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ._errors import InvalidAudioError, InvalidCodesError
from ._facts import TokenizerFacts

if TYPE_CHECKING:
    from ._spec import TokenizerSpec


class AudioTokenizer(nn.Module, TokenizerFacts):
    """Base class of every audiotok tokenizer (a ``torch.nn.Module``).

    Contract (AudioCraft's ``CompressionModel``):

    - ``encode(wav[B, C, T] float) -> (codes LongTensor[B, K, F], scale Tensor | None)``,
      ``F = frames_for_samples(T)`` (``ceil(T / hop)`` for a plain codec);
    - ``decode(codes, scale=None) -> Tensor[B, C, T']`` (not trimmed: ``T'`` is about ``F * hop``);
    - ``decode_latent(codes) -> Tensor[B, D, F]``;
    - ``sample_rate``, ``channels``, ``frame_rate``, ``cardinality``, ``num_codebooks`` (active K),
      ``total_codebooks`` (max K), ``set_num_codebooks(n)``.

    Helpers from :class:`TokenizerFacts`: ``frames_for_samples``, ``frames_for_duration``,
    ``bitrate``, ``tokens_per_second``, ``lm_vocab_size``, ``special_token_id``.
    """

    #: Set by :func:`audiotok.load`: the spec it was loaded from and the identifier used.
    spec: TokenizerSpec | None = None
    identifier: str | None = None
    #: The local weights file given to :func:`audiotok.load` (recorded in token files).
    checkpoint: str | None = None
    #: True for residual quantizers: codes at K are a prefix of codes at total K.
    residual: bool = True
    #: Whether ``encode`` returns a scale that ``decode`` needs.
    uses_scale: bool = False
    #: True if right zero-padding never changes the codes of the frames that cover real samples
    #: (so ``audiotok tokenize`` may batch items of different lengths); False is always safe.
    padding_invariant: bool = False
    #: True if ``encode_chunked`` gives codes identical to ``encode`` with bounded memory.
    exact_chunking: bool = False

    # -- to implement ------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        """Samples per second."""
        raise NotImplementedError

    @property
    def channels(self) -> int:
        """Audio channels the codec consumes and produces."""
        raise NotImplementedError

    @property
    def frame_rate(self) -> float:  # type: ignore[override]
        """Code frames per second."""
        raise NotImplementedError

    @property
    def cardinality(self) -> int:  # type: ignore[override]
        """Entries per codebook."""
        raise NotImplementedError

    @property
    def total_codebooks(self) -> int:
        """Maximum number of codebooks."""
        raise NotImplementedError

    @property
    def allowed_num_codebooks(self) -> tuple[int, ...]:
        """The K values ``set_num_codebooks`` accepts."""
        if self.spec is not None and self.spec.codebook_choices is not None:
            return self.spec.codebook_choices
        return tuple(range(1, self.total_codebooks + 1))

    def _encode(self, wav: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def _decode(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _decode_latent(self, codes: Tensor) -> Tensor:
        raise NotImplementedError

    # -- given -------------------------------------------------------------------------------
    @property
    def num_codebooks(self) -> int:  # type: ignore[override]
        """Active number of codebooks K: ``total_codebooks`` until :meth:`set_num_codebooks`."""
        active = self.__dict__.get("_active_codebooks")
        return self.total_codebooks if active is None else active

    def set_num_codebooks(self, n: int) -> None:
        """Encode with the first ``n`` codebooks (bandwidth selection); ``n`` must be one of
        ``allowed_num_codebooks``, else :class:`audiotok.InvalidCodesError` and K is unchanged."""
        self.__dict__["_active_codebooks"] = self._check_num_codebooks(n)

    @property
    def hop_length(self) -> int | None:  # type: ignore[override]
        """Samples per frame when integral, else None."""
        hop = self.sample_rate / self.frame_rate
        return int(round(hop)) if abs(hop - round(hop)) < 1e-9 else None

    @property
    def name(self) -> str:
        """The registry name (or the class name for a tokenizer built by hand)."""
        return self.spec.name if self.spec is not None else type(self).__name__

    @property
    def device(self) -> torch.device:
        """Device of the first parameter or buffer (CPU if there is none)."""
        tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
        return torch.device("cpu") if tensor is None else tensor.device

    def _check_num_codebooks(self, n: int) -> int:
        allowed = self.allowed_num_codebooks
        if isinstance(n, bool) or not isinstance(n, int) or n not in allowed:
            raise InvalidCodesError(f"{self.name}: num_codebooks={n!r} is not available; "
                                f"choose one of {list(allowed)}")
        return n

    def check_audio(self, wav: Any) -> Tensor:
        """Validate ``wav`` as ``float[B, C, T]`` with this tokenizer's channels; return it.

        Raises :class:`audiotok.InvalidAudioError` naming the problem and the fix.
        """
        if not isinstance(wav, Tensor):
            raise InvalidAudioError(f"{self.name}: expected a torch.Tensor [B, C, T], "
                                    f"got {type(wav).__name__}")
        if wav.dim() != 3:
            raise InvalidAudioError(f"{self.name}: expected audio of shape [B, C, T], got "
                                    f"{tuple(wav.shape)}; use wav[None] to add a batch dimension")
        if not wav.is_floating_point():
            raise InvalidAudioError(f"{self.name}: expected floating-point audio in [-1, 1], got "
                                    f"{wav.dtype}; convert integer PCM with wav / 32768")
        if wav.shape[1] != self.channels:
            raise InvalidAudioError(f"{self.name}: expects {self.channels} channel(s), got "
                                    f"{wav.shape[1]}; audiotok.read_audio(path, channels="
                                    f"{self.channels}) down/up-mixes")
        if wav.device != self.device:
            raise InvalidAudioError(f"{self.name}: audio is on {wav.device}, the tokenizer on "
                                    f"{self.device}; move it with wav.to(tokenizer.device)")
        if wav.shape[0] == 0 or wav.shape[-1] == 0:
            raise InvalidAudioError(f"{self.name}: empty audio {tuple(wav.shape)}")
        if not bool(torch.isfinite(wav).all()):
            raise InvalidAudioError(f"{self.name}: audio contains NaN or infinite samples")
        return wav if wav.dtype == torch.float32 else wav.float()

    def check_codes(self, codes: Any) -> Tensor:
        """Validate codes as an integer ``[B, K, F]`` tensor with values in ``[0, cardinality)``."""
        if not isinstance(codes, Tensor):
            raise InvalidCodesError(f"{self.name}: expected a torch.Tensor [B, K, F], "
                                    f"got {type(codes).__name__}")
        if codes.dim() != 3:
            raise InvalidCodesError(f"{self.name}: expected codes of shape [B, K, F], got "
                                    f"{tuple(codes.shape)}")
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise InvalidCodesError(f"{self.name}: codes must be integers, got {codes.dtype}")
        k = codes.shape[1]
        if not 1 <= k <= self.total_codebooks:
            raise InvalidCodesError(f"{self.name}: got {k} codebooks, expected 1.."
                                    f"{self.total_codebooks} (active: {self.num_codebooks})")
        if codes.device != self.device:
            try:
                codes = codes.to(self.device)
            except (RuntimeError, NotImplementedError) as exc:
                raise InvalidCodesError(f"{self.name}: cannot move codes from {codes.device} to "
                                        f"{self.device} ({exc})") from exc
        if codes.shape[0] == 0:
            raise InvalidCodesError(f"{self.name}: empty batch of codes")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.cardinality):
            raise InvalidCodesError(f"{self.name}: codes out of range [0, {self.cardinality}): got "
                                    f"[{int(codes.min())}, {int(codes.max())}]")
        return codes.long()

    def encode(self, wav: Tensor) -> tuple[Tensor, Tensor | None]:
        """Audio ``float[B, C, T]`` -> ``(codes int64[B, K, F], scale or None)``.

        Runs without autograd: codes are integers, so no graph is worth building.
        """
        wav = self.check_audio(wav)
        with torch.no_grad():
            return self._encode(wav)

    def decode(self, codes: Tensor, scale: Tensor | None = None) -> Tensor:
        """Codes ``[B, K, F]`` (and the scale from ``encode``, if any) -> audio ``[B, C, T']``."""
        codes = self.check_codes(codes)
        if self.uses_scale and scale is None:
            raise InvalidCodesError(f"{self.name}: decode needs the scale returned by encode")
        return self._decode(codes, scale)

    def decode_latent(self, codes: Tensor) -> Tensor:
        """Codes ``[B, K, F]`` -> continuous latent ``[B, D, F]`` (sum of codeword embeddings)."""
        return self._decode_latent(self.check_codes(codes))

    def encode_chunked(self, wav: Tensor, chunk_samples: int) -> tuple[Tensor, Tensor | None]:
        """Encode long audio in pieces of about ``chunk_samples`` with bounded activation memory.

        Tokenizers with exact chunking (``exact_chunking = True``) override this so that the
        codes are identical to ``encode(wav)``; the default encodes the whole input at once.
        """
        return self.encode(wav)

    def forward(self, wav: Tensor) -> Tensor:
        """Round trip ``decode(*encode(wav))``, trimmed or zero-padded to the input length."""
        out = self.decode(*self.encode(wav))
        length = wav.shape[-1]
        if out.shape[-1] >= length:
            return out[..., :length]
        return torch.nn.functional.pad(out, (0, length - out.shape[-1]))

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, channels={self.channels}, "
                f"frame_rate={self.frame_rate:g}, cardinality={self.cardinality}, "
                f"num_codebooks={self.num_codebooks}/{self.total_codebooks}, "
                f"bitrate={self.bitrate / 1000:.3g} kbps")


