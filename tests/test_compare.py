"""audiotok compare: figures are consistent, quality numbers in their known ranges, plots exist."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from cli_support import run

import audiotok
from audiotok import _registry


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(1)
    sr = 16000
    t = np.arange(int(sr * 0.8)) / sr
    paths = []
    full_scale = [0.95 * np.sin(2 * np.pi * 440 * t),
                  np.clip(0.6 * rng.standard_normal(t.size), -1, 1)]
    for i, x in enumerate(full_scale):
        path = tmp_path / f"clip{i}.wav"
        sf.write(str(path), x.astype("float32"), sr, subtype="FLOAT")
        paths.append(path)
    return paths


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setenv("AUDIOTOK_LOAD_PLUGINS", "")
    _registry._reset()
    audiotok.register(audiotok.TokenizerSpec(
        name="pcm16", factory="tokenize_support:load_pcm16", sample_rate=16000, channels=1,
        frame_rate=16000.0, cardinality=65536, num_codebooks=1))
    yield
    _registry._reset()


def test_figures_are_consistent_and_in_known_ranges(tmp_path, clips, registry):
    report = audiotok.compare(clips, ["mulaw_16khz", "pcm16"], lm_card=256, lm_n_q=1,
                              context_frames=10000, out=tmp_path / "report")
    rows = {r.tokenizer: r for r in report.rows}
    mulaw, pcm = rows["mulaw_16khz"], rows["pcm16"]
    for row in report.rows:
        assert row.bitrate_kbps == pytest.approx(
            row.num_codebooks * math.log2(row.cardinality) * row.frame_rate / 1000)
        assert row.tokens_per_second == row.num_codebooks * row.frame_rate
        assert row.sequence_lengths == [math.ceil(0.8 * row.frame_rate)] * 2
        assert row.lm_vocab_size == row.cardinality + 1
        assert row.encode_speed > 0 and row.decode_speed > 0
        assert 0 < row.codebook_used_share[0] <= 1
        assert row.codebook_perplexity[0] == pytest.approx(2 ** row.codebook_entropy_bits[0])
    # 8-bit mu-law: SQNR about 38 dB for full-scale signals (6.02*8 + 4.77 - 20 log10 ln 256)
    assert 33 < mulaw.si_sdr_db < 42, mulaw.si_sdr_db
    assert pcm.si_sdr_db > 80 and pcm.mel_distance < mulaw.mel_distance
    assert mulaw.compatible and mulaw.fits_context is False
    assert not pcm.compatible and any("set card=65536" in m for m in pcm.mismatches)
    for name in ("quality_vs_bitrate.png", "codebook_usage.png", "spectrograms.png"):
        data = (tmp_path / "report" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        import matplotlib.image
        image = matplotlib.image.imread(tmp_path / "report" / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert len(saved["rows"]) == 2
    assert (tmp_path / "report" / "report.csv").read_text().count("\n") == 3
    assert "SI-SDR" in report.table()


def test_k_values_are_thinned():
    from audiotok._compare import default_k_values

    class Offers:
        def __init__(self, n):
            self.allowed_num_codebooks = tuple(range(1, n + 1))

    assert default_k_values(Offers(4)) == [1, 2, 3, 4]
    assert default_k_values(Offers(9)) == [1, 2, 4, 8, 9]
    assert default_k_values(Offers(32)) == [1, 2, 4, 8, 16, 32]
    assert default_k_values(Offers(100)) == [1, 2, 4, 32, 64, 100]


def test_cli_compare_json(tmp_path, clips):
    proc = run(["compare", *map(str, clips), "--tokenizers", "mulaw", "--lm-card", "2048",
                "--lm-n-q", "4", "--json", "--no-plots", "--out", str(tmp_path / "o")])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    row = data["rows"][0]
    assert row["compatible"] is False and len(row["mismatches"]) == 2
    assert not list((tmp_path / "o").glob("*.png"))
    short = tmp_path / "short.wav"
    sf.write(str(short), np.zeros(100, "float32"), 16000)
    bad = run(["compare", str(short), "--tokenizers", "mulaw"])
    assert bad.returncode == 1 and "at least 2048 samples" in bad.stderr
