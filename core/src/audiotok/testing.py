"""The conformance suite every tokenizer (ours or a third party's) must pass.

>>> import audiotok, audiotok.testing
>>> audiotok.testing.check_tokenizer(audiotok.load("mulaw_16khz"))

``check_tokenizer`` raises ``AssertionError`` on any protocol violation. It draws batch sizes,
lengths (including shorter than one hop) and K with hypothesis (``pip install audiotok[testing]``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._protocol import AudioTokenizer

__all__ = ["check_tokenizer", "check_static_facts"]


def check_static_facts(tokenizer: AudioTokenizer) -> None:
    """Properties have the right types and equal the registered spec's facts."""
    from ._protocol import AudioTokenizer

    assert isinstance(tokenizer, AudioTokenizer), f"{type(tokenizer)} is not an AudioTokenizer"
    for prop in ("sample_rate", "channels", "cardinality", "num_codebooks", "total_codebooks"):
        value = getattr(tokenizer, prop)
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 1, \
            f"{prop} must be a positive int, got {value!r}"
    assert isinstance(tokenizer.frame_rate, float) and tokenizer.frame_rate > 0, \
        f"frame_rate must be a positive float, got {tokenizer.frame_rate!r}"
    assert tokenizer.cardinality >= 2
    assert 1 <= tokenizer.num_codebooks <= tokenizer.total_codebooks
    assert tokenizer.num_codebooks in tokenizer.allowed_num_codebooks
    assert math.isclose(tokenizer.bitrate, tokenizer.num_codebooks
                        * math.log2(tokenizer.cardinality) * tokenizer.frame_rate)
    assert not tokenizer.training, "a loaded tokenizer must be in eval mode"
    spec = tokenizer.spec
    if spec is not None:
        for fact in ("sample_rate", "channels", "cardinality"):
            assert getattr(spec, fact) == getattr(tokenizer, fact), \
                f"static {fact} {getattr(spec, fact)} != loaded {getattr(tokenizer, fact)}"
        assert spec.num_codebooks == tokenizer.total_codebooks, \
            f"static num_codebooks {spec.num_codebooks} != total_codebooks {tokenizer.total_codebooks}"
        assert math.isclose(spec.frame_rate, tokenizer.frame_rate, rel_tol=1e-9), \
            f"static frame_rate {spec.frame_rate} != loaded {tokenizer.frame_rate}"
        assert spec.allowed_num_codebooks == tokenizer.allowed_num_codebooks


def check_tokenizer(tokenizer: AudioTokenizer, *, max_examples: int = 10,
                    max_frames: int = 12, max_batch: int = 2, seed: int = 0) -> None:
    """Run the whole conformance suite on a loaded tokenizer; raise AssertionError on a violation.

    Checks static facts, then for drawn batch sizes, lengths (1 sample up to ``max_frames``
    hops) and active K: codes are int64 ``[B, K, F]`` with ``F == frames_for_samples(T)`` and
    values in ``[0, cardinality)``; encoding is deterministic; for residual quantizers the codes
    at K are the first K codebooks of the codes at the maximum K; ``decode`` returns float
    ``[B, C, T']`` with ``|T' - F * hop| < hop``; ``decode_latent`` returns ``[B, D, F]``;
    ``set_num_codebooks`` rejects values it does not offer with an audiotok error.
    """
    try:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st
    except ImportError as exc:  # pragma: no cover
        raise ImportError("audiotok.testing needs hypothesis: pip install 'audiotok[testing]'") \
            from exc
    import torch

    from ._errors import AudiotokError

    check_static_facts(tokenizer)
    original_k = tokenizer.num_codebooks
    allowed = tokenizer.allowed_num_codebooks
    hop = tokenizer.hop_length or math.ceil(tokenizer.sample_rate / tokenizer.frame_rate)

    for bad in (0, tokenizer.total_codebooks + 1, -1):
        try:
            tokenizer.set_num_codebooks(bad)
        except AudiotokError:
            pass
        else:
            raise AssertionError(f"set_num_codebooks({bad}) was accepted")
        assert tokenizer.num_codebooks == original_k, "a refused set_num_codebooks changed K"

    device = tokenizer.device

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(batch=st.integers(1, max_batch),
           length=st.one_of(st.integers(1, hop), st.integers(1, max_frames * hop)),
           k=st.sampled_from(allowed), data_seed=st.integers(0, 2**31 - 1))
    def run(batch: int, length: int, k: int, data_seed: int) -> None:
        gen = torch.Generator().manual_seed(data_seed + seed)
        wav = (torch.rand(batch, tokenizer.channels, length, generator=gen) * 1.6 - 0.8)
        wav = wav.to(device)
        frames = tokenizer.frames_for_samples(length)
        try:
            tokenizer.set_num_codebooks(tokenizer.total_codebooks if tokenizer.total_codebooks
                                        in allowed else allowed[-1])
            with torch.inference_mode():
                full, _ = tokenizer.encode(wav)
            tokenizer.set_num_codebooks(k)
            assert tokenizer.num_codebooks == k
            with torch.no_grad():
                codes, scale = tokenizer.encode(wav)
                again, _ = tokenizer.encode(wav)
                out = tokenizer.decode(codes, scale)
                latent = tokenizer.decode_latent(codes)
        finally:
            tokenizer.set_num_codebooks(original_k)
        assert isinstance(codes, torch.Tensor) and codes.dtype == torch.int64, \
            f"codes must be int64, got {getattr(codes, 'dtype', type(codes))}"
        assert tuple(codes.shape) == (batch, k, frames), \
            f"T={length}, K={k}: codes {tuple(codes.shape)} != {(batch, k, frames)}"
        assert int(codes.min()) >= 0 and int(codes.max()) < tokenizer.cardinality, \
            "codes out of [0, cardinality)"
        assert torch.equal(codes, again), "encode is not deterministic"
        if tokenizer.residual:
            assert torch.equal(codes, full[:, :k]), \
                f"codes at K={k} are not a prefix of the codes at the maximum K"
        if scale is not None:
            assert isinstance(scale, torch.Tensor) and scale.shape[0] == batch, \
                "scale must be a tensor with the batch first"
        assert out.is_floating_point() and out.dim() == 3, f"decode gave {out.dtype} {out.shape}"
        assert out.shape[:2] == (batch, tokenizer.channels), f"decode shape {tuple(out.shape)}"
        assert abs(out.shape[-1] - frames * hop) < hop, \
            f"decode length {out.shape[-1]} is not about F * hop = {frames * hop}"
        assert bool(torch.isfinite(out).all()), "decode produced NaN or inf"
        assert latent.dim() == 3 and latent.shape[0] == batch and latent.shape[-1] == frames, \
            f"decode_latent gave {tuple(latent.shape)}, expected [{batch}, D, {frames}]"

    run()
