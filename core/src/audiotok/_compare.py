"""``audiotok compare``: measure candidate tokenizers on the user's audio and LM constraints.

Metrics come from maintained libraries where they exist:

- SI-SDR: ``torchmetrics.functional.audio.scale_invariant_signal_distortion_ratio``;
- multi-resolution STFT distance: ``auraloss.freq.MultiResolutionSTFTLoss`` (spectral
  convergence + log-magnitude, FFT sizes 512/1024/2048);
- log-mel L1 distance: ``torchaudio.transforms.MelSpectrogram`` (80 mels) with an L1 of log10;
- codebook utilisation (entropy, perplexity, share of entries used) is counting, done here.

Install them with ``pip install 'audiotok[compare]'`` (matplotlib for the plots).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._audio import convert_audio, read_file
from ._compat import find_mismatches
from ._errors import AudiotokError, MissingDependencyError
from ._protocol import AudioTokenizer

MAX_K_VALUES = 6


@dataclass
class CompareRow:
    """One tokenizer at one K, measured on the given audio."""

    tokenizer: str
    num_codebooks: int
    cardinality: int
    sample_rate: int
    channels: int
    frame_rate: float
    bitrate_kbps: float
    tokens_per_second: float
    sequence_lengths: list[int]
    lm_vocab_size: int
    encode_speed: float
    decode_speed: float
    si_sdr_db: float
    stft_distance: float
    mel_distance: float
    codebook_entropy_bits: list[float]
    codebook_perplexity: list[float]
    codebook_used_share: list[float]
    compatible: bool | None = None
    mismatches: list[str] = field(default_factory=list)
    fits_context: bool | None = None


@dataclass
class CompareReport:
    """All rows, plus what the comparison was run on; ``table()``, ``to_json()``, ``to_csv()``."""

    rows: list[CompareRow]
    audio: list[str]
    audio_seconds: float
    lm: dict[str, Any]
    plots: list[str] = field(default_factory=list)
    histograms: dict[str, list[list[int]]] = field(default_factory=dict, repr=False)

    def to_json(self) -> str:
        """JSON with every row and the inputs."""
        data = {"audio": self.audio, "audio_seconds": self.audio_seconds, "lm": self.lm,
                "rows": [asdict(r) for r in self.rows], "plots": self.plots}
        return json.dumps(data, indent=2)

    def to_csv(self) -> str:
        """CSV, one line per row (list fields joined with ';')."""
        buffer = io.StringIO()
        fields = list(asdict(self.rows[0])) if self.rows else []
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: ";".join(f"{x:.4g}" if isinstance(x, float) else str(x)
                                         for x in v) if isinstance(v, list) else v
                             for k, v in asdict(row).items()})
        return buffer.getvalue()

    def table(self) -> str:
        """A terminal table of the main figures."""
        head = ("tokenizer", "K", "kbps", "tok/s", "seq_len", "vocab", "SI-SDR", "mel", "stft",
                "ppl(cb1)", "used", "enc x", "dec x", "fits")
        lines = [head]
        for r in self.rows:
            fits = "-" if r.compatible is None else ("yes" if r.compatible else "NO")
            if r.fits_context is False:
                fits = "NO(ctx)" if fits != "NO" else "NO"
            lines.append((r.tokenizer, str(r.num_codebooks), f"{r.bitrate_kbps:.3g}",
                          f"{r.tokens_per_second:g}", str(max(r.sequence_lengths)),
                          str(r.lm_vocab_size), f"{r.si_sdr_db:.2f}", f"{r.mel_distance:.3f}",
                          f"{r.stft_distance:.3f}", f"{r.codebook_perplexity[0]:.1f}",
                          f"{100 * min(r.codebook_used_share):.0f}%",
                          f"{r.encode_speed:.1f}", f"{r.decode_speed:.1f}", fits))
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
                for line in lines]
        text.append("SI-SDR in dB (higher is better); mel/stft: distances (lower is better); "
                    "enc x / dec x: audio-seconds per second on this machine")
        return "\n".join(text)


def _metrics() -> tuple[Any, Any]:
    try:
        from auraloss.freq import MultiResolutionSTFTLoss
        from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio
    except ImportError as exc:
        raise MissingDependencyError(
            f"audiotok compare needs torchmetrics and auraloss ({exc}): "
            "pip install 'audiotok[compare]'") from exc
    return scale_invariant_signal_distortion_ratio, MultiResolutionSTFTLoss


def default_k_values(tok: AudioTokenizer) -> list[int]:
    """Every K the tokenizer offers, thinned to powers of two (and the max) beyond a few."""
    allowed = list(tok.allowed_num_codebooks)
    if len(allowed) <= MAX_K_VALUES:
        return allowed
    picks = [k for k in allowed if k & (k - 1) == 0] + [allowed[-1]]
    picks = sorted(set(picks))
    while len(picks) > MAX_K_VALUES:
        picks.pop(len(picks) // 2)
    return picks


def codebook_stats(codes: torch.Tensor, cardinality: int) -> tuple[list[float], list[float],
                                                                    list[float], list[list[int]]]:
    """Per codebook: entropy (bits), perplexity (2^H), share of entries used, histogram."""
    entropy, ppl, used, hist = [], [], [], []
    for k in range(codes.shape[0]):
        counts = torch.bincount(codes[k].reshape(-1), minlength=cardinality).double()
        p = counts / counts.sum().clamp_min(1)
        h = float(-(p[p > 0] * p[p > 0].log2()).sum())
        entropy.append(h)
        ppl.append(2.0 ** h)
        used.append(float((counts > 0).sum()) / cardinality)
        hist.append(counts.long().tolist())
    return entropy, ppl, used, hist


def _mel_distance(ref: torch.Tensor, est: torch.Tensor, sample_rate: int) -> float:
    import torchaudio

    n_fft = 1024 if sample_rate > 20000 else 512
    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=n_fft, hop_length=n_fft // 4,
                                               n_mels=80)
    return float((torch.log10(mel(ref) + 1e-5) - torch.log10(mel(est) + 1e-5)).abs().mean())


def _time(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    with torch.inference_mode():
        result = fn()
    return result, time.perf_counter() - start


def measure(tok: AudioTokenizer, clips: Sequence[torch.Tensor], k: int, *,
            lm: dict[str, Any]) -> tuple[CompareRow, list[list[int]], list[torch.Tensor]]:
    """Encode/decode every clip with K codebooks and compute the figures."""
    si_sdr, mrstft = _metrics()
    stft = mrstft(fft_sizes=[512, 1024, 2048], hop_sizes=[128, 256, 512],
                  win_lengths=[512, 1024, 2048])
    tok.set_num_codebooks(k)
    with torch.inference_mode():  # warm-up, so first-call overheads do not count as speed
        tok.decode(*tok.encode(clips[0][None, :, :4096].to(tok.device)))
    total = sum(c.shape[-1] for c in clips) / tok.sample_rate
    enc_time = dec_time = 0.0
    sdrs, mels, stfts, all_codes, recons = [], [], [], [], []
    for wav in clips:
        (codes, scale), t_enc = _time(lambda wav=wav: tok.encode(wav[None].to(tok.device)))
        out, t_dec = _time(lambda codes=codes, scale=scale: tok.decode(codes, scale))
        enc_time, dec_time = enc_time + t_enc, dec_time + t_dec
        out = out[0, :, : wav.shape[-1]].float().cpu()
        if out.shape[-1] < wav.shape[-1]:
            out = torch.nn.functional.pad(out, (0, wav.shape[-1] - out.shape[-1]))
        sdrs.append(float(si_sdr(out, wav, zero_mean=True).mean()))
        mels.append(_mel_distance(wav, out, tok.sample_rate))
        stfts.append(float(stft(out[None], wav[None])))
        all_codes.append(codes[0].cpu())
        recons.append(out)
    entropy, ppl, used, hist = codebook_stats(torch.cat(all_codes, dim=-1), tok.cardinality)
    lengths = [tok.frames_for_samples(c.shape[-1]) for c in clips]
    row = CompareRow(
        tokenizer=tok.name, num_codebooks=k, cardinality=tok.cardinality,
        sample_rate=tok.sample_rate, channels=tok.channels, frame_rate=float(tok.frame_rate),
        bitrate_kbps=tok.bitrate / 1000, tokens_per_second=tok.tokens_per_second,
        sequence_lengths=lengths, lm_vocab_size=tok.lm_vocab_size(),
        encode_speed=total / max(enc_time, 1e-9), decode_speed=total / max(dec_time, 1e-9),
        si_sdr_db=sum(sdrs) / len(sdrs), stft_distance=sum(stfts) / len(stfts),
        mel_distance=sum(mels) / len(mels), codebook_entropy_bits=entropy,
        codebook_perplexity=ppl, codebook_used_share=used)
    if any(v is not None for v in (lm.get("card"), lm.get("n_q"))):
        row.mismatches = find_mismatches(tok, card=lm.get("card"), n_q=lm.get("n_q"))
        row.compatible = not row.mismatches
    if lm.get("context_frames") is not None:
        row.fits_context = max(lengths) <= lm["context_frames"]
        if not row.fits_context:
            row.mismatches.append(f"context: {max(lengths)} frames exceed the LM context of "
                                  f"{lm['context_frames']}")
    return row, hist, recons


def compare(audio: Sequence[str | os.PathLike[str]], tokenizers: Sequence[str | AudioTokenizer],
            *, num_codebooks: Sequence[int] | None = None, lm_card: int | None = None,
            lm_n_q: int | None = None, context_frames: int | None = None,
            out: str | os.PathLike[str] | None = None, plots: bool = True,
            device: str = "cpu") -> CompareReport:
    """Compare tokenizers on audio files: bitrate, tokens/s, sequence length, LM vocabulary,
    speed, SI-SDR, STFT and mel distances, codebook utilisation and the LM compatibility verdict.

    ``num_codebooks``: the K values to try (default: those each tokenizer offers, thinned to at
    most six). With ``out``, writes ``report.json``, ``report.csv`` and (``plots``) PNG figures.
    """
    from ._registry import load

    if not audio or not tokenizers:
        raise AudiotokError("compare needs at least one audio file and one tokenizer")
    _metrics()
    lm = {"card": lm_card, "n_q": lm_n_q, "context_frames": context_frames}
    rows: list[CompareRow] = []
    histograms: dict[str, list[list[int]]] = {}
    examples: dict[str, tuple[torch.Tensor, torch.Tensor, int]] = {}
    decoded = [read_file(p) for p in audio]  # once; converted per tokenizer below
    for ident in tokenizers:
        tok = ident if isinstance(ident, AudioTokenizer) else load(ident, device=device)
        clips = [convert_audio(wav, rate, sample_rate=tok.sample_rate, channels=tok.channels)
                 for wav, rate in decoded]
        short = [str(p) for p, c in zip(audio, clips, strict=True) if c.shape[-1] < 2048]
        if short:
            raise AudiotokError(f"compare needs clips of at least 2048 samples at "
                                f"{tok.sample_rate} Hz; too short: {', '.join(short)}")
        original_k = tok.num_codebooks
        wanted = default_k_values(tok) if num_codebooks is None else \
            [k for k in num_codebooks if k in tok.allowed_num_codebooks]
        if not wanted:
            raise AudiotokError(f"{tok.name} offers none of K={list(num_codebooks or [])}; it "
                                f"offers {list(tok.allowed_num_codebooks)}")
        try:
            for k in wanted:
                row, hist, recons = measure(tok, clips, k, lm=lm)
                rows.append(row)
                if k == wanted[-1]:
                    histograms[tok.name] = hist
                    examples[tok.name] = (clips[0], recons[0], tok.sample_rate)
        finally:
            tok.set_num_codebooks(original_k)
    seconds = sum(wav.shape[-1] / rate for wav, rate in decoded)
    report = CompareReport(rows=rows, audio=[str(p) for p in audio], audio_seconds=seconds,
                           lm=lm, histograms=histograms)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if plots:
            from ._plots import write_plots

            report.plots = [str(p) for p in write_plots(report, examples, out)]
        (out / "report.json").write_text(report.to_json())
        (out / "report.csv").write_text(report.to_csv())
    return report
