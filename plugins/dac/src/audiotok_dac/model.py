"""A native PyTorch DAC network (Kumar et al. 2023; descript-audio-codec 1.0.0).

The modules mirror ``dac.model.dac`` layer for layer, with the same ``state_dict`` keys
(``encoder.block.*``, ``quantizer.quantizers.*``, ``decoder.model.*``, weight-norm pairs
``weight_g``/``weight_v``), so DAC's release ``.pth`` files load with a strict key check and
without ``import dac``. Every operation that decides a code is the same aten call in the same
order as in descript-audio-codec (weight norm via ``torch._weight_norm``, the snake activation,
the L2-normalised nearest-codeword search, the straight-through residual update), so codes are
bit-identical to DAC's own ``encode`` on the same device.

Each layer also knows which input interval an output interval depends on (``needed``), which
gives the exact receptive field used for chunked encoding and decoding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Interval = tuple[int, int]  # inclusive [lo, hi] sample (or frame) indices


class Snake1d(nn.Module):
    """Snake activation ``x + sin(alpha x)^2 / (alpha + 1e-9)``, learned ``alpha[1, C, 1]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the activation (same expression as DAC's scripted ``snake``)."""
        shape = x.shape
        x = x.reshape(shape[0], shape[1], -1)
        x = x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)
        return x.reshape(shape)

    def needed(self, out: Interval) -> Interval:
        """Pointwise: an output interval needs the same input interval."""
        return out


class _WeightNorm:
    """Weight normalisation over dim 0 stored as ``weight_g``/``weight_v`` (DAC's keys).

    ``weight = g * v / ||v||`` is computed with ``torch._weight_norm``, the call behind both
    ``torch.nn.utils.weight_norm`` and its parametrization, so it is bit-identical to DAC's.
    Without autograd the result is cached until ``g`` or ``v`` change (in place or by moving).
    """

    weight_g: nn.Parameter
    weight_v: nn.Parameter
    _cache: tuple[tuple[int, ...], Tensor] | None

    def _split_weight(self) -> None:
        weight = self.weight  # type: ignore[has-type]
        del self.weight  # type: ignore[has-type]
        self.weight_g = nn.Parameter(torch.norm_except_dim(weight, 2, 0).data)
        self.weight_v = nn.Parameter(weight.data)
        self._cache = None

    def normalized_weight(self) -> Tensor:
        """The effective convolution weight."""
        g, v = self.weight_g, self.weight_v
        if torch.is_grad_enabled():
            return torch._weight_norm(v, g, 0)
        key = (g._version, v._version, g.data_ptr(), v.data_ptr())
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, torch._weight_norm(v, g, 0))
        return self._cache[1]


class WNConv1d(_WeightNorm, nn.Conv1d):
    """``Conv1d`` with weight normalisation, like ``weight_norm(nn.Conv1d(...))`` in DAC."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._split_weight()

    def forward(self, x: Tensor) -> Tensor:
        """Convolve with the normalised weight."""
        return self._conv_forward(x, self.normalized_weight(), self.bias)

    def needed(self, out: Interval) -> Interval:
        """Input samples ``[lo, hi]`` that outputs ``out`` read (zero padding included)."""
        (s,), (p,), (d,), (k,) = self.stride, self.padding, self.dilation, self.kernel_size
        return out[0] * s - p, out[1] * s - p + d * (k - 1)


class WNConvTranspose1d(_WeightNorm, nn.ConvTranspose1d):
    """``ConvTranspose1d`` with weight normalisation over dim 0 (per input channel), as in DAC."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._split_weight()

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Transposed convolution with the normalised weight."""
        return F.conv_transpose1d(x, self.normalized_weight(), self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)

    def needed(self, out: Interval) -> Interval:
        """Input frames that outputs ``out`` depend on: ``out = i * s + tap - p``."""
        (s,), (p,), (k,) = self.stride, self.padding, self.kernel_size
        return -(-(out[0] + p - k + 1) // s), (out[1] + p) // s


class Stack(nn.Sequential):
    """``nn.Sequential`` whose ``needed`` composes its layers' from the output backwards."""

    def needed(self, out: Interval) -> Interval:
        """Input interval of the whole stack."""
        for layer in reversed(self):
            if hasattr(layer, "needed"):
                out = layer.needed(out)
        return out


