"""The audiotok command end to end, in subprocesses, with the built-in tokenizer."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch
from cli_support import run, run_json

import audiotok


def test_list_info_plugins_json():
    rows = run_json(["list"])
    mulaw = next(r for r in rows if r["name"] == "mulaw_16khz")
    for key in ("name", "plugin", "sample_rate", "channels", "frame_rate", "cardinality",
                "num_codebooks"):
        assert key in mulaw
    info = run_json(["info", "mulaw"])
    assert info["lm_vocab_size"] == 257 and info["frames_per_30s"] == 480000
    assert any(p["name"] == "audiotok" for p in run_json(["plugins"]))
    table = run(["list", "mulaw*"])
    assert table.returncode == 0 and "mulaw_16khz" in table.stdout


def test_encode_decode_round_trip(tmp_path):
    sr = 22050
    t = np.arange(sr // 2) / sr
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 330 * t), 0.3 * np.sin(2 * np.pi * 550 * t)], 1)
    sf.write(str(tmp_path / "in.flac"), stereo.astype("float32"), sr)
    enc = run(["encode", "mulaw_16khz", str(tmp_path / "in.flac"), "-o",
               str(tmp_path / "t.safetensors")])
    assert enc.returncode == 0, enc.stderr
    tokens = audiotok.load_tokens(tmp_path / "t.safetensors")
    wav = audiotok.read_audio(tmp_path / "in.flac", sample_rate=16000, channels=1)
    expected, _ = audiotok.load("mulaw_16khz").encode(wav[None])
    assert torch.equal(tokens.codes, expected[0])
    assert tokens.metadata.num_samples == wav.shape[-1]
    dec = run(["decode", str(tmp_path / "t.safetensors"), "-o", str(tmp_path / "out.wav"),
               "--subtype", "FLOAT"])
    assert dec.returncode == 0, dec.stderr
    out, out_sr = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert out_sr == 16000 and out.shape == (wav.shape[-1],)
    assert float(np.abs(out - wav[0].numpy()).max()) < 0.02


def test_check_command():
    ok = run(["check", "mulaw_16khz", "--card", "256", "--n-q", "1", "--sample-rate", "16000"])
    assert ok.returncode == 0 and "is compatible" in ok.stdout
    bad = run(["check", "mulaw_16khz", "--card", "2048", "--n-q", "4", "--sample-rate", "32000",
               "--channels", "2"])
    assert bad.returncode == 1
    assert bad.stdout.count("\n  - ") == 4 and "set card=256" in bad.stdout
    js = run(["check", "mulaw_16khz", "--card", "2048", "--json"])
    assert js.returncode == 1 and '"compatible": false' in js.stdout


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04junk")
    cases = [
        ["info", "no_such_tokenizer"],
        ["encode", "mulaw_16khz", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o")],
        ["encode", "mulaw_16khz", str(tmp_path / "junk.wav"), "-o", str(tmp_path / "o")],
        ["encode", "nope", str(tmp_path / "junk.wav"), "-o", str(tmp_path / "o")],
        ["decode", str(tmp_path / "junk.safetensors"), "-o", str(tmp_path / "o.wav")],
        ["decode", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "o.wav")],
        ["encode", "mulaw_16khz", str(tmp_path / "junk.wav"), "--num-codebooks", "3", "-o",
         str(tmp_path / "o")],
    ]
    for args in cases:
        proc = run(args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("audiotok: error: "), (args, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.safetensors", "junk.wav"]


def test_unwritable_output_leaves_nothing(tmp_path):
    sf.write(str(tmp_path / "a.wav"), np.zeros((1600, 1), "float32"), 16000)
    proc = run(["encode", "mulaw", str(tmp_path / "a.wav"), "-o",
                str(tmp_path / "no" / "dir" / "t.safetensors")])
    assert proc.returncode == 1 and "cannot write" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_import_and_listing_stay_cheap():
    proc = run(["-X", "importtime", "-m", "audiotok", "list"], module="")
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "audiotok._registry" in imported
    for heavy in ("torch", "torchaudio", "numpy", "soundfile", "safetensors",
                  "audiotok._protocol", "audiotok.builtin.mulaw"):
        assert heavy not in imported, heavy
