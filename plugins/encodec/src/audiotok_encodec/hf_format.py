"""Native loading of EnCodec weights in Hugging Face transformers' layout (``config.json`` +
``model.safetensors``), which AudioCraft pointer exports such as ``{"pretrained":
"facebook/encodec_32khz"}`` (e.g. in ``facebook/musicgen-melody-large``) refer to.

Weights are read with safetensors (or ``torch.load(weights_only=True)``), keys are renamed to the
AudioCraft layout, and the model is built from ``config.json`` exactly as transformers would
(``pad_mode``, ``use_conv_shortcut``, chunking, normalization). transformers is not needed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch

from audiotok import CheckpointError

from .model import EncodecConfig, EncodecTokenizer
from .modules import SEANetConfig

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def is_hf_folder(path: Path) -> bool:
    """A folder with ``config.json`` and one of the weight files."""
    return (path / "config.json").is_file() and any((path / f).is_file() for f in WEIGHT_FILES)


def config_from_hf(cfg: dict[str, Any], path: Path) -> EncodecConfig:
    """transformers ``EncodecConfig`` fields -> :class:`EncodecConfig`."""
    if cfg.get("model_type", "encodec") != "encodec":
        raise CheckpointError(f"{path}: model_type={cfg.get('model_type')!r} is not 'encodec'")
    try:
        hidden = int(cfg.get("hidden_size", 128))
        if int(cfg.get("codebook_dim") or hidden) != hidden:
            raise CheckpointError(f"{path}: codebook_dim != hidden_size is not supported")
        seanet = SEANetConfig(
            channels=int(cfg.get("audio_channels", 1)),
            dimension=hidden,
            n_filters=int(cfg.get("num_filters", 32)),
            n_residual_layers=int(cfg.get("num_residual_layers", 1)),
            ratios=tuple(cfg.get("upsampling_ratios", (8, 5, 4, 2))),
            norm=str(cfg.get("norm_type", "weight_norm")),
            kernel_size=int(cfg.get("kernel_size", 7)),
            last_kernel_size=int(cfg.get("last_kernel_size", 7)),
            residual_kernel_size=int(cfg.get("residual_kernel_size", 3)),
            dilation_base=int(cfg.get("dilation_growth_rate", 2)),
            causal=bool(cfg.get("use_causal_conv", True)),
            pad_mode=str(cfg.get("pad_mode", "reflect")),
            true_skip=not cfg.get("use_conv_shortcut", True),
            compress=int(cfg.get("compress", 2)),
            lstm=int(cfg.get("num_lstm_layers", 2)),
            trim_right_ratio=float(cfg.get("trim_right_ratio", 1.0)),
        )
        sample_rate = int(cfg.get("sampling_rate", 24000))
        bins = int(cfg.get("codebook_size", 1024))
        bandwidths = tuple(float(b) for b in cfg.get("target_bandwidths", (1.5, 3, 6, 12, 24)))
        frame_rate = math.ceil(sample_rate / seanet.hop_length)
        n_q = int(1000 * bandwidths[-1] // (frame_rate * math.ceil(math.log2(bins))))
        chunk = cfg.get("chunk_length_s")
        return EncodecConfig(
            sample_rate,
            seanet.channels,
            seanet,
            seanet,
            n_q=n_q,
            bins=bins,
            renormalize=bool(cfg.get("normalize", False)),
            segment=float(chunk) if chunk else None,
            overlap=float(cfg.get("overlap") or 0.0),
            target_bandwidths=bandwidths,
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unsupported config.json: {exc}") from None


def rename_hf_keys(
    state: dict[str, torch.Tensor], model: EncodecTokenizer
) -> dict[str, torch.Tensor]:
    """transformers key names -> the AudioCraft layout this package uses."""
    out = {}
    for key, value in state.items():
        new = key
        m = re.fullmatch(r"(encoder|decoder)\.layers\.(\d+)\.(.+)", key)
        if m:
            part, index, rest = m.groups()
            layer = getattr(model, part).model[int(index)]
            wrapper = "convtr" if hasattr(layer, "convtr") else "conv"
            sub = re.fullmatch(r"(block\.\d+\.|shortcut\.)?(conv|norm)\.(.+)", rest)
            if sub:  # a (possibly nested) conv: add the wrapper level of the AudioCraft layout
                inner, kind, param = sub.groups()
                outer = "conv" if inner else wrapper
                rest = f"{inner or ''}{outer}.{outer if kind == 'conv' else 'norm'}.{param}"
            new = f"{part}.model.{index}.{rest}"
        else:
            m = re.fullmatch(r"quantizer\.layers\.(\d+)\.codebook\.(.+)", key)
            if m:
                new = f"quantizer.vq.layers.{m.group(1)}._codebook.{m.group(2)}"
        out[new] = value
    return out


def load_hf_folder(folder: Path) -> EncodecTokenizer:
    """Build and load a native model from a transformers-format EnCodec folder."""
    from .loading import load_weights, read_checkpoint

    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'}: unreadable ({exc})") from None
    model = EncodecTokenizer(config_from_hf(cfg, folder / "config.json"))
    weights = next(folder / f for f in WEIGHT_FILES if (folder / f).is_file())
    if weights.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            state = load_file(str(weights))
        except ImportError:
            raise CheckpointError(
                f"{weights}: reading it needs safetensors: pip install safetensors"
            ) from None
        except Exception as exc:
            raise CheckpointError(f"{weights}: corrupt or truncated ({exc})") from None
    else:
        state = read_checkpoint(weights)
    return load_weights(
        model,
        rename_hf_keys(state, model),
        weights,
        f"EnCodec as {folder / 'config.json'} describes",
    )
