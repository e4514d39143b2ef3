"""read_audio over real formats, and token files: round trips, compact storage, corrupt files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file

import audiotok
from audiotok import CheckpointError, InvalidAudioError
from audiotok._audio import convert_audio


def sine(sr, seconds=0.5, channels=1, freq=440.0):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([x * (c + 1) / channels for c in range(channels)], axis=1).astype("float32")


@pytest.mark.parametrize("ext,fmt", [(".wav", None), (".flac", None), (".ogg", None),
                                     (".mp3", None)])
def test_read_audio_formats(tmp_path, ext, fmt):
    path = tmp_path / f"a{ext}"
    sf.write(str(path), sine(22050, channels=2), 22050)
    wav = audiotok.read_audio(path, sample_rate=16000, channels=1)
    assert wav.dtype == torch.float32 and wav.shape[0] == 1
    assert abs(wav.shape[1] - 8000) <= 1200  # mp3 adds encoder delay/padding
    assert 0.3 < float(wav.abs().max()) < 0.9


def test_read_audio_exact_for_wav_and_channel_rules(tmp_path):
    data = sine(16000, channels=2)
    sf.write(str(tmp_path / "s.wav"), data, 16000, subtype="FLOAT")
    wav = audiotok.read_audio(tmp_path / "s.wav")
    assert torch.equal(wav, torch.from_numpy(data.T))
    assert torch.allclose(audiotok.read_audio(tmp_path / "s.wav", channels=1)[0],
                          torch.from_numpy(data.mean(1)))
    sf.write(str(tmp_path / "m.wav"), sine(16000), 16000, subtype="FLOAT")
    up = audiotok.read_audio(tmp_path / "m.wav", channels=2)
    assert up.shape[0] == 2 and torch.equal(up[0], up[1])
    sf.write(str(tmp_path / "q.wav"), np.zeros((100, 4), "float32"), 16000)
    with pytest.raises(InvalidAudioError, match="4 channels to 2"):
        audiotok.read_audio(tmp_path / "q.wav", channels=2)


@settings(max_examples=20, deadline=None)
@given(source=st.sampled_from([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000]),
       target=st.sampled_from([16000, 24000, 32000, 44100, 48000]),
       length=st.integers(1, 5000), channels=st.integers(1, 2),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_resampling_equals_torchaudio_bit_for_bit(source, target, length, channels, dtype):
    """convert_audio keeps torchaudio's sinc kernel per rate pair; the output must not change."""
    import torchaudio.functional

    wav = torch.randn(channels, length, generator=torch.Generator().manual_seed(length),
                      dtype=dtype)
    for _ in range(2):  # the second call uses the kept kernel
        ours = convert_audio(wav, source, sample_rate=target)
        theirs = torchaudio.functional.resample(wav, source, target).float()
        assert torch.equal(ours, theirs)


def test_read_audio_errors(tmp_path):
    with pytest.raises(InvalidAudioError, match="no such file"):
        audiotok.read_audio(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00junk" * 10)
    with pytest.raises(InvalidAudioError, match="cannot decode"):
        audiotok.read_audio(tmp_path / "junk.wav")
    sf.write(str(tmp_path / "empty.wav"), np.zeros((0, 1), "float32"), 16000)
    with pytest.raises(InvalidAudioError, match="no samples"):
        audiotok.read_audio(tmp_path / "empty.wav")
    with pytest.raises(InvalidAudioError, match="directory"):
        audiotok.read_audio(tmp_path)


@pytest.fixture(scope="module")
def mulaw():
    return audiotok.load("mulaw_16khz")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 4), f=st.integers(0, 50), batch=st.sampled_from([None, 1, 3]),
       card=st.sampled_from([2, 256, 1024, 65536, 70000]), with_scale=st.booleans(),
       seed=st.integers(0, 1000))
