"""TokenizerSpec validation, derived facts, and the compatibility rules (no torch needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import audiotok
from audiotok import IncompatibleTokenizerError, PluginError, TokenizerSpec


def spec(**kw):
    base = dict(name="x", factory="m:f", sample_rate=32000, channels=1, frame_rate=50.0,
                cardinality=2048, num_codebooks=4)
    return TokenizerSpec(**{**base, **kw})


def test_musicgen_facts():
    s = spec()
    assert s.hop_length == 640
    assert s.frames_for_duration(30) == 1500
    assert s.bitrate == pytest.approx(2200.0)
    assert s.lm_vocab_size() == 2049 and s.special_token_id == 2048
    assert s.tokens_per_second == 200


def test_non_integral_hop_uses_rates():
    dac = spec(sample_rate=44100, frame_rate=44100 / 512, cardinality=1024, num_codebooks=9)
    assert dac.hop_length == 512
    odd = spec(sample_rate=44100, frame_rate=86.0)
    assert odd.hop_length is None
    assert odd.frames_for_samples(44100) == 86
    assert odd.frames_for_samples(44101) == 87


@given(hop=st.integers(1, 2048), n=st.integers(0, 10**7))
def test_frames_is_ceil_of_samples_over_hop(hop, n):
    s = spec(sample_rate=hop * 50, frame_rate=50.0)
    assert s.frames_for_samples(n) == math.ceil(n / hop)


@pytest.mark.parametrize("bad", [
    dict(name="has space"), dict(factory="nocolon"), dict(sample_rate=0), dict(channels=1.5),
    dict(frame_rate=float("nan")), dict(cardinality=1), dict(codebook_choices=(0, 2)),
    dict(default_num_codebooks=3, codebook_choices=(2, 4)), dict(aliases=("ok", "bad alias")),
])
def test_invalid_specs_are_refused(bad):
    with pytest.raises(PluginError):
        spec(**bad)


def test_check_compatible_lists_every_mismatch_with_fixes():
    with pytest.raises(IncompatibleTokenizerError) as err:
        audiotok.check_compatible(spec(), card=2049, n_q=8, sample_rate=44100, channels=2,
                                  frame_rate=86.13)
    text = str(err.value)
    assert len(err.value.mismatches) == 5
    assert "set card=2048" in text and "special token" in text
    assert "n_q=8" in text and "set n_q=4" in text
    assert "set sample_rate=32000" in text
    assert "InterleaveStereo" in text
    assert "set frame_rate=50" in text


def test_check_compatible_accepts_a_fit_and_choice_of_k():
    audiotok.check_compatible(spec(), card=2048, n_q=4, sample_rate=32000, channels=1,
                              frame_rate=50)
    audiotok.check_compatible(spec(codebook_choices=(2, 4)), n_q=2)
    with pytest.raises(IncompatibleTokenizerError, match=r"offers K in \[2, 4\]"):
        audiotok.check_compatible(spec(codebook_choices=(2, 4)), n_q=3)


def test_loaded_tokenizer_needs_the_active_k():
    tok = audiotok.load("mulaw_16khz")
    audiotok.check_compatible(tok, card=256, n_q=1, sample_rate=16000, channels=1,
                              frame_rate=16000)
    with pytest.raises(IncompatibleTokenizerError, match="channels"):
        audiotok.check_compatible(tok, channels=2)


@given(card=st.integers(2, 70000), k=st.integers(1, 32), fr=st.floats(1, 1000))
def test_bitrate_formula(card, k, fr):
    s = spec(cardinality=card, num_codebooks=k, frame_rate=fr)
    assert s.bitrate == pytest.approx(k * math.log2(card) * fr)
