"""PNG figures for ``audiotok compare`` (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ._errors import MissingDependencyError

if TYPE_CHECKING:
    from ._compare import CompareReport


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("plots need matplotlib: pip install 'audiotok[compare]' "
                                     "(or pass --no-plots)") from exc
    return plt


def write_plots(report: CompareReport, examples: dict[str, tuple[torch.Tensor, torch.Tensor, int]],
                out: Path) -> list[Path]:
    """Quality vs bitrate, codebook usage histograms, spectrograms; returns the PNG paths."""
    plt = _pyplot()
    paths = [out / "quality_vs_bitrate.png", out / "codebook_usage.png", out / "spectrograms.png"]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in dict.fromkeys(r.tokenizer for r in report.rows):
        rows = sorted((r for r in report.rows if r.tokenizer == name), key=lambda r: r.bitrate_kbps)
        kbps = [r.bitrate_kbps for r in rows]
        axes[0].plot(kbps, [r.si_sdr_db for r in rows], marker="o", label=name)
        axes[1].plot(kbps, [r.mel_distance for r in rows], marker="o", label=name)
        for r in rows:
            axes[0].annotate(f"K={r.num_codebooks}", (r.bitrate_kbps, r.si_sdr_db), fontsize=7)
    for ax, label in zip(axes, ("SI-SDR (dB, higher is better)", "log-mel L1 (lower is better)"),
                         strict=False):
        ax.set_xscale("log")
        ax.set_xlabel("bitrate (kbps)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Reconstruction quality vs bitrate")
    fig.tight_layout()
    fig.savefig(paths[0], dpi=100)
    plt.close(fig)

    names = list(report.histograms)
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 2.6 * max(1, len(names))), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=False):
        hists = report.histograms[name]
        for k in sorted({0, len(hists) - 1}):
            counts = torch.tensor(hists[k], dtype=torch.float64)
            ranked = torch.sort(counts, descending=True).values
            ax.plot(ranked / ranked.sum().clamp_min(1), label=f"codebook {k + 1}")
        ax.set_yscale("log")
        ax.set_title(f"{name}: code frequencies by rank ({len(hists[0])} entries)", fontsize=9)
        ax.set_xlabel("code rank")
        ax.set_ylabel("frequency")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[1], dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(len(examples) + 1, 1, figsize=(9, 2.4 * (len(examples) + 1)),
                             squeeze=False)
    first = next(iter(examples.values()))
    panels = [("original", first[0], first[2])] + [
        (f"{name} (max K)", recon, sr) for name, (_orig, recon, sr) in examples.items()]
    for ax, (title, wav, sr) in zip(axes[:, 0], panels, strict=False):
        spec = torch.stft(wav.mean(0), n_fft=1024, hop_length=256,
                          window=torch.hann_window(1024), return_complex=True).abs()
        ax.imshow(20 * torch.log10(spec + 1e-6).numpy(), origin="lower", aspect="auto",
                  extent=(0, wav.shape[-1] / sr, 0, sr / 2000), vmin=-80, vmax=40, cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=100)
    plt.close(fig)
    return paths
