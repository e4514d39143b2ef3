"""Tiled encoding is bit-identical to running the SEANet encoder on the whole tensor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotok_encodec import tiling
from audiotok_encodec.modules import SEANetConfig, SEANetDecoder, SEANetEncoder

STEP = tiling._step()
pytestmark = pytest.mark.skipif(
    STEP is None, reason=f"tiling reproduces ATen's AVX2/AVX512 kernels, not {STEP}"
)

CONFIGS = {
    # MusicGen 32 kHz: non-causal, zero padding, identity skips, 64 filters.
    "musicgen": SEANetConfig(channels=1, n_filters=64, ratios=(8, 5, 4, 4), pad_mode="constant",
                             lstm=0),
    # encodec_24khz: causal, reflect padding, 1x1 convolution skips, 32 filters (16 hidden).
    "encodec_24khz": SEANetConfig(channels=1, causal=True, pad_mode="reflect", true_skip=False,
                                  lstm=0),
    # Stereo, two dilated residual layers per stage, reflect padding.
    "stereo_dilated": SEANetConfig(channels=2, n_filters=8, n_residual_layers=2, ratios=(4, 2, 2),
                                   pad_mode="reflect", lstm=0),
}


def encoder(name: str) -> SEANetEncoder:
    torch.manual_seed(0)
    return SEANetEncoder(CONFIGS[name]).eval()


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("n", [5, 31, 32, 1000, 32768, 32769, 65536 + 77, 3 * 32768 + 5])
def test_scalar_tail_is_where_aten_uses_scalar_code(threads, n, n_threads):
    """Rebuilding ELU from SIMD results plus scalar results at ``scalar_tail`` gives ATen's."""
    with threads(n_threads):
        g = torch.Generator().manual_seed(n)
        x = -torch.rand(n, generator=g) * 4
        rebuilt = tiling._elu_vector(x, 1.0, STEP)
        tail = torch.tensor(tiling.scalar_tail(n, n_threads, STEP), dtype=torch.long)
        if tail.numel():
            rebuilt[tail] = tiling._elu_scalar(x[tail], 1.0, STEP)
        assert torch.equal(rebuilt, F.elu(x))


def test_scalar_and_simd_elu_differ_somewhere():
    """Otherwise the tests above could not fail: the two code paths really round differently."""
    x = -torch.rand(4096, generator=torch.Generator().manual_seed(0)) * 4
    assert not torch.equal(tiling._elu_scalar(x, 1.0, STEP), tiling._elu_vector(x, 1.0, STEP))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_probe_accepts_this_machine(threads, n_threads):
    with threads(n_threads):
        assert tiling.tiling_supported()


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(sorted(CONFIGS)),
    batch=st.integers(1, 3),
    frames=st.integers(4, 60),
    remainder=st.integers(0, 700),
    tile=st.integers(2, 40),
    n_threads=st.sampled_from([1, 2]),
)
def test_tiled_equals_whole(threads, name, batch, frames, remainder, tile, n_threads):
    """Any length, batch, tile size and thread count: the latent is bit-identical."""
    enc = encoder(name)
    for stage in enc.tiled.stages:  # cut even the smallest inputs, in time and by item
        stage.frames_per_tile, stage.cache_bytes, stage.min_item_frames = tile, 0, 1
    hop = CONFIGS[name].hop_length
    length = frames * hop + remainder % hop
    x = torch.randn(batch, CONFIGS[name].channels, length, generator=torch.Generator().manual_seed(
        length)) * 0.3
    with threads(n_threads), torch.inference_mode():
        assert enc.tiled.applies(x)
        whole = enc.model(x)  # nn.Sequential: the layers one after the other, untiled
        tiled = enc(x)
    assert torch.equal(tiled, whole)