class ResidualUnit(nn.Module):
    """``x + conv1x1(snake(conv7_dilated(snake(x))))`` (lengths are preserved)."""

    def __init__(self, dim: int, dilation: int = 1) -> None:
        super().__init__()
        pad = ((7 - 1) * dilation) // 2
        self.block = Stack(Snake1d(dim), WNConv1d(dim, dim, kernel_size=7, dilation=dilation,
                                                  padding=pad),
                           Snake1d(dim), WNConv1d(dim, dim, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        """Residual connection (cropping as DAC does, a no-op for its padding)."""
        y = self.block(x)
        pad = (x.shape[-1] - y.shape[-1]) // 2
        if pad > 0:
            x = x[..., pad:-pad]
        return x + y

    def needed(self, out: Interval) -> Interval:
        """The block's interval (it contains the identity branch's)."""
        lo, hi = self.block.needed(out)
        return min(lo, out[0]), max(hi, out[1])


def _encoder_block(dim: int, stride: int) -> Stack:
    return Stack(ResidualUnit(dim // 2, 1), ResidualUnit(dim // 2, 3), ResidualUnit(dim // 2, 9),
                 Snake1d(dim // 2),
                 WNConv1d(dim // 2, dim, kernel_size=2 * stride, stride=stride,
                          padding=math.ceil(stride / 2)))


class _Wrapped(nn.Module):
    """A module holding one ``block`` stack (keeps DAC's ``...block.N.block.M`` key layout)."""

    def __init__(self, block: Stack) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        """Run the stack."""
        return self.block(x)

    def needed(self, out: Interval) -> Interval:
        """The stack's interval."""
        return self.block.needed(out)


class Encoder(nn.Module):
    """Waveform ``[B, 1, T]`` -> latent ``[B, D, T / hop]`` (``encoder.block.*``)."""

    def __init__(self, d_model: int, strides: Sequence[int], d_latent: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(1, d_model, kernel_size=7, padding=3)]
        for stride in strides:
            d_model *= 2
            layers.append(_Wrapped(_encoder_block(d_model, stride)))
        layers += [Snake1d(d_model), WNConv1d(d_model, d_latent, kernel_size=3, padding=1)]
        self.block = Stack(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Encode a (hop-padded) waveform."""
        return self.block(x)

    def needed(self, out: Interval) -> Interval:
        """Input samples that latent frames ``out`` depend on."""
        return self.block.needed(out)


def _decoder_block(input_dim: int, output_dim: int, stride: int) -> Stack:
    return Stack(Snake1d(input_dim),
                 WNConvTranspose1d(input_dim, output_dim, kernel_size=2 * stride, stride=stride,
                                   padding=math.ceil(stride / 2)),
                 ResidualUnit(output_dim, 1), ResidualUnit(output_dim, 3),
                 ResidualUnit(output_dim, 9))


class Decoder(nn.Module):
    """Latent ``[B, D, F]`` -> waveform ``[B, 1, ~F * hop]`` (``decoder.model.*``)."""

    def __init__(self, input_channel: int, channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(input_channel, channels, kernel_size=7, padding=3)]
        output_dim = channels
        for i, stride in enumerate(rates):
            output_dim = channels // 2 ** (i + 1)
            layers.append(_Wrapped(_decoder_block(channels // 2**i, output_dim, stride)))
        layers += [Snake1d(output_dim), WNConv1d(output_dim, 1, kernel_size=7, padding=3),
                   nn.Tanh()]
        self.model = Stack(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Decode a latent sequence."""
        return self.model(z)

    def needed(self, out: Interval) -> Interval:
        """Latent frames that output samples ``out`` depend on."""
        return self.model.needed(out)


class VectorQuantize(nn.Module):
    """One factorised, L2-normalised VQ stage: ``in_proj`` -> nearest codeword -> ``out_proj``."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.in_proj = WNConv1d(input_dim, codebook_dim, kernel_size=1)
        self.out_proj = WNConv1d(codebook_dim, input_dim, kernel_size=1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def quantize(self, residual: Tensor) -> tuple[Tensor, Tensor]:
        """``residual[B, D, F]`` -> (indices ``[B, F]``, the stage's output ``[B, D, F]``)."""
        z_e = self.in_proj(residual)
        batch, dim = z_e.shape[:2]
        encodings = F.normalize(z_e.transpose(1, 2).reshape(-1, dim))
        codebook = F.normalize(self.codebook.weight)
        dist = (encodings.pow(2).sum(1, keepdim=True) - 2 * encodings @ codebook.t()
                + codebook.pow(2).sum(1, keepdim=True).t())
        indices = (-dist).max(1)[1].reshape(batch, -1)
        z_q = self.decode_code(indices)
        z_q = z_e + (z_q - z_e).detach()  # straight-through, kept for DAC's exact rounding
        return indices, self.out_proj(z_q)

    def decode_code(self, indices: Tensor) -> Tensor:
        """Indices ``[B, F]`` -> unnormalised codewords ``[B, codebook_dim, F]``."""
        return F.embedding(indices, self.codebook.weight).transpose(1, 2)


class ResidualVectorQuantize(nn.Module):
    """Residual VQ over ``n_codebooks`` stages (``quantizer.quantizers.N.*``); inference only."""

    def __init__(self, input_dim: int, n_codebooks: int, codebook_size: int,
                 codebook_dim: int | Sequence[int]) -> None:
        super().__init__()
        dims = [codebook_dim] * n_codebooks if isinstance(codebook_dim, int) else list(codebook_dim)
        self.quantizers = nn.ModuleList(
            VectorQuantize(input_dim, codebook_size, dims[i]) for i in range(n_codebooks))

    def encode(self, z: Tensor, n_quantizers: int) -> Tensor:
        """Latent ``[B, D, F]`` -> codes ``int64[B, n_quantizers, F]`` (DAC's eval-mode encode)."""
        residual, codes = z, []
        for quantizer in self.quantizers[:n_quantizers]:
            indices, z_q = quantizer.quantize(residual)
            residual = residual - z_q
            codes.append(indices)
        return torch.stack(codes, dim=1)

    def from_codes(self, codes: Tensor) -> Tensor:
        """Codes ``[B, K, F]`` -> quantized latent ``[B, D, F]`` (sum of projected codewords)."""
        z_q: Tensor | float = 0.0
        for i in range(codes.shape[1]):
            z_q = z_q + self.quantizers[i].out_proj(self.quantizers[i].decode_code(codes[:, i]))
        assert isinstance(z_q, Tensor)
        return z_q


class DACNetwork(nn.Module):
    """The DAC codec network with ``dac.DAC``'s constructor arguments and ``state_dict`` keys."""

    def __init__(self, encoder_dim: int = 64, encoder_rates: Sequence[int] = (2, 4, 8, 8),
                 latent_dim: int | None = None, decoder_dim: int = 1536,
                 decoder_rates: Sequence[int] = (8, 8, 4, 2), n_codebooks: int = 9,
                 codebook_size: int = 1024, codebook_dim: int | Sequence[int] = 8,
                 sample_rate: int = 44100) -> None:
        super().__init__()
        if latent_dim is None:
            latent_dim = encoder_dim * 2 ** len(encoder_rates)
        self.sample_rate = int(sample_rate)
        self.hop_length = math.prod(encoder_rates)
        self.latent_dim = latent_dim
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.encoder = Encoder(encoder_dim, encoder_rates, latent_dim)
        self.quantizer = ResidualVectorQuantize(latent_dim, n_codebooks, codebook_size,
                                                codebook_dim)
        self.decoder = Decoder(latent_dim, decoder_dim, decoder_rates)
