"""The AudioTokenizer contract on the built-in mu-law tokenizer and the stereo wrapper."""

from __future__ import annotations

import pytest
import torch
import torchaudio.functional as AF
from hypothesis import given, settings
from hypothesis import strategies as st

import audiotok
import audiotok.testing
from audiotok import InterleaveStereo, InvalidAudioError, InvalidCodesError


@pytest.fixture(scope="module")
def mulaw():
    return audiotok.load("mulaw_16khz")


def test_conformance(mulaw):
    audiotok.testing.check_tokenizer(mulaw, max_examples=25)


def test_stereo_conformance(mulaw):
    audiotok.testing.check_tokenizer(InterleaveStereo(mulaw), max_examples=15)


@settings(max_examples=50, deadline=None)
@given(data=st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=1, max_size=300))
def test_codes_equal_torchaudio_mu_law(mulaw, data):
    wav = torch.tensor(data)[None, None]
    codes, scale = mulaw.encode(wav)
    assert scale is None
    assert torch.equal(codes[0, 0], AF.mu_law_encoding(wav[0, 0], 256))
    assert torch.allclose(mulaw.decode(codes)[0, 0], AF.mu_law_decoding(codes[0, 0], 256),
                          atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(data=st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=1, max_size=300))
def test_round_trip_error_is_bounded_by_the_companding_step(mulaw, data):
    wav = torch.tensor(data)[None, None]
    out = mulaw(wav)
    # the mu-law step at amplitude |x| is about (1 + 255|x|) * ln(256) / 255 / 127.5
    bound = (1 + 255 * wav.abs()) * torch.log(torch.tensor(256.0)) / 255 / 127.5
    assert out.shape == wav.shape
    assert bool(((out - wav).abs() <= bound + 1e-6).all())


def test_stereo_interleaves_left_and_right(mulaw):
    stereo = InterleaveStereo(mulaw)
    wav = torch.stack([torch.linspace(-1, 1, 50), torch.linspace(1, -1, 50)])[None]
    codes, _ = stereo.encode(wav)
    assert codes.shape == (1, 2, 50)
    assert torch.equal(codes[:, 0], mulaw.encode(wav[:, :1])[0][:, 0])
    assert torch.equal(codes[:, 1], mulaw.encode(wav[:, 1:])[0][:, 0])
    assert stereo.num_codebooks == stereo.total_codebooks == 2
    assert stereo.decode(codes).shape == (1, 2, 50)
    with pytest.raises(InvalidCodesError):
        stereo.set_num_codebooks(1)
    audiotok.check_compatible(stereo, card=256, n_q=2, channels=2)


bad_audio = [
    (lambda: torch.zeros(16000), "shape"),
    (lambda: torch.zeros(1, 16000), "shape"),
    (lambda: torch.zeros(1, 2, 100), "channel"),
    (lambda: torch.zeros(1, 1, 100, dtype=torch.int16), "floating-point"),
    (lambda: torch.full((1, 1, 10), float("nan")), "NaN"),
    (lambda: torch.full((1, 1, 10), float("inf")), "NaN or infinite"),
    (lambda: torch.zeros(1, 1, 0), "empty"),
    (lambda: [0.0, 0.1], "torch.Tensor"),
]


@pytest.mark.parametrize("make,message", bad_audio)
def test_bad_audio_is_refused_with_a_clear_error(mulaw, make, message):
    with pytest.raises(InvalidAudioError, match=message):
        mulaw.encode(make())


bad_codes = [
    (lambda: torch.zeros(1, 10, dtype=torch.long), "shape"),
    (lambda: torch.zeros(1, 1, 10), "integers"),
    (lambda: torch.full((1, 1, 10), 256), "range"),
    (lambda: torch.full((1, 1, 10), -1), "range"),
    (lambda: torch.zeros(1, 2, 10, dtype=torch.long), "codebooks"),
    (lambda: "codes", "torch.Tensor"),
]


@pytest.mark.parametrize("make,message", bad_codes)
def test_bad_codes_are_refused_with_a_clear_error(mulaw, make, message):
    with pytest.raises(InvalidCodesError, match=message):
        mulaw.decode(make())


def test_half_precision_input_is_converted(mulaw):
    wav = torch.rand(1, 1, 64) - 0.5
    assert torch.equal(mulaw.encode(wav.double())[0], mulaw.encode(wav)[0])


def test_helpers(mulaw):
    assert mulaw.frames_for_samples(16000) == 16000 == mulaw.frames_for_duration(1.0)
    assert mulaw.bitrate == 128000
    assert mulaw.lm_vocab_size() == 257 and mulaw.special_token_id == 256


class _Stages(audiotok.AudioTokenizer):
    """The fewest members a tokenizer must define: K is kept by the base class."""

    sample_rate = property(lambda self: 8000)
    channels = property(lambda self: 1)
    frame_rate = property(lambda self: 100.0)
    cardinality = property(lambda self: 16)
    total_codebooks = property(lambda self: 4)


def test_base_class_keeps_the_active_number_of_codebooks():
    tok = _Stages()
    assert tok.num_codebooks == 4 and tok.allowed_num_codebooks == (1, 2, 3, 4)
    tok.set_num_codebooks(2)
    assert tok.num_codebooks == 2 and tok.bitrate == 2 * 4 * 100.0
    for bad in (0, 5, 2.0, True):
        with pytest.raises(audiotok.InvalidCodesError):
            tok.set_num_codebooks(bad)
        assert tok.num_codebooks == 2
    assert _Stages().num_codebooks == 4  # per instance