def test_default_tiles_on_ten_seconds_of_musicgen_audio(threads):
    """The production tile sizes, two threads, a batch of three: the first three stages cut in
    time and by item, the fourth (400 Hz -> 50 Hz) by item only."""
    enc = encoder("musicgen")
    x = torch.randn(3, 1, 10 * 32000 + 37, generator=torch.Generator().manual_seed(3)) * 0.3
    length, cuts = x.shape[-1], []
    for stage in enc.tiled.stages:
        frames = -(-length // stage.stride)
        cuts.append((len(stage.tiles(frames)) > 1, stage.worth_cutting(3, length)))
        length = frames
    assert cuts == [(True, True)] * 3 + [(False, True)]
    with threads(2), torch.inference_mode():
        assert torch.equal(enc(x), enc.model(x))
    routes = enc.model[0].__dict__.get("_gemm_route", {})  # AVX-512: bias last; AVX2: first
    assert routes and None not in routes.values(), "mono first layer not as a matrix product"


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_matrix_product_replaces_onednn_only_where_it_agrees(threads, n_threads):
    """The first call checks the routes and returns oneDNN's numbers; the route recorded is the
    first that agrees on that tile (or none); later calls return the same numbers; changing the
    weights in place checks again."""
    conv = encoder("musicgen").model[0]  # mono, 7 taps
    w = conv.conv.conv
    x = torch.randn(1, 1, 4096, generator=torch.Generator().manual_seed(5)) * 0.3
    with threads(n_threads), torch.inference_mode():
        direct = torch.mkldnn_convolution(x, w.weight, w.bias, [0], [1], [1], 1)
        assert torch.equal(tiling._onednn_conv(conv, x), direct)
        agree = [torch.equal(r()[None], direct) for r in tiling._gemm_routes(w, 7, x)]
        assert list(conv._gemm_route.values()) == [agree.index(True) if True in agree else None]
        assert torch.equal(tiling._onednn_conv(conv, x), direct)
        w.weight.mul_(1.5)
        direct = torch.mkldnn_convolution(x, w.weight, w.bias, [0], [1], [1], 1)
        assert torch.equal(tiling._onednn_conv(conv, x), direct)
        assert len(conv._gemm_route) == 2


@pytest.mark.parametrize("n_threads", [1, 2])
def test_each_convolution_runs_the_kernel_aten_picks(threads, n_threads):
    """One item of 3 s at 1 and 2 threads: every stage is tiled (ATen runs the 1x1
    convolutions through its own matrix product on one thread, through oneDNN on two), the
    1x1 convolutions and the mono first layer run as checked matrix products where oneDNN
    runs, and the latent is bit-identical to the untiled one."""
    enc = encoder("musicgen")
    x = torch.randn(1, 1, 3 * 32000 + 11, generator=torch.Generator().manual_seed(4)) * 0.3
    one_by_one = [c for stage in enc.tiled.stages for c in stage.convs if c.effective_kernel == 1]
    with threads(n_threads), torch.inference_mode():
        h, picked = x, set()
        for stage in enc.tiled.stages[:3]:
            stage.cache_bytes, stage.frames_per_tile = 0, 512
            kernels = stage.kernels(h)
            assert kernels is not None and len(stage.tiles(-(-h.shape[-1] // stage.stride))) > 1
            picked |= {kernels[c] for c in stage.convs if c.effective_kernel == 1}
            h = stage(h, tiling._Env(STEP, n_threads))
        expected = tiling._gemm_1x1_conv if n_threads == 1 else tiling._onednn_conv
        assert picked == {expected}
        assert torch.equal(enc(x), enc.model(x))
    gemm = [c for c in [enc.model[0], *one_by_one] if c.__dict__.get("_gemm_route")]
    assert len(gemm) == (1 if n_threads == 1 else 1 + 3)  # first layer (+ three 1x1 on oneDNN)
    assert all(None not in c._gemm_route.values() for c in gemm)


def test_small_inputs_run_whole():
    """Where tensors stay in cache, or items are short, cutting costs more than it saves."""
    fourth = encoder("musicgen").tiled.stages[3]
    assert fourth.worth_cutting(8, 4000)  # 8 x 10 s: 62 MiB tensors, 500 frames per item
    assert not fourth.worth_cutting(64, 80)  # 64 x 0.2 s: 10 MiB, and 10 frames per item
    assert not fourth.worth_cutting(1, 4000)  # one item, one tile
    assert not fourth.worth_cutting(256, 80)  # 40 MiB, but 10 frames per item
    first = encoder("musicgen").tiled.stages[0]
    assert not first.worth_cutting(1, 32000)  # one 1 s clip: 8 MiB, stays in cache
    assert first.worth_cutting(1, 64000)  # one 2 s clip: 16 MiB, eight tiles


def test_whole_tensor_when_autograd_or_short_or_not_float32():
    enc = encoder("musicgen")
    long = torch.randn(1, 1, 32000 * 4)
    with torch.no_grad():
        assert enc.tiled.applies(long)
        assert not enc.tiled.applies(long.double())
    assert not enc.tiled.applies(long)  # autograd on: the plain layers run
    short = torch.randn(1, 1, 1000)
    with torch.no_grad():
        stage = enc.tiled.stages[0]
        assert len(stage.tiles(-(-short.shape[-1] // stage.stride))) == 1
        assert torch.equal(enc(short), enc.model(short))


def test_time_group_norm_stages_are_not_tiled():
    """GroupNorm over time needs the whole signal: such encoders are not tiled at all."""
    enc = SEANetEncoder(SEANetConfig(channels=2, norm="time_group_norm", lstm=0))
    assert len(enc.tiled) == 0 and not enc.tiled.stages


# -- decoder ------------------------------------------------------------------------------------
def decoder(name: str) -> SEANetDecoder:
    torch.manual_seed(1)
    return SEANetDecoder(CONFIGS[name]).eval()


def assert_close(tiled: torch.Tensor, whole: torch.Tensor) -> None:
    """Equal up to rounding: other kernel widths may round differently, nothing more."""
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() <= 1e-5 * whole.abs().max()


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(sorted(CONFIGS)),
    batch=st.integers(1, 3),
    frames=st.integers(1, 24),
    tile=st.integers(16, 300),
)
def test_decoder_windows_equal_whole_up_to_rounding(name, batch, frames, tile):
    """Any length, batch and window size (cut even the smallest inputs): same audio."""
    dec = decoder(name)
    for stage in dec.tiled.stages:
        stage.tile_samples, stage.cache_bytes = tile, 0
    z = torch.randn(batch, CONFIGS[name].dimension, frames,
                    generator=torch.Generator().manual_seed(frames))
    with torch.inference_mode():
        assert dec.tiled.applies(z)
        assert_close(dec(z), dec.model(z))


def test_decoder_windows_on_ten_seconds_of_musicgen_audio():
    """The production window sizes: the three stages above 400 Hz are cut, the first runs
    whole (its tensors stay in cache); the audio equals the plain run up to rounding."""
    dec = decoder("musicgen")
    z = torch.randn(1, 128, 500, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        assert dec.tiled.cuts(1, z.shape[-1]) == [False, True, True, True]
        assert_close(dec(z), dec.model(z))


def test_decoder_runs_plain_under_autograd_or_when_asked():
    dec = decoder("musicgen")
    z = torch.randn(1, 128, 10)
    assert not dec.tiled.applies(z)  # autograd on
    with torch.no_grad():
        assert dec.tiled.applies(z)

    class Unused:
        def applies(self, x: torch.Tensor) -> bool:
            raise AssertionError("use_tiles = False still asked the windows")

    dec.use_tiles, dec.tiled = False, Unused()
    with torch.no_grad():
        assert torch.equal(dec(z), dec.model(z))
    tgn = SEANetDecoder(SEANetConfig(channels=2, norm="time_group_norm", lstm=0))
    assert not tgn.tiled.stages  # GroupNorm over time needs the whole signal
