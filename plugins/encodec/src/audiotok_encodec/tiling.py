"""Cache-sized time tiles for the SEANet encoder, bit-identical to running it whole (and, at
the end of this file, overlapping windows for the decoder, equal up to rounding).

At 32 kHz the first SEANet stages hold 64 channels per sample: a 10 s clip makes 82 MB tensors,
and every activation, padding copy and residual sum streams them through memory. On CPU that
memory traffic, not arithmetic, dominates the encoder. :class:`TiledStages` runs each
downsampling stage (residual blocks, activation, strided convolution) on overlapping time tiles
of a few megabytes, so intermediate tensors stay in cache, and writes only the stage's output.

Exactness. A :class:`_Tile` knows which samples of the whole signal it holds. Convolutions run
without padding inside the signal (a tile simply loses its edge samples) and with the whole
signal's padding where a tile touches its start or end, so every value a tile holds is the
value the whole-tensor run computes there; tiles overlap by a halo covering each stage's
receptive field. Convolutions compute each output from the same inputs in the same order,
whatever the tensor's width, as long as the same kernel runs: tiles run the kernel ATen picks
for the whole tensor (:meth:`_Stage.kernels`). That is oneDNN's (:func:`_onednn_conv`, which
computes a 1x1 or a mono/stereo first layer as a matrix product checked to give the same
bits), or, for a 1x1 convolution on one thread, ATen's own matrix product
(:func:`_gemm_1x1_conv`).

The one catch is the activation: ATen evaluates an elementwise function with SIMD code except
for the last ``n % (2 * SIMD width)`` elements of each thread's share of the tensor, which it
evaluates with scalar code, and scalar and SIMD ``expm1`` can differ in the last bit.
:func:`_reference_elu` therefore recomputes, in each tile, exactly the elements the
whole-tensor call evaluates with scalar code (and, the other way round, those the tile's own
call evaluated with scalar code but the whole-tensor call did not). The partition reproduced is
ATen's: ``at::parallel_for`` with grain 32768 over ``torch.get_num_threads()`` threads, 2
vectors per step. :func:`tiling_supported` checks it once per thread count on a probe built to
expose a wrong model; if it fails, the encoder runs whole.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .modules import ResnetBlock, SConv1d, SConvTranspose1d, _pad1d

_GRAIN = 32768  # at::internal::GRAIN_SIZE
_FLOATS_PER_VECTOR = {"AVX512": 16, "AVX2": 8}
_HAVE_ATEN_HOOKS = hasattr(torch._C, "_select_conv_backend") and hasattr(
    torch, "mkldnn_convolution"
)  # how ATen picks a convolution kernel, and oneDNN's, called directly
_GEMM_MAX_PRODUCTS = 16  # C_in * K of a convolution computed as one matrix product
TILE_FRAMES = (2048, 1024, 1024, 1 << 30)
"""Output frames per tile of the first, second, third and later stages (measured best for the
MusicGen 32 kHz encoder on a 2-core CPU with 1 MB L2 and 32 MB L3 caches; on one with 2 MB L2,
sizes up to 4x larger were within 2 %; ``1 << 30``: each item whole). Tiles hold one item
each: a batch is also cut by item where time is not, when that pays (see
:meth:`_Stage.worth_cutting`)."""
_ITEM_MIN_FRAMES = 256  # for shorter items oneDNN's per-call costs outweigh the gain
_CACHE_BYTES = 12 << 20  # a stage whose largest whole-batch tensor fits this runs whole
_Kernel = Callable[[SConv1d, Tensor], Tensor]  # an unpadded convolution of x[1, C_in, T]


# -- ATen's scalar tails -----------------------------------------------------------------------
def _step() -> int | None:
    """Elements per iteration of ATen's vectorised loop (2 vectors), or None if unknown."""
    per_vector = _FLOATS_PER_VECTOR.get(torch.backends.cpu.get_cpu_capability())
    return None if per_vector is None else 2 * per_vector


