"""The conformance suite every tokenizer (ours or a third party's) must pass.

>>> import audiotok, audiotok.testing
>>> audiotok.testing.check_tokenizer(audiotok.load("mulaw_16khz"))

``check_tokenizer`` raises ``AssertionError`` on any protocol violation. It draws batch sizes,
lengths (including shorter than one hop) and K with hypothesis (``pip install audiotok[testing]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._protocol import AudioTokenizer

__all__ = ["check_tokenizer", "check_static_facts", "check_bad_inputs", "check_determinism"]


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
        from ._errors import PluginError
        from ._registry import check_facts

        try:
            check_facts(spec, tokenizer)  # the check audiotok.load applies
        except PluginError as exc:
            raise AssertionError(str(exc)) from None
        assert spec.allowed_num_codebooks == tokenizer.allowed_num_codebooks, \
            f"static K choices {spec.allowed_num_codebooks} != {tokenizer.allowed_num_codebooks}"


def _expect(error: type[Exception], what: str, fn: Callable[[], object]) -> None:
    try:
        fn()
    except error:
        return
    except Exception as exc:  # noqa: BLE001 - reported as a protocol violation
        raise AssertionError(f"{what}: raised {type(exc).__name__} ({exc}), expected "
                             f"audiotok.{error.__name__}") from exc
    raise AssertionError(f"{what}: accepted, expected audiotok.{error.__name__}")


def check_bad_inputs(tokenizer: AudioTokenizer) -> None:
    """Every bad input gets its specific audiotok error: NaN/inf, empty, wrong rank, wrong channel
    count, integer dtype, wrong device; codes out of range, negative, float, wrong K, wrong rank;
    a missing scale where decode needs one. Audio shorter than one hop is valid (F = 1)."""
    import torch

    from ._errors import InvalidAudioError, InvalidCodesError

    c, hop = tokenizer.channels, tokenizer.hop_length or 1
    dev = tokenizer.device
    good = torch.zeros(1, c, 4 * hop, device=dev)
    bad_audio = {
        "NaN sample": good.clone().index_fill_(2, torch.tensor([1], device=dev), float("nan")),
        "inf sample": good.clone().index_fill_(2, torch.tensor([1], device=dev), float("inf")),
        "empty audio": good[..., :0],
        "empty batch": good[:0],
        "rank 2 audio": good[0],
        "rank 4 audio": good[None],
        "wrong channel count": torch.zeros(1, c + 1, 4 * hop, device=dev),
        "int16 audio": torch.zeros(1, c, 4 * hop, dtype=torch.int16, device=dev),
        "audio on the meta device": torch.zeros(1, c, 4 * hop, device="meta"),
        "a list": [[0.0] * 8],
    }
    for what, wav in bad_audio.items():
        _expect(InvalidAudioError, what, lambda wav=wav: tokenizer.encode(wav))  # type: ignore[misc]
    with torch.inference_mode():
        codes, scale = tokenizer.encode(torch.zeros(1, c, 1, device=dev) + 0.01)
    assert codes.shape[-1] == tokenizer.frames_for_samples(1) >= 1, "1-sample audio must encode"
    card = tokenizer.cardinality
    bad_codes = {
        "code == cardinality": codes.clone().fill_(card),
        "negative code": codes.clone().fill_(-1),
        "float codes": codes.float(),
        "bool codes": codes.bool(),
        "too many codebooks": torch.zeros(1, tokenizer.total_codebooks + 1, 2, dtype=torch.long),
        "zero codebooks": codes[:, :0],
        "rank 2 codes": codes[0],
        "not a tensor": codes.tolist(),
    }
    for what, bad in bad_codes.items():
        _expect(InvalidCodesError, what, lambda bad=bad: tokenizer.decode(bad, scale))  # type: ignore[misc]
        _expect(InvalidCodesError, f"decode_latent with {what}",
                lambda bad=bad: tokenizer.decode_latent(bad))  # type: ignore[misc]
    if tokenizer.uses_scale:
        _expect(InvalidCodesError, "decode without the scale", lambda: tokenizer.decode(codes))


def check_determinism(tokenizer: AudioTokenizer, *, seconds: float = 0.25, seed: int = 0) -> None:
    """Same codes across repeated calls, batch sizes (items of equal length), thread counts,
    and ``inference_mode`` / ``no_grad`` / plain autograd mode."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    length = max(1, int(seconds * tokenizer.sample_rate))
    batch = (torch.rand(3, tokenizer.channels, length, generator=gen) * 1.6 - 0.8)
    batch = batch.to(tokenizer.device)
    with torch.inference_mode():
        reference = [tokenizer.encode(batch[i:i + 1])[0] for i in range(3)]
        together = tokenizer.encode(batch)[0]
    for i in range(3):
        assert torch.equal(together[i:i + 1], reference[i]), \
            f"item {i}: codes differ between batch size 3 and batch size 1"
    threads = torch.get_num_threads()
    try:
        for n in sorted({1, 2, threads}):
            torch.set_num_threads(n)
            with torch.no_grad():
                assert torch.equal(tokenizer.encode(batch[:1])[0], reference[0]), \
                    f"codes differ with {n} thread(s) (no_grad)"
        assert torch.equal(tokenizer.encode(batch[:1])[0], reference[0]), \
            "codes differ in plain autograd mode"
    finally:
        torch.set_num_threads(threads)


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
    check_bad_inputs(tokenizer)
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
