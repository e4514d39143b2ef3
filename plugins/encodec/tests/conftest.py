"""Fixtures: real EnCodec architectures from Meta's ``encodec`` package with random weights,
codebooks filled from real encoder residuals, saved in the real release / AudioCraft formats."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
torch.set_num_threads(1)  # 2 shared cores: OpenMP spinning makes more threads far slower

encodec = pytest.importorskip(
    "encodec", reason="parity tests need Meta's encodec: pip install encodec"
)
from encodec import modules as em  # noqa: E402
from encodec import quantization as eq  # noqa: E402
from encodec.model import EncodecModel  # noqa: E402

MUSICGEN_SEANET: dict[str, Any] = dict(
    dimension=128,
    n_filters=64,
    n_residual_layers=1,
    ratios=[8, 5, 4, 4],
    activation="ELU",
    activation_params={"alpha": 1.0},
    norm="weight_norm",
    norm_params={},
    kernel_size=7,
    residual_kernel_size=3,
    last_kernel_size=7,
    dilation_base=2,
    pad_mode="constant",
    true_skip=True,
    compress=2,
    lstm=2,
)


def tone_audio(batch: int, channels: int, length: int, sample_rate: int, seed: int) -> torch.Tensor:
    """Tones with random pitch and level plus noise: spreads codes like real audio does."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / sample_rate
    freq = torch.rand(batch, channels, 3, 1, generator=g) * 2000 + 60
    amp = torch.rand(batch, channels, 3, 1, generator=g) * 0.3
    tones = (
        amp * torch.sin(2 * math.pi * freq * t + 6 * torch.rand(batch, channels, 3, 1, generator=g))
    ).sum(2)
    return tones + 0.03 * torch.randn(batch, channels, length, generator=g)


@torch.no_grad()
def fill_codebooks(
    model: EncodecModel, seed: int = 0, seconds: float = 0.25, batch: int = 8
) -> None:
    """Set each RVQ stage's codebook from residual frames of real encoder outputs, as k-means
    init would, and mark them initialised. Stage k samples its codewords (plus jitter) from the
    stage-k residuals of frames no earlier stage has seen, so that unseen audio spreads over
    every codebook instead of collapsing onto one entry."""
    g = torch.Generator().manual_seed(seed)
    x = tone_audio(batch, model.channels, int(seconds * model.sample_rate), model.sample_rate, seed)
    if model.normalize:
        x = x / (1e-8 + x.mean(1, keepdim=True).pow(2).mean(2, keepdim=True).sqrt())
    z = model.encoder(x)
    residual = z.transpose(1, 2).reshape(-1, z.shape[1])
    residual = residual[torch.randperm(residual.shape[0], generator=g)]
    layers = list(model.quantizer.vq.layers)
    chunks = torch.arange(residual.shape[0]).chunk(len(layers))
    for layer, rows in zip(layers, chunks, strict=True):
        cb = layer._codebook
        pool = residual[rows]
        idx = torch.randint(0, pool.shape[0], (cb.embed.shape[0],), generator=g)
        spread = (pool - pool.mean(0)).std()
        cb.embed.copy_(pool[idx] + 0.5 * spread * torch.randn(cb.embed.shape, generator=g))
        cb.embed_avg.copy_(cb.embed)
        cb.cluster_size.fill_(1.0)
        cb.inited.fill_(1)
        residual = residual - cb.dequantize(cb.quantize(residual))


def reference_model(
    sample_rate: int,
    channels: int,
    seanet: dict[str, Any],
    *,
    n_q: int,
    bins: int,
    causal: bool = False,
    normalize: bool = False,
    segment: float | None = None,
    bandwidths: list[float] | None = None,
    seed: int = 0,
) -> EncodecModel:
    """An ``encodec`` EncodecModel with random weights and filled codebooks."""
    torch.manual_seed(seed)
    enc = em.SEANetEncoder(channels=channels, causal=causal, **seanet)
    dec = em.SEANetDecoder(channels=channels, causal=causal, **seanet)
    # Random init leaves weight_g = |v|; perturb it so folding weight norm is really exercised.
    for module in [*enc.modules(), *dec.modules()]:
        if hasattr(module, "weight_g"):
            module.weight_g.data.mul_(torch.rand_like(module.weight_g) + 0.5)
        if isinstance(module, torch.nn.GroupNorm):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    frame_rate = math.ceil(sample_rate / enc.hop_length)
    bw = bandwidths or [n_q * math.log2(bins) * frame_rate / 1000]
    rvq = eq.ResidualVectorQuantizer(dimension=enc.dimension, n_q=n_q, bins=bins)
    model = EncodecModel(
        enc, dec, rvq, bw, sample_rate, channels, normalize=normalize, segment=segment
    ).eval()
    fill_codebooks(model, seed)
    return model


def release_model(name: str) -> EncodecModel:
    """Meta's release architecture (``encodec_24khz`` / ``encodec_48khz``), random weights."""
    if name == "encodec_24khz":
        model = EncodecModel._get_model(
            [1.5, 3.0, 6.0, 12.0, 24.0],
            24000,
            1,
            causal=True,
            model_norm="weight_norm",
            audio_normalize=False,
        )
    else:
        model = EncodecModel._get_model(
            [3.0, 6.0, 12.0, 24.0],
            48000,
            2,
            causal=False,
            model_norm="time_group_norm",
            audio_normalize=True,
            segment=1.0,
        )
    torch.manual_seed(1)
    for module in model.modules():
        if hasattr(module, "weight_g"):
            module.weight_g.data.mul_(torch.rand_like(module.weight_g) + 0.5)
        if isinstance(module, torch.nn.GroupNorm):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    model.eval()
    if name == "encodec_24khz":
        fill_codebooks(model, 1, seconds=0.5, batch=16)
    else:
        fill_codebooks(model, 1, batch=4)
    return model


