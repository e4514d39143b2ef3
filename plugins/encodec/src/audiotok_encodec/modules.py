"""Inference-first SEANet encoder/decoder and residual vector quantizer.

The module tree mirrors the parameter names of AudioCraft and of Meta's ``encodec`` package
(``encoder.model.N.conv.conv.weight``, ``quantizer.vq.layers.N._codebook.embed``...), so their
state dicts load directly once weight norm is folded (see :func:`fold_weight_norm`). Every
operation is the one the references run, in the same order, which keeps the codes bit-identical.
On CPU the encoder runs its first stages in cache-sized time tiles (``tiling.py``), which
reproduces the whole-tensor run bit for bit, and the decoder its upsampling stages in
overlapping windows, equal to the plain run up to rounding (decoded audio only has to match the
references within 1e-4 relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("none", "weight_norm", "time_group_norm")
PAD_MODES = ("constant", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class SEANetConfig:
    """Hyper-parameters of one SEANet encoder or decoder (AudioCraft's ``seanet`` section)."""

    channels: int = 1
    dimension: int = 128
    n_filters: int = 32
    n_residual_layers: int = 1
    ratios: tuple[int, ...] = (8, 5, 4, 2)
    activation: str = "ELU"
    activation_params: dict[str, Any] = field(default_factory=lambda: {"alpha": 1.0})
    final_activation: str | None = None
    final_activation_params: dict[str, Any] | None = None
    norm: str = "weight_norm"
    norm_params: dict[str, Any] = field(default_factory=dict)
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    dilation_base: int = 2
    causal: bool = False
    pad_mode: str = "reflect"
    true_skip: bool = True
    compress: int = 2
    lstm: int = 2
    disable_norm_outer_blocks: int = 0
    trim_right_ratio: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratios", tuple(int(r) for r in self.ratios))
        problems = []
        if self.norm not in NORMS:
            problems.append(f"norm={self.norm!r} (supported: {', '.join(NORMS)})")
        if self.pad_mode not in PAD_MODES:
            problems.append(f"pad_mode={self.pad_mode!r} (supported: {', '.join(PAD_MODES)})")
        if self.causal and self.norm == "time_group_norm":
            problems.append("time_group_norm with causal=True")
        if not self.causal and self.trim_right_ratio != 1.0:
            problems.append("trim_right_ratio != 1 without causal=True")
        for name in (self.activation, self.final_activation):
            if name is not None and not _is_activation(name):
                problems.append(f"activation {name!r} is not a torch.nn module")
        if not 0 <= self.disable_norm_outer_blocks <= len(self.ratios) + 2:
            problems.append(f"disable_norm_outer_blocks={self.disable_norm_outer_blocks}")
        if problems:
            raise ValueError("unsupported SEANet configuration: " + "; ".join(problems))

    @property
    def hop_length(self) -> int:
        """Samples per latent frame: the product of the ratios."""
        return math.prod(self.ratios)


def _is_activation(name: str) -> bool:
    obj = getattr(nn, name, None)
    return isinstance(obj, type) and issubclass(obj, nn.Module) and not name.startswith("_")


def _activation(name: str, params: dict[str, Any] | None) -> nn.Module:
    return getattr(nn, name)(**(params or {}))


def _pad1d(x: Tensor, left: int, right: int, mode: str) -> Tensor:
    """``F.pad`` that also reflects inputs shorter than the padding (zero-extends them first)."""
    if mode == "reflect":
        length = x.shape[-1]
        extra = max(left, right) - length + 1 if length <= max(left, right) else 0
        if extra:
            x = F.pad(x, (0, extra))
        out = F.pad(x, (left, right), mode)
        return out[..., : out.shape[-1] - extra] if extra else out
    return F.pad(x, (left, right), mode)


class _NormConv(nn.Module):
    """Holds ``conv`` (or ``convtr``) and ``norm`` under the reference's attribute names."""

    def __init__(self, conv: nn.Module, norm: str, attr: str, norm_params: dict[str, Any]) -> None:
        super().__init__()
        setattr(self, attr, conv)
        out_channels = conv.out_channels  # type: ignore[attr-defined]
        self.norm = (
            nn.GroupNorm(1, out_channels, **norm_params)
            if norm == "time_group_norm"
            else nn.Identity()
        )


class SConv1d(nn.Module):
    """Conv1d with causal or centred padding (plus right padding so the last window is full)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        *,
        causal: bool = False,
        norm: str = "none",
        pad_mode: str = "reflect",
        norm_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.conv = _NormConv(
            nn.Conv1d(cin, cout, kernel_size, stride, dilation=dilation),
            norm,
            "conv",
            norm_params or {},
        )
        self.causal, self.pad_mode = causal, pad_mode
        self.stride = stride
        self.effective_kernel = (kernel_size - 1) * dilation + 1
        self.padding_total = self.effective_kernel - stride
        self.has_norm = norm == "time_group_norm"

    def padding(self, length: int) -> tuple[int, int]:
        """Left and right padding for an input of ``length`` samples."""
        k, s, total = self.effective_kernel, self.stride, self.padding_total
        n_frames = (length - k + total) / s + 1
        extra = (math.ceil(n_frames) - 1) * s + (k - total) - length
        if self.causal:
            return total, extra
        right = total // 2
        return total - right, right + extra

    def forward(self, x: Tensor) -> Tensor:
        """``x[B, C, T] -> [B, C', ceil(T / stride)]``."""
        x = _pad1d(x, *self.padding(x.shape[-1]), self.pad_mode)
        conv = self.conv.conv
        y = F.conv1d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation)
        return self.conv.norm(y) if self.has_norm else y


class SConvTranspose1d(nn.Module):
    """ConvTranspose1d trimming its fixed padding (right share ``trim_right_ratio`` if causal)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int = 1,
        *,
        causal: bool = False,
        norm: str = "none",
        trim_right_ratio: float = 1.0,
        norm_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.convtr = _NormConv(
            nn.ConvTranspose1d(cin, cout, kernel_size, stride), norm, "convtr", norm_params or {}
        )
        total = kernel_size - stride
        right = math.ceil(total * trim_right_ratio) if causal else total // 2
        self.trim = (total - right, right)
        self.has_norm = norm == "time_group_norm"

    def forward(self, x: Tensor) -> Tensor:
        """``z[B, C, F] -> [B, C', F * stride]``."""
        y = self.convtr.convtr(x)
        if self.has_norm:
            y = self.convtr.norm(y)
        left, right = self.trim
        return y[..., left : y.shape[-1] - right]


class SLSTM(nn.Module):
    """LSTM over time in convolutional layout, with a skip connection."""

    def __init__(self, dimension: int, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dimension, dimension, num_layers)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, T] -> [B, C, T]``."""
        x = x.permute(2, 0, 1)
        y, _ = self.lstm(x)
        return (y + x).permute(1, 2, 0)


class ResnetBlock(nn.Module):
    """SEANet residual block: (act, conv k) + (act, conv 1) on a compressed width, plus a skip."""

    def __init__(self, dim: int, cfg: SEANetConfig, dilation: int, norm: str) -> None:
        super().__init__()
        hidden = dim // cfg.compress
        conv = dict(
            causal=cfg.causal, norm=norm, pad_mode=cfg.pad_mode, norm_params=cfg.norm_params
        )
        self.block = nn.Sequential(
            _activation(cfg.activation, cfg.activation_params),
            SConv1d(dim, hidden, cfg.residual_kernel_size, dilation=dilation, **conv),
            _activation(cfg.activation, cfg.activation_params),
            SConv1d(hidden, dim, 1, **conv),
        )
        self.shortcut: nn.Module = nn.Identity() if cfg.true_skip else SConv1d(dim, dim, 1, **conv)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, T] -> [B, C, T]``."""
        return self.shortcut(x) + self.block(x)


class SEANetEncoder(nn.Module):
    """Audio ``[B, C, T]`` -> latent ``[B, D, ceil(T / hop)]``."""

    def __init__(self, cfg: SEANetConfig) -> None:
        super().__init__()
        conv = dict(causal=cfg.causal, pad_mode=cfg.pad_mode, norm_params=cfg.norm_params)
        n_blocks, off = len(cfg.ratios) + 2, cfg.disable_norm_outer_blocks
        mult, nf = 1, cfg.n_filters
        layers: list[nn.Module] = [
            SConv1d(
                cfg.channels, nf, cfg.kernel_size, norm="none" if off >= 1 else cfg.norm, **conv
            )
        ]
        for i, ratio in enumerate(reversed(cfg.ratios)):
            norm = "none" if off >= i + 2 else cfg.norm
            for j in range(cfg.n_residual_layers):
                layers.append(ResnetBlock(mult * nf, cfg, cfg.dilation_base**j, norm))
            layers += [
                _activation(cfg.activation, cfg.activation_params),
                SConv1d(mult * nf, mult * nf * 2, ratio * 2, ratio, norm=norm, **conv),
            ]
            mult *= 2
        if cfg.lstm:
            layers.append(SLSTM(mult * nf, cfg.lstm))
        layers += [
            _activation(cfg.activation, cfg.activation_params),
            SConv1d(
                mult * nf,
                cfg.dimension,
                cfg.last_kernel_size,
                norm="none" if off == n_blocks else cfg.norm,
                **conv,
            ),
        ]
        self.model = nn.Sequential(*layers)
        from .tiling import TiledStages  # tiling.py imports this module's layer classes

        self.tiled = TiledStages(layers)
        self.use_tiles = True
        """Run the first stages in time tiles where that is exact (CPU inference); same result."""

    def forward(self, x: Tensor) -> Tensor:
        """Encode audio to the continuous latent (on CPU, the first stages in time tiles)."""
        layers = list(self.model)
        if self.use_tiles and self.tiled.applies(x):
            x = self.tiled(x)
            layers = layers[len(self.tiled) :]
        for layer in layers:
            x = layer(x)
        return x


class SEANetDecoder(nn.Module):
    """Latent ``[B, D, F]`` -> audio ``[B, C, F * hop]``."""

    def __init__(self, cfg: SEANetConfig) -> None:
        super().__init__()
        conv = dict(causal=cfg.causal, pad_mode=cfg.pad_mode, norm_params=cfg.norm_params)
        n_blocks, off = len(cfg.ratios) + 2, cfg.disable_norm_outer_blocks
        nf, mult = cfg.n_filters, 2 ** len(cfg.ratios)
        layers: list[nn.Module] = [
            SConv1d(
                cfg.dimension,
                mult * nf,
                cfg.kernel_size,
                norm="none" if off == n_blocks else cfg.norm,
                **conv,
            )
        ]
        if cfg.lstm:
            layers.append(SLSTM(mult * nf, cfg.lstm))
        for i, ratio in enumerate(cfg.ratios):
            norm = "none" if off >= n_blocks - (i + 1) else cfg.norm
            layers += [
                _activation(cfg.activation, cfg.activation_params),
                SConvTranspose1d(
                    mult * nf,
                    mult * nf // 2,
                    ratio * 2,
                    ratio,
                    causal=cfg.causal,
                    norm=norm,
                    trim_right_ratio=cfg.trim_right_ratio,
                    norm_params=cfg.norm_params,
                ),
            ]
            for j in range(cfg.n_residual_layers):
                layers.append(ResnetBlock(mult * nf // 2, cfg, cfg.dilation_base**j, norm))
            mult //= 2
        layers += [
            _activation(cfg.activation, cfg.activation_params),
            SConv1d(
                nf,
                cfg.channels,
                cfg.last_kernel_size,
                norm="none" if off >= 1 else cfg.norm,
                **conv,
            ),
        ]
        if cfg.final_activation is not None:
            layers.append(_activation(cfg.final_activation, cfg.final_activation_params))
        self.model = nn.Sequential(*layers)
        from .tiling import TiledUpsampling  # tiling.py imports this module's layer classes

        self.tiled = TiledUpsampling(layers)
        self.use_tiles = True
        """Run the upsampling stages in overlapping windows on CPU (equal up to rounding)."""

    def forward(self, z: Tensor) -> Tensor:
        """Decode the continuous latent to audio (on CPU, the upsampling stages in windows)."""
        if not (self.use_tiles and self.tiled.applies(z)):
            return self.model(z)
        return self.tiled(self.model[: self.tiled.start](z))


class Codebook(nn.Module):
    """One codebook ``embed[bins, D]``; nearest codeword by euclidean distance."""

    def __init__(self, dim: int, bins: int) -> None:
        super().__init__()
        self.register_buffer("embed", torch.zeros(bins, dim))
        self.register_buffer("embed_sq", torch.zeros(1, bins), persistent=False)

    def refresh(self) -> None:
        """Cache the squared codeword norms (exactly as the reference computes them per call)."""
        self.embed_sq = self.embed.t().pow(2).sum(0, keepdim=True)

    def quantize(self, x: Tensor) -> Tensor:
        """``x[N, D] -> indices[N]``: argmax of ``-(|x|^2 - 2 x.e + |e|^2)``."""
        dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ self.embed.t() + self.embed_sq)
        return dist.max(dim=-1).indices


class _Layer(nn.Module):
    def __init__(self, dim: int, bins: int) -> None:
        super().__init__()
        self._codebook = Codebook(dim, bins)


class _Layers(nn.Module):
    def __init__(self, dim: int, bins: int, n_q: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(dim, bins) for _ in range(n_q))


class ResidualVectorQuantizer(nn.Module):
    """Residual VQ: each stage quantizes what the previous stages left; decode sums codewords."""

    def __init__(self, dimension: int, n_q: int, bins: int) -> None:
        super().__init__()
        self.dimension, self.n_q, self.bins = dimension, n_q, bins
        self.vq = _Layers(dimension, bins, n_q)

    def codebooks(self) -> list[Codebook]:
        """The stages' codebooks, in order."""
        return [layer._codebook for layer in self.vq.layers]  # type: ignore[union-attr]

    def refresh(self) -> None:
        """Recompute cached codebook norms after the weights changed."""
        for cb in self.codebooks():
            cb.refresh()

    def encode(self, z: Tensor, n_q: int) -> Tensor:
        """Latent ``[B, D, F]`` -> codes ``int64[B, n_q, F]``."""
        b, d, f = z.shape
        residual = z.transpose(1, 2).reshape(b * f, d)
        codes = []
        for cb in self.codebooks()[:n_q]:
            idx = cb.quantize(residual)
            codes.append(idx)
            residual = residual - F.embedding(idx, cb.embed)
        return torch.stack(codes).view(n_q, b, f).transpose(0, 1)

    def decode(self, codes: Tensor) -> Tensor:
        """Codes ``[B, K, F]`` -> latent ``[B, D, F]``: sum of the K codeword embeddings."""
        out: Tensor | float = 0.0
        for k, cb in enumerate(self.codebooks()[: codes.shape[1]]):
            out = out + F.embedding(codes[:, k], cb.embed)
        assert isinstance(out, Tensor)
        return out.transpose(1, 2)


def fold_weight_norm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Replace ``weight_g``/``weight_v`` (or parametrization ``original0/1``) by the plain weight.

    Uses ``torch._weight_norm``, the very function the references call on every forward, so the
    folded weight is bit-identical to the one they recompute.
    """
    out: dict[str, Tensor] = {}
    pairs = (
        (".weight_g", ".weight_v"),
        (".parametrizations.weight.original0", ".parametrizations.weight.original1"),
    )
    for key, value in state.items():
        for g_suffix, v_suffix in pairs:
            if key.endswith(g_suffix):
                prefix = key[: -len(g_suffix)]
                v = state.get(prefix + v_suffix)
                if v is None:
                    raise KeyError(f"{key} has no matching {prefix + v_suffix}")
                out[prefix + ".weight"] = torch._weight_norm(v, value, 0)
                break
            if key.endswith(v_suffix):
                if _prefix_of(key, v_suffix) + g_suffix not in state:
                    raise KeyError(f"{key} has no matching {_prefix_of(key, v_suffix) + g_suffix}")
                break
        else:
            out[key] = value
    return out


def _prefix_of(key: str, suffix: str) -> str:
    """``key`` without ``suffix``."""
    return key[: -len(suffix)]
