"""Issue-7 gate over every installed tokenizer: bad inputs, determinism, refused checkpoints.

Each neural plugin gets a random-weight checkpoint of a real configuration, written by the
reference implementation in its release format, with codebooks filled so codes spread.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from cli_support import run

import audiotok
import audiotok.testing

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "audiotok-pwned-plugins"


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _fill(embeds) -> None:
    gen = torch.Generator().manual_seed(0)
    for embed in embeds:
        embed.copy_(torch.randn(embed.shape, generator=gen) * 0.5)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    from encodec.model import EncodecModel as MetaEncodec

    meta = MetaEncodec._get_model([1.5, 3, 6, 12, 24], 24000, 1, causal=True, name="encodec_24khz")
    with torch.no_grad():
        _fill(layer._codebook.embed for layer in meta.quantizer.vq.layers)
    for layer in meta.quantizer.vq.layers:
        layer._codebook.inited.fill_(1)
    torch.save(meta.state_dict(), root / "encodec_24khz.th")
    import hashlib

    sha = hashlib.sha256((root / "encodec_24khz.th").read_bytes()).hexdigest()[:8]
    meta_path = (root / "encodec_24khz.th").rename(root / f"encodec_24khz-{sha}.th")

    from transformers import EncodecConfig, EncodecModel

    hf = EncodecModel(EncodecConfig())
    with torch.no_grad():
        _fill(layer.codebook.embed for layer in hf.quantizer.layers)
    hf.save_pretrained(root / "hf_encodec_24khz")

    import dac

    small = dac.DAC(encoder_rates=[2, 4, 5, 8], decoder_rates=[8, 5, 4, 2], n_codebooks=12,
                    sample_rate=16000)
    small.save(str(root / "weights_16khz.pth"), package=False)
    return {
        "encodec": {"identifier": "encodec_24khz", "checkpoint": str(meta_path)},
        "hf_encodec": {"identifier": str(root / "hf_encodec_24khz")},
        "dac": {"identifier": "dac_16khz", "checkpoint": str(root / "weights_16khz.pth")},
    }


NAMES = ["mulaw", "encodec", "hf_encodec", "dac"]


@pytest.fixture(scope="module")
def tokenizers(checkpoints):
    loaded = {"mulaw": audiotok.load("mulaw_16khz")}
    for name, how in checkpoints.items():
        loaded[name] = audiotok.load(how["identifier"], checkpoint=how.get("checkpoint"))
    return loaded


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_matrix(tokenizers, name):
    audiotok.testing.check_bad_inputs(tokenizers[name])
    stereo = audiotok.InterleaveStereo(tokenizers[name]) if tokenizers[name].channels == 1 else None
    if stereo is not None:
        audiotok.testing.check_bad_inputs(stereo)


@pytest.mark.parametrize("name", NAMES)
def test_determinism(tokenizers, name):
    tok = tokenizers[name]
    audiotok.testing.check_determinism(tok, seconds=0.2)
    g = torch.Generator().manual_seed(1)
    wav = torch.rand(1, tok.channels, tok.sample_rate // 5, generator=g)
    codes, _ = tok.encode(wav - 0.5)
    assert codes.unique().numel() > 1 or name == "mulaw", "codes do not spread: test is vacuous"


@pytest.fixture
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "loading a checkpoint executed code"


def _file_for(checkpoints, name: str) -> Path:
    how = checkpoints[name]
    if "checkpoint" in how:
        return Path(how["checkpoint"])
    return Path(how["identifier"]) / "model.safetensors"


@pytest.mark.parametrize("name", ["encodec", "hf_encodec", "dac"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "pickle-exploit"])
def test_damaged_checkpoints_are_refused(checkpoints, tmp_path, no_marker, name, damage):
    import shutil

    original = _file_for(checkpoints, name)
    how = dict(checkpoints[name])
    if "checkpoint" in how:
        target = tmp_path / original.name
        how["checkpoint"] = str(target)
    else:
        shutil.copytree(original.parent, tmp_path / original.parent.name)
        target = tmp_path / original.parent.name / original.name
        how["identifier"] = str(target.parent)
    blob = original.read_bytes()
    target.write_bytes({"truncated": blob[: len(blob) // 3], "garbage": os.urandom(4096),
                        "empty": b"", "pickle-exploit": pickle.dumps({"state_dict": Exploit()})
                        }[damage])
    with pytest.raises(audiotok.AudiotokError) as err:
        audiotok.load(how["identifier"], checkpoint=how.get("checkpoint"))
    assert isinstance(err.value, (audiotok.CheckpointError, audiotok.UnknownTokenizerError))
    assert target.name in str(err.value) or target.parent.name in str(err.value)
    args = ["encode", how["identifier"], str(tmp_path / "none.wav"), "-o", str(tmp_path / "o")]
    if "checkpoint" in how:
        args += ["--checkpoint", how["checkpoint"]]
    proc = run(args)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name,wrong", [("dac", "dac_44khz"), ("encodec", "encodec_48khz")])
def test_wrong_architecture_is_refused(checkpoints, name, wrong):
    with pytest.raises(audiotok.CheckpointError):
        audiotok.load(wrong, checkpoint=checkpoints[name]["checkpoint"])


def test_tokenize_with_a_neural_plugin_is_exact(tmp_path, checkpoints, tokenizers):
    """audiotok tokenize with DAC: equal-length batching, exact chunking of a 'long' file."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for i, seconds in enumerate([0.05, 0.05, 0.05, 0.13, 0.3, 0.71]):
        sf.write(str(tmp_path / "in" / f"{i}.wav"),
                 (0.3 * rng.standard_normal(int(16000 * seconds))).astype("float32"), 16000)
    tok = tokenizers["dac"]
    summary = audiotok.tokenize(tmp_path / "in", tok, tmp_path / "out", batch_size=4,
                                workers=0, chunk_seconds=0.25)
    assert summary.ok and summary.encoded == 6
    ds = audiotok.TokenDataset(tmp_path / "out")
    assert ds.meta["plugin"] == "dac" and ds.meta["cardinality"] == 1024
    for i in range(len(ds)):
        item = ds[i]
        wav = audiotok.read_audio(tmp_path / "in" / item["id"], sample_rate=16000, channels=1)
        with torch.inference_mode():
            expected = tok.encode(wav[None])[0][0]
        assert torch.equal(item["codes"], expected), item["id"]
    dec = run(["decode", str(tmp_path / "out"), "--item", "5.wav", "-o", str(tmp_path / "5.wav")])
    assert dec.returncode == 0, dec.stderr  # the recorded checkpoint is found again