def test_token_file_round_trip(tmp_path_factory, k, f, batch, card, with_scale, seed):
    tok_card = card
    gen = torch.Generator().manual_seed(seed)
    shape = (k, f) if batch is None else (batch, k, f)
    codes = torch.randint(0, tok_card, shape, generator=gen)
    scale = torch.rand(batch or 1, 1, generator=gen) if with_scale else None
    path = tmp_path_factory.mktemp("tok") / "t.safetensors"
    patched = _with_cardinality(audiotok.load("mulaw_16khz"), tok_card)
    audiotok.save_tokens(path, codes, scale, tokenizer=patched, num_samples=123)
    loaded = audiotok.load_tokens(path)
    assert torch.equal(loaded.codes, codes) and loaded.codes.dtype == torch.int64
    assert (loaded.scale is None) == (scale is None)
    if scale is not None:
        assert torch.equal(loaded.scale, scale)
    meta = loaded.metadata
    assert (meta.cardinality, meta.num_codebooks, meta.num_samples) == (tok_card, k, 123)
    assert meta.tokenizer == "mulaw_16khz" and meta.plugin == "audiotok"
    raw = load_file(str(path))["codes"]
    assert raw.dtype == (np.uint16 if tok_card <= 65536 else np.int32)


def _with_cardinality(tok, card):
    class Patched(type(tok)):
        cardinality = property(lambda self: card)
    clone = Patched.__new__(Patched)
    clone.__dict__.update(tok.__dict__)
    return clone


def test_token_file_is_readable_without_audiotok(tmp_path, mulaw):
    codes, _ = mulaw.encode(torch.zeros(1, 1, 10))
    path = audiotok.save_tokens(tmp_path / "x.safetensors", codes[0], tokenizer=mulaw)
    from safetensors import safe_open
    with safe_open(str(path), "numpy") as f:
        meta = json.loads(f.metadata()["audiotok"])
        assert f.metadata()["format"] == "audiotok.tokens"
        assert f.get_tensor("codes").dtype == np.uint16
    assert meta["sample_rate"] == 16000 and meta["frame_rate"] == 16000.0


def test_corrupt_token_files_raise_checkpoint_errors(tmp_path, mulaw):
    good = audiotok.save_tokens(tmp_path / "g.safetensors", torch.zeros(1, 5, dtype=torch.long),
                                tokenizer=mulaw)
    blob = good.read_bytes()
    cases = {
        "missing": None, "empty": b"", "garbage": b"\x00" * 64, "truncated": blob[: len(blob) // 2],
        "pickle": b"\x80\x04\x95" + blob[3:],
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.safetensors"
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(CheckpointError, match=str(path.name)):
            audiotok.load_tokens(path)
    from safetensors.numpy import save_file
    save_file({"codes": np.zeros((1, 3), "uint16")}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not an audiotok token file"):
        audiotok.load_tokens(tmp_path / "plain.safetensors")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_token_files_never_crash(tmp_path_factory, data):
    mulaw = audiotok.load("mulaw_16khz")
    base = tmp_path_factory.mktemp("fz")
    good = audiotok.save_tokens(base / "g.safetensors", torch.zeros(1, 5, dtype=torch.long),
                                tokenizer=mulaw).read_bytes()
    blob = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    blob = bytes(blob[: data.draw(st.integers(0, len(blob)))])
    path = base / "f.safetensors"
    path.write_bytes(blob)
    try:
        tokens = audiotok.load_tokens(path)
    except CheckpointError:
        return
    assert tokens.codes.dtype == torch.int64
    assert tokens.codes.numel() == 0 or int(tokens.codes.max()) < tokens.metadata.cardinality


def test_unwritable_output(tmp_path, mulaw):
    with pytest.raises(CheckpointError, match="cannot write"):
        audiotok.save_tokens(tmp_path / "nodir" / "x.safetensors",
                             torch.zeros(1, 5, dtype=torch.long), tokenizer=mulaw)
    assert not list(tmp_path.iterdir())
