"""Fixtures: the three public EnCodec architectures with random weights and usable codebooks.

transformers' random init leaves every codebook at zero (all codes 0), so each RVQ stage is filled
with vectors drawn from the residuals of real encoder outputs before ``save_pretrained``.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
import torch

from audiotok_hf_encodec._config import HUB_CONFIGS

REPOS = tuple(HUB_CONFIGS)


def synth_audio(sample_rate: int, channels: int, seconds: float, batch: int = 1,
               seed: int = 0) -> torch.Tensor:
    """Tones with vibrato plus noise, different per channel and item, peak about 0.6."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 80 + 800 * torch.rand(batch, channels, 1, generator=gen)
    phase = 2 * math.pi * (f0 * t + 3 * torch.sin(2 * math.pi * 1.3 * t))
    wav = 0.3 * torch.sin(phase) + 0.15 * torch.sin(3.1 * phase)
    return wav + 0.1 * torch.randn(batch, channels, t.numel(), generator=gen)


def build_model(repo: str, seed: int = 0):
    """EncodecModel of ``repo``'s configuration, random weights, codebooks from real residuals."""
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(seed)
    config = EncodecConfig(**{k: v for k, v in HUB_CONFIGS[repo].items() if k != "model_type"})
    model = EncodecModel(config).eval()
    chunk = config.chunk_length or config.sampling_rate // 2
    wav = synth_audio(config.sampling_rate, config.audio_channels, chunk / config.sampling_rate,
                     batch=4, seed=seed + 1)
    with torch.no_grad():
        if config.normalize:
            wav = wav / (wav.mean(1, keepdim=True).pow(2).mean(-1, keepdim=True).sqrt() + 1e-8)
        residual = model.encoder(wav).transpose(1, 2).reshape(-1, config.codebook_dim)
        gen = torch.Generator().manual_seed(seed + 2)
        frames = torch.arange(residual.shape[0])
        for layer in model.quantizer.layers:
            # Entries lie between two residual frames (distinct, no near-ties); each frame's next
            # residual is taken against entries built from *other* frames, as for unseen audio,
            # so later stages do not collapse to zero residuals.
            first, second = (torch.randint(0, residual.shape[0], (config.codebook_size,),
                                           generator=gen) for _ in range(2))
            mix = 0.5 * torch.rand(config.codebook_size, 1, generator=gen)
            embed = residual[first] + mix * (residual[second] - residual[first])
            dist = torch.cdist(residual, embed)
            own = (first[None, :] == frames[:, None]) | (second[None, :] == frames[:, None])
            dist[own] = math.inf
            residual = residual - embed[dist.argmin(dim=1)]
            layer.codebook.embed.copy_(embed)
            layer.codebook.embed_avg.copy_(embed)
            layer.codebook.cluster_size.fill_(1.0)
    return model


@contextlib.contextmanager
def one_thread():
    """One intra-op thread: on shared CPUs, oversubscribed OpenMP threads make these small
    models 10-40x slower. The previous setting is restored for other packages' tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module", autouse=True)
def _one_thread_per_module():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def audio():
    """The test-signal generator :func:`synth_audio`."""
    return synth_audio


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{repo: folder}`` written with ``save_pretrained`` (safetensors), one per public config."""
    root = tmp_path_factory.mktemp("hf_encodec")
    folders = {}
    with one_thread():
        for repo in REPOS:
            folder = root / repo.split("/")[1]
            build_model(repo).save_pretrained(folder)
            folders[repo] = folder
    return folders


@pytest.fixture(scope="session")
def references(checkpoints: dict[str, Path]):
    """transformers' own EncodecModel loaded from each saved folder."""
    from transformers import EncodecModel

    with one_thread():
        return {repo: EncodecModel.from_pretrained(folder).eval()
                for repo, folder in checkpoints.items()}