def test_malicious_audiocraft_export_never_runs(tmp_path, no_marker):
    path = tmp_path / "compression_state_dict.bin"
    path.write_bytes(pickle.dumps({"best_state": Exploit(), "xp.cfg": "x: 1"}))
    for identifier in (str(path), str(tmp_path), f"//pretrained/{path}"):
        with pytest.raises(audiotok.AudiotokError, match="compression_state_dict.bin|"
                           + str(tmp_path.name)):
            audiotok.load(identifier)


def test_factory_that_raises_is_reported(monkeypatch):
    from audiotok import _registry

    monkeypatch.setenv("AUDIOTOK_LOAD_PLUGINS", "")
    _registry._reset()
    try:
        audiotok.register(audiotok.TokenizerSpec(
            name="boom", factory="tokenize_support:load_boom", sample_rate=16000, channels=1,
            frame_rate=16000.0, cardinality=256, num_codebooks=1))
        with pytest.raises(audiotok.PluginError, match="boom.*RuntimeError: factory exploded"):
            audiotok.load("boom")
    finally:
        _registry._reset()


def test_compare_with_a_neural_tokenizer(tmp_path, tokenizers):
    import math

    import numpy as np
    import soundfile as sf

    t = np.arange(16000 // 2) / 16000
    sf.write(str(tmp_path / "a.wav"), (0.5 * np.sin(2 * np.pi * 300 * t)).astype("float32"), 16000)
    report = audiotok.compare([tmp_path / "a.wav"], [tokenizers["mulaw"], tokenizers["dac"]],
                              num_codebooks=[1, 4, 12], lm_card=1024, lm_n_q=4,
                              out=tmp_path / "r")
    dac_rows = [r for r in report.rows if r.tokenizer == "dac_16khz"]
    assert [r.num_codebooks for r in dac_rows] == [1, 4, 12]
    for r in dac_rows:
        assert r.bitrate_kbps == pytest.approx(r.num_codebooks * 10 * 50 / 1000)
        assert r.tokens_per_second == r.num_codebooks * 50
        assert r.sequence_lengths == [25] and r.lm_vocab_size == 1025
        assert math.isfinite(r.si_sdr_db) and r.compatible == (r.num_codebooks == 4)
    assert len(list((tmp_path / "r").glob("*.png"))) == 3
