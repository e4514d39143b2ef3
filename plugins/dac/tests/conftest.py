"""Fixtures: random-weight descript-audio-codec models, saved exactly as DAC's releases are.

``dac.DAC(**config).save(path, package=False)`` writes ``{"state_dict", "metadata": {"kwargs"}}``,
the layout of the official ``weights*.pth`` files. The reference model stays in memory (in eval
mode) for parity checks. ``dac`` is imported here only: it is the reference, not a dependency.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

# The release configurations (descript-audio-codec conf/final/*.yml; quantizer_dropout as trained).
CONFIGS: dict[str, dict[str, Any]] = {
    "dac_44khz": {},
    "dac_24khz": {"encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2],
                  "n_codebooks": 32, "sample_rate": 24000},
    "dac_16khz": {"encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2],
                  "n_codebooks": 12, "sample_rate": 16000},
    "dac_44khz_16kbps": {"latent_dim": 128, "n_codebooks": 18},
}
# A narrow 16 kHz DAC (same structure, few channels) for the many checkpoint-handling tests.
SMALL = {"encoder_dim": 8, "decoder_dim": 32, "encoder_rates": [2, 4, 5, 8],
         "decoder_rates": [8, 5, 4, 2], "n_codebooks": 12, "sample_rate": 16000}


def make_reference(config: dict[str, Any], seed: int = 0) -> Any:
    """A random-weight ``dac.DAC`` in eval mode (skips the test if the reference is missing)."""
    dac = pytest.importorskip("dac", reason="the parity reference: pip install "
                              "'audiotok-dac[test]' (descript-audio-codec==1.0.0)")

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.nn.utils.weight_norm deprecation
        return dac.DAC(**config, quantizer_dropout=0.5).eval()


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """One intra-op thread: the test machines are shared, and spinning OpenMP threads on a
    busy CPU make these small convolutions many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Any, Path]]:
    """``reference(name) -> (dac.DAC, path of its release-format .pth)``, built once per name."""
    cache: dict[str, tuple[Any, Path]] = {}
    root = tmp_path_factory.mktemp("dac_release")

    def get(name: str) -> tuple[Any, Path]:
        if name not in cache:
            if len(cache) >= 3:  # keep memory bounded (~0.3 GB per 44 kHz model)
                cache.pop(next(iter(cache)))
            config = SMALL if name == "small" else CONFIGS[name]
            model = make_reference(config)
            path = root / f"{name}.pth"
            if not path.exists():
                model.save(str(path), package=False)
            cache[name] = (model, path)
        return cache[name]

    return get


@pytest.fixture
def small(reference: Callable[[str], tuple[Any, Path]]) -> tuple[Any, Path]:
    """The narrow 16 kHz reference model and its release-format file."""
    return reference("small")


@pytest.fixture
def noise() -> Callable[..., torch.Tensor]:
    """``noise(batch, length, seed=0)``: uniform noise in [-0.8, 0.8), ``[batch, 1, length]``."""

    def make(batch: int, length: int, seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(batch, 1, length, generator=gen) * 1.6 - 0.8

    return make