def save_release(model: EncodecModel, folder: Path, name: str) -> Path:
    """Save a bare state dict named like the release, ``<name>-<sha256[:8]>.th``."""
    tmp = folder / f"{name}.tmp"
    torch.save(model.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    path = folder / f"{name}-{digest}.th"
    os.replace(tmp, path)
    return path


def audiocraft_yaml(
    sample_rate: int,
    channels: int,
    seanet: dict[str, Any],
    *,
    n_q: int,
    bins: int,
    causal: bool = False,
    renormalize: bool = False,
) -> str:
    """An AudioCraft solver config as ``xp.cfg`` holds it, with ``${...}`` interpolations."""
    cfg = {
        "device": "cpu",
        "dtype": "float32",
        "sample_rate": sample_rate,
        "channels": channels,
        "compression_model": "encodec",
        "dora": {"dir": "${oc.env:HOME}/xps", "exclude": ["device"]},
        "encodec": {
            "autoencoder": "seanet",
            "quantizer": "rvq",
            "sample_rate": "${sample_rate}",
            "channels": "${channels}",
            "causal": causal,
            "renormalize": renormalize,
        },
        "seanet": {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in seanet.items()},
            "channels": "${channels}",
            "causal": "${encodec.causal}",
            "disable_norm_outer_blocks": 0,
            "encoder": {},
            "decoder": {
                "trim_right_ratio": 1.0,
                "final_activation": None,
                "final_activation_params": None,
            },
        },
        "rvq": {
            "n_q": n_q,
            "q_dropout": False,
            "bins": bins,
            "decay": 0.99,
            "kmeans_init": True,
            "kmeans_iters": 50,
            "threshold_ema_dead_code": 2,
            "orthogonal_reg_weight": 0.0,
            "orthogonal_reg_active_codes_only": False,
            "orthogonal_reg_max_codes": None,
        },
        "logging": {"log_dir": "${dora.dir}/logs/${encodec.sample_rate}"},
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def save_audiocraft(model: EncodecModel, folder: Path, xp_cfg: str) -> Path:
    """Save ``compression_state_dict.bin`` as AudioCraft's ``export_encodec`` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compression_state_dict.bin"
    torch.save(
        {"best_state": model.state_dict(), "xp.cfg": xp_cfg, "version": "1.3.0", "exported": True},
        path,
    )
    return path


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def threads() -> Callable[[int], contextlib.AbstractContextManager[None]]:
    """``with threads(n):`` runs the block with ``n`` intra-op threads (this folder uses 1)."""
    return _threads


@pytest.fixture(scope="session")
def release_24k(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncodecModel, Path]:
    """Random-weight encodec_24khz and its release-format file."""
    model = release_model("encodec_24khz")
    return model, save_release(model, tmp_path_factory.mktemp("r24"), "encodec_24khz")


@pytest.fixture(scope="session")
def release_48k(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncodecModel, Path]:
    """Random-weight encodec_48khz and its release-format file."""
    model = release_model("encodec_48khz")
    return model, save_release(model, tmp_path_factory.mktemp("r48"), "encodec_48khz")


@pytest.fixture(scope="session")
def musicgen_32k(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncodecModel, Path]:
    """MusicGen's 32 kHz architecture (AudioCraft ``encodec_large_nq4_s640``), exported."""
    model = reference_model(32000, 1, MUSICGEN_SEANET, n_q=4, bins=2048, seed=2)
    cfg = audiocraft_yaml(32000, 1, MUSICGEN_SEANET, n_q=4, bins=2048)
    return model, save_audiocraft(model, tmp_path_factory.mktemp("m32") / "musicgen", cfg)


@pytest.fixture()
def make_small(tmp_path: Path) -> Callable[..., tuple[EncodecModel, Path]]:
    """Build and export a small AudioCraft-style model with the given SEANet options."""

    def make(
        *,
        channels: int = 1,
        causal: bool = False,
        renormalize: bool = False,
        seed: int = 3,
        **seanet: Any,
    ) -> tuple[EncodecModel, Path]:
        kwargs = dict(
            dimension=16,
            n_filters=4,
            n_residual_layers=2,
            ratios=[4, 2],
            norm="weight_norm",
            pad_mode="constant",
            true_skip=True,
            lstm=1,
            activation="ELU",
            activation_params={"alpha": 1.0},
        )
        kwargs.update(seanet)
        model = reference_model(
            8000, channels, kwargs, n_q=3, bins=64, causal=causal, normalize=renormalize, seed=seed
        )
        cfg = audiocraft_yaml(
            8000, channels, kwargs, n_q=3, bins=64, causal=causal, renormalize=renormalize
        )
        return model, save_audiocraft(model, tmp_path / f"small{seed}", cfg)

    return make


@pytest.fixture(scope="session")
def audio() -> Callable[..., torch.Tensor]:
    """``audio(batch, channels, length, sample_rate, seed)``: tones plus noise."""
    return tone_audio