def scalar_tail(n: int, threads: int, step: int) -> list[int]:
    """Flat indices ATen evaluates with scalar code in a unary op on ``n`` contiguous floats.

    ``at::parallel_for(0, n, 32768)`` gives thread ``i`` of ``min(threads, ceil(n / 32768))``
    the range ``[i * chunk, (i + 1) * chunk)``, ``chunk = ceil(n / tasks)``; each thread runs the
    SIMD loop in steps of ``step`` elements and the remainder in scalar code.
    """
    if n < _GRAIN or threads == 1:
        bounds = [(0, n)]
    else:
        tasks = min(threads, -(-n // _GRAIN))
        chunk = -(-n // tasks)
        bounds = [(i * chunk, min(n, (i + 1) * chunk)) for i in range(tasks) if i * chunk < n]
    return [i for start, end in bounds for i in range(end - (end - start) % step, end)]


def _elu_scalar(values: Tensor, alpha: float, step: int) -> Tensor:
    """ELU of each value with ATen's scalar code (calls on fewer elements than one step)."""
    return torch.cat([F.elu(part.contiguous(), alpha) for part in values.split(step - 1)])


def _elu_vector(values: Tensor, alpha: float, step: int) -> Tensor:
    """ELU of each value with ATen's SIMD code: calls on whole numbers of steps, each below
    ATen's grain (so one thread runs it, with no remainder)."""
    n = values.numel()
    padded = values.new_zeros(-(-n // step) * step)
    padded[:n] = values
    piece = (_GRAIN - 1) // step * step
    return torch.cat([F.elu(part, alpha) for part in padded.split(piece)])[:n]


@dataclass(frozen=True)
class _Tile:
    """Samples ``[start, start + width)`` of item ``b`` of a ``[batch, C, length]`` signal."""

    data: Tensor
    start: int
    length: int
    b: int
    batch: int

    @property
    def end(self) -> int:
        return self.start + self.data.shape[-1]

    def holding(self, data: Tensor, start: int, length: int | None = None) -> _Tile:
        return _Tile(data, start, self.length if length is None else length, self.b, self.batch)


@dataclass(frozen=True)
class _Env:
    """ATen's SIMD ``step``, the thread count of the run (tiles and whole tensor alike) and the
    kernel each convolution of the stage runs (see :meth:`_Stage.kernels`)."""

    step: int
    threads: int
    kernels: dict[SConv1d, _Kernel] = field(default_factory=dict)


def _reference_elu(alpha: float, tile: _Tile, env: _Env, inplace: bool) -> _Tile:
    """ELU of a contiguous tile, bit-identical to ELU of the whole ``[batch, C, length]`` tensor."""
    x = tile.data
    channels, width, step = x.shape[1], x.shape[2], env.step
    ours = set(scalar_tail(x.numel(), env.threads, step))
    theirs = set()
    plane = channels * tile.length
    for flat in scalar_tail(tile.batch * plane, env.threads, step):
        b, rest = divmod(flat, plane)
        c, t = divmod(rest, tile.length)
        if b == tile.b and tile.start <= t < tile.end:
            theirs.add(c * width + t - tile.start)
    fixes = []  # (positions, their inputs, how to recompute), inputs saved before an in-place ELU
    for positions, recompute in ((theirs - ours, _elu_scalar), (ours - theirs, _elu_vector)):
        if positions:
            idx = torch.tensor(sorted(positions), dtype=torch.long, device=x.device)
            fixes.append((idx, x.view(-1)[idx], recompute))
    y = F.elu(x, alpha, inplace=inplace)
    for idx, values, recompute in fixes:
        y.view(-1)[idx] = recompute(values, alpha, step)
    return tile.holding(y, tile.start)


def tiling_supported() -> bool:
    """Whether :func:`_reference_elu` reproduces ATen on this machine and thread count.

    Checked once per thread count on a probe whose scalar tails hold values where scalar and
    SIMD ``expm1`` disagree, so a wrong model of ATen's partition shows up as a mismatch.
    """
    return _probe(torch.get_num_threads())


@functools.cache
def _probe(threads: int) -> bool:
    step = _step()
    if step is None or not _HAVE_ATEN_HOOKS or not torch.backends.mkldnn.is_available():
        return False
    gen = torch.Generator().manual_seed(0)
    candidates = -torch.rand(4096, generator=gen) * 4
    differ = candidates[_elu_scalar(candidates, 1.0, step) != _elu_vector(candidates, 1.0, step)]
    channels, length = 3, 2 * _GRAIN // 3 + 7  # spans two threads' shares, odd tails
    x = -torch.rand(1, channels, length, generator=gen) * 4
    for i, pos in enumerate(scalar_tail(x.numel(), threads, step)):
        if differ.numel():
            x.view(-1)[pos] = differ[i % differ.numel()]
    whole = F.elu(x)
    cut, env = length // 3, _Env(step, threads)
    parts = [
        _reference_elu(1.0, _Tile(x[..., a:e].contiguous(), a, length, 0, 1), env, True).data
        for a, e in ((0, cut), (cut, length))
    ]
    return torch.equal(torch.cat(parts, dim=-1), whole)


# -- layers on tiles -------------------------------------------------------------------------------
def _conv(conv: SConv1d, tile: _Tile, env: _Env) -> _Tile:
    """The outputs of ``conv`` that the tile determines (padded only at the signal's ends).

    Runs the kernel ATen picks for the whole tensor, found by :meth:`_Stage.kernels` (for a
    narrow one-item tile ATen would pick another, with other rounding).
    """
    left, right = conv.padding(tile.length)
    x, start = tile.data, tile.start
    pad_left = left if start == 0 else 0
    pad_right = right if tile.end == tile.length else 0
    if pad_left or pad_right:
        x = _pad1d(x, pad_left, pad_right, conv.pad_mode)
        start -= pad_left
    s, k = conv.stride, conv.effective_kernel
    first = -(-(start + left) // s)  # output j reads padded input [j*s, j*s + k) = [.. - left]
    offset = first * s - left - start
    y = env.kernels[conv](conv, x[..., offset:].contiguous())
    return tile.holding(y, first, (tile.length + left + right - k) // s + 1)


def _onednn_conv(conv: SConv1d, x: Tensor) -> Tensor:
    """oneDNN's unpadded convolution of ``x[1, C_in, T]``, or the same numbers by a faster route.

    Two shapes have a matrix product doing oneDNN's arithmetic without its conversions to and
    from its blocked layout (several times faster on narrow tiles):

    - few input channels (a mono or stereo first layer): oneDNN accumulates the ``C_in * K``
      products of one output in a single chain of fused multiply-adds, adding the bias last
      (its AVX-512 kernel), as ``bias + W @ unfold(x)`` (rows ordered tap, channel) does, or
      starting from it (its AVX2 kernel), as ``[bias | W] @ [1; unfold(x)]`` does;
    - a 1x1 convolution: oneDNN starts each output from the bias and adds the input channels
      in order, as ``[bias | W] @ [1; x]`` does.

    Which route agrees bit for bit, if any, is checked on the first tile for each weights and
    thread count (and recorded in the convolution's ``_gemm_route``); where none does, oneDNN
    runs.
    """
    w = conv.conv.conv
    k, (s,), (d,) = conv.effective_kernel, w.stride, w.dilation
    direct = lambda: torch.mkldnn_convolution(x, w.weight, w.bias, [0], [s], [d], 1)  # noqa: E731
    routes = _gemm_routes(w, k, x)
    if not routes:
        return direct()
    key = (torch.get_num_threads(), w.weight.data_ptr(), w.weight._version, w.bias._version)
    chosen = conv.__dict__.setdefault("_gemm_route", {})
    if key not in chosen:
        reference = direct()
        agreeing = (i for i, r in enumerate(routes) if torch.equal(r().unsqueeze(0), reference))
        chosen[key] = next(agreeing, None)
        return reference
    i = chosen[key]
    return direct() if i is None else routes[i]().unsqueeze(0)


def _gemm_routes(w: nn.Conv1d, k: int, x: Tensor) -> list[Callable[[], Tensor]]:
    """The matrix products that may reproduce oneDNN's convolution of ``x`` (see
    :func:`_onednn_conv`), their operands built only when one is called; none where the
    convolution is strided, dilated, without bias, or neither narrow nor 1x1."""
    few = w.in_channels * k <= _GEMM_MAX_PRODUCTS
    if w.stride != (1,) or w.dilation != (1,) or w.bias is None or not (few or k == 1):
        return []

    def operands() -> tuple[Tensor, Tensor]:
        if not few:  # a 1x1 convolution
            return w.weight[:, :, 0], x[0]
        taps = x[0].unfold(1, k, 1).permute(2, 0, 1).reshape(k * w.in_channels, -1)
        return w.weight.permute(0, 2, 1).reshape(w.out_channels, -1), taps

    def bias_last() -> Tensor:
        return torch.addmm(w.bias.unsqueeze(1), *operands())

    def bias_first() -> Tensor:
        weight, taps = operands()
        ones = taps.new_ones(1, taps.shape[-1])
        return torch.cat([w.bias.unsqueeze(1), weight], dim=1) @ torch.cat([ones, taps])

    return [bias_last, bias_first] if few else [bias_first]


def _gemm_1x1_conv(conv: SConv1d, x: Tensor) -> Tensor:
    """ATen's own 1x1 convolution of ``x[1, C_in, T]`` (``Slow2d``, what it runs on one thread
    for fewer than 16 items): the bias copied into the output, then ``W @ x`` added by BLAS."""
    w = conv.conv.conv
    bias = w.bias.unsqueeze(1).expand(w.out_channels, x.shape[-1])
    return torch.addmm(bias, w.weight[:, :, 0], x[0]).unsqueeze(0)


def _run(layer: nn.Module, tile: _Tile, env: _Env, inplace: bool = True) -> _Tile:
    if isinstance(layer, nn.ELU):
        return _reference_elu(layer.alpha, tile, env, inplace)
    if isinstance(layer, SConv1d):
        return _conv(layer, tile, env)
    if isinstance(layer, ResnetBlock):
        h = tile
        for i, sub in enumerate(layer.block):
            h = _run(sub, h, env, inplace=i > 0)  # the block's input is also the skip's
        skip = _conv(layer.shortcut, tile, env) if isinstance(layer.shortcut, SConv1d) else tile
        lo = h.start - skip.start
        # in place: the block's last convolution made h.data; x + y rounds as y + x does
        return h.holding(h.data.add_(skip.data[..., lo : lo + h.data.shape[-1]]), h.start)
    raise TypeError(f"cannot tile {type(layer).__name__}")


def _convs(layer: nn.Module) -> list[SConv1d]:
    return [m for m in layer.modules() if isinstance(m, SConv1d)]


def _tileable(layer: nn.Module) -> bool:
    if isinstance(layer, nn.ELU):
        return True
    if isinstance(layer, SConv1d):
        return not layer.has_norm
    if isinstance(layer, ResnetBlock):
        return all(_tileable(m) for m in layer.block) and all(
            not c.has_norm and c.stride == 1 for c in _convs(layer)
        )
    return False


class _Stage:
    """Layers up to and including one strided convolution, cut into tiles of ``frames_per_tile``
    output frames (the encoder sets it per stage; see :data:`TILE_FRAMES`)."""

    def __init__(self, layers: list[nn.Module], frames_per_tile: int) -> None:
        self.layers = layers
        self.convs = [conv for layer in layers for conv in _convs(layer)]
        self.stride, halo, self.floats_per_sample = 1, 0, 0.0
        for conv in self.convs:  # floats per input sample: the stage's largest tensor's size
            halo += (conv.effective_kernel + conv.stride) * self.stride
            w = conv.conv.conv
            self.floats_per_sample = max(self.floats_per_sample, w.in_channels / self.stride,
                                         w.out_channels / (self.stride * conv.stride))
            self.stride *= conv.stride
        self.halo = -(-halo // self.stride) * self.stride
        self.frames_per_tile = frames_per_tile
        self.cache_bytes = _CACHE_BYTES
        self.min_item_frames = _ITEM_MIN_FRAMES

    def tiles(self, frames: int) -> list[tuple[int, int]]:
        """Output frame ranges of about ``frames_per_tile``; the last is never under half."""
        per = self.frames_per_tile
        starts = list(range(0, frames, per))
        if len(starts) > 1 and frames - starts[-1] < per // 2:
            starts.pop()
        return [(s, starts[i + 1] if i + 1 < len(starts) else frames) for i, s in enumerate(starts)]

    def worth_cutting(self, batch: int, length: int) -> bool:
        """Whether to cut a float32 ``[batch, C, length]`` input. Not where the stage's largest
        whole-batch tensor stays in cache (``cache_bytes``); else where items are longer than a
        tile, or, for a batch, where items have ``min_item_frames`` output frames or more, to
        amortise oneDNN's per-call costs. Measured on MusicGen 32 kHz, 2 threads: one 1 s clip,
        first two stages, 29 ms whole, 27-31 ms cut; two 2 s clips, 187 ms whole, 109 ms cut.
        Fourth stage: batch 8 of 10 s, 0.87 s whole, 0.59 s cut by item; batch 64 of 0.2 s,
        0.10 s whole, 0.54 s cut by item."""
        frames = -(-length // self.stride)
        if batch * length * self.floats_per_sample * 4 <= self.cache_bytes:
            return False
        return len(self.tiles(frames)) >= 2 or (batch >= 2 and frames >= self.min_item_frames)

    def kernels(self, x: Tensor) -> dict[SConv1d, _Kernel] | None:
        """The kernel each convolution runs on tiles: the one ATen picks for the whole ``x``
        (oneDNN; or, for a 1x1 convolution, ATen's matrix product, which it prefers on one
        thread), or None where ATen would pick one the tiles do not reproduce."""
        batch, _, length = x.shape
        kernels: dict[SConv1d, _Kernel] = {}
        for conv in self.convs:
            w = conv.conv.conv
            # an unwritten tensor of the whole shape (an expanded one would be copied whole)
            whole = x.new_empty(batch, w.in_channels, length + sum(conv.padding(length)))
            backend = torch._C._select_conv_backend(
                whole, w.weight, w.bias, [conv.stride], [0], list(w.dilation), False, [0], 1, None
            )
            if backend == torch._C._ConvBackend.Mkldnn:
                kernels[conv] = _onednn_conv
            elif (
                backend == torch._C._ConvBackend.Slow2d
                and conv.effective_kernel == conv.stride == 1
                and w.bias is not None
            ):
                kernels[conv] = _gemm_1x1_conv
            else:
                return None
            length = (whole.shape[-1] - conv.effective_kernel) // conv.stride + 1
        return kernels

    def __call__(self, x: Tensor, env: _Env) -> Tensor:
        batch, _, length = x.shape
        kernels = self.kernels(x) if self.worth_cutting(batch, length) else None
        if kernels is None:
            for layer in self.layers:
                x = layer(x)
            return x
        env = _Env(env.step, env.threads, kernels)
        frames = -(-length // self.stride)
        tiles = self.tiles(frames)
        out: Tensor | None = None
        for b in range(batch):
            for o0, o1 in tiles:
                y = self._tile(x, b, o0, o1, frames, env)
                if out is None:
                    out = x.new_empty(batch, y.shape[0], frames)
                out[b, :, o0:o1] = y
        assert out is not None
        return out

    def _tile(self, x: Tensor, b: int, o0: int, o1: int, frames: int, env: _Env) -> Tensor:
        """Output frames ``[o0, o1)`` of item ``b`` (of ``frames``)."""
        length = x.shape[-1]
        a = max(0, o0 * self.stride - self.halo)
        e = min(length, o1 * self.stride + self.halo)
        tile = _Tile(x[b : b + 1, :, a:e].contiguous(), a, length, b, x.shape[0])
        for layer in self.layers:
            tile = _run(layer, tile, env)
        if tile.start > o0 or tile.end < o1 or tile.length != frames:
            raise RuntimeError(f"tile [{a}, {e}) does not determine frames [{o0}, {o1})")
        return tile.data[0, :, o0 - tile.start : o1 - tile.start]


class TiledStages:
    """The encoder's leading downsampling stages, run on cache-sized time tiles.

    Covers the longest prefix of the encoder's layers made of ELU activations, residual blocks
    and convolutions without time-group norm, cut after each strided convolution;
    ``len(self)`` is the number of layers covered.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        self.stages: list[_Stage] = []
        current: list[nn.Module] = []
        for layer in layers:
            if not _tileable(layer):
                break
            current.append(layer)
            if isinstance(layer, SConv1d) and layer.stride > 1:
                per = TILE_FRAMES[min(len(self.stages), len(TILE_FRAMES) - 1)]
                self.stages.append(_Stage(current, per))
                current = []
        self.covered = sum(len(stage.layers) for stage in self.stages)

    def __len__(self) -> int:
        return self.covered

    def applies(self, x: Tensor) -> bool:
        """For inference (no autograd) on CPU float32 where ATen's partition is reproduced."""
        return (
            bool(self.stages)
            and not torch.is_grad_enabled()
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and tiling_supported()
        )

    def __call__(self, x: Tensor) -> Tensor:
        """Run the covered layers on ``x[B, C, T]``; equals running them on the whole tensor."""
        step, threads = _step(), torch.get_num_threads()
        assert step is not None
        env = _Env(step, threads)
        for stage in self.stages:
            x = stage(x, env)
        return x


# -- decoder: overlapping windows, equal up to rounding ----------------------------------------
DECODER_TILE_BYTES = 2 << 20
"""Size of a decoder tile's widest float32 tensor (measured best for MusicGen 32 kHz on a 2-core
CPU with 2 MB L2 per core: 2048, 4096 and 8192 samples in the 256-, 128- and 64-channel
stages)."""


def _is_activation_module(layer: nn.Module) -> bool:
    return type(layer).__module__ == "torch.nn.modules.activation"


def _decoder_tileable(layer: nn.Module) -> bool:
    if _is_activation_module(layer):
        return True
    if isinstance(layer, SConv1d):
        return layer.stride == 1 and not layer.has_norm
    if isinstance(layer, SConvTranspose1d):
        return not layer.has_norm
    if isinstance(layer, ResnetBlock):
        return all(_decoder_tileable(m) for m in layer.block) and all(
            c.stride == 1 and not c.has_norm for c in _convs(layer)
        )
    return False


class _UpStage:
    """An activation, a transposed convolution and what follows it up to the next such pair,
    run on overlapping windows of its input: each window goes through the plain layers, and
    only the outputs that the window's edges cannot reach are kept."""

    def __init__(self, layers: list[nn.Module]) -> None:
        self.layers = layers
        self.up, reach = 1, 0.0  # reach: how far an output depends on inputs, in input frames
        for layer in layers:
            for m in layer.modules():
                if isinstance(m, SConv1d):
                    reach += m.effective_kernel / self.up
                elif isinstance(m, SConvTranspose1d):
                    convtr = m.convtr.convtr
                    reach += convtr.kernel_size[0] / convtr.stride[0] + 1
                    self.up *= convtr.stride[0]
        self.halo = math.ceil(reach) + 1
        self.channels = max(  # the widest tensor's channels (to size the whole-batch tensors)
            m.out_channels
            for layer in layers
            for m in layer.modules()
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))
        )
        self.tile_samples = max(256, DECODER_TILE_BYTES // (4 * self.channels))
        self.cache_bytes = _CACHE_BYTES

    def worth_cutting(self, batch: int, frames: int) -> bool:
        """Whether to cut a ``[batch, C, frames]`` input: not where the whole-batch output
        stays in cache (``cache_bytes``) or fits one window."""
        length = frames * self.up
        return batch * length * self.channels * 4 > self.cache_bytes and length > self.tile_samples

    def __call__(self, x: Tensor) -> Tensor:
        batch, _, frames = x.shape
        length = frames * self.up
        if not self.worth_cutting(batch, frames):
            for layer in self.layers:
                x = layer(x)
            return x
        out: Tensor | None = None
        for b in range(batch):
            for o0 in range(0, length, self.tile_samples):
                o1 = min(length, o0 + self.tile_samples)
                w0 = max(0, o0 // self.up - self.halo)
                w1 = min(frames, -(-o1 // self.up) + self.halo)
                y = x[b : b + 1, :, w0:w1]
                for layer in self.layers:
                    y = layer(y)
                if out is None:
                    out = x.new_empty(batch, y.shape[1], length)
                out[b, :, o0:o1] = y[0, :, o0 - w0 * self.up : o1 - w0 * self.up]
        assert out is not None
        return out


class TiledUpsampling:
    """The decoder's trailing upsampling stages, run on overlapping windows (CPU inference).

    Covers the longest suffix of the decoder's layers made of activations, residual blocks,
    convolutions and transposed convolutions without time-group norm, from the first
    activation that precedes a transposed convolution; ``self.start`` is the index of its
    first layer. Unlike the encoder's tiles, these are not bit-identical to the whole-tensor
    run (each window's convolutions may run other kernels, which round differently): decoded
    audio is only required to match within 1e-4 relative, and the windows keep it within about
    1e-6.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        start = len(layers)
        while start > 0 and _decoder_tileable(layers[start - 1]):
            start -= 1
        pairs = [
            i
            for i in range(start, len(layers) - 1)
            if _is_activation_module(layers[i]) and isinstance(layers[i + 1], SConvTranspose1d)
        ]
        self.start = pairs[0] if pairs else len(layers)
        bounds = pairs + [len(layers)]
        self.stages = [_UpStage(layers[a:e]) for a, e in zip(bounds, bounds[1:], strict=False)]

    def applies(self, x: Tensor) -> bool:
        """For inference (no autograd) on CPU."""
        return bool(self.stages) and not torch.is_grad_enabled() and x.device.type == "cpu"

    def cuts(self, batch: int, frames: int) -> list[bool]:
        """Which stages cut an input of ``batch`` items and ``frames`` latent frames."""
        cuts = []
        for stage in self.stages:
            cuts.append(stage.worth_cutting(batch, frames))
            frames *= stage.up
        return cuts

    def __call__(self, x: Tensor) -> Tensor:
        """Run the covered layers on ``x[B, C, F]``; equals the plain run up to rounding."""
        for stage in self.stages:
            x = stage(x)
        return x
