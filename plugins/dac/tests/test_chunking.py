"""Chunked encoding gives exactly the whole-input codes, with windows of bounded size."""

from __future__ import annotations

import pytest
import torch

import audiotok


@pytest.mark.parametrize(("name", "sizes"), [("dac_16khz", (1, 5)), ("dac_44khz", (4, 9))])
def test_chunked_codes_identical_to_whole_input(name, sizes, reference, noise):
    ref, path = reference(name)
    tok = audiotok.load(str(path), chunk_seconds=None)
    hop = tok.hop_length
    wav = noise(2, 11 * hop + 101, seed=3)  # 12 frames, the last one partial
    with torch.no_grad():
        whole = tok.encode(wav)[0]
        assert torch.equal(whole, ref.encode(ref.preprocess(wav, ref.sample_rate))[1])
        for chunk_frames in sizes:
            chunked = tok.encode_chunked(wav, chunk_frames=chunk_frames)[0]
            assert torch.equal(chunked, whole), f"chunk_frames={chunk_frames}"
        tok.set_num_codebooks(2)
        assert torch.equal(tok.encode_chunked(wav, chunk_frames=7)[0], whole[:, :2])
        # Chunked decoding reads the frames each window's samples depend on: same audio.
        if name == "dac_16khz":
            audio = tok.decode(whole)
            assert torch.allclose(tok.decode_chunked(whole, chunk_frames=5), audio, atol=1e-5)


def test_chunk_seconds_option_is_the_default_path(small, noise):
    _, path = small
    whole = audiotok.load(str(path), chunk_seconds=None)
    chunked = audiotok.load(str(path), chunk_seconds=0.06)  # 3 frames at 50 Hz
    wav = noise(1, 16000 // 2 + 7, seed=4)
    with torch.no_grad():
        assert torch.equal(chunked.encode(wav)[0], whole.encode(wav)[0])
        assert torch.allclose(chunked.decode(whole.encode(wav)[0]),
                              whole.decode(whole.encode(wav)[0]), atol=1e-5)
    with pytest.raises(ValueError):
        chunked.encode_chunked(wav, chunk_frames=0)[0]


def test_window_size_does_not_grow_with_the_input(small, noise):
    """Memory is bounded: the encoder and decoder only ever see windows of a fixed size."""
    _, path = small
    tok = audiotok.load(str(path), chunk_seconds=None)
    hop, step = tok.hop_length, 4
    lo, hi = tok.model.encoder.needed((0, step - 1))
    enc_bound = (step + 2) * hop + (hi - lo)
    dlo, dhi = tok.model.decoder.needed((0, step * hop - 1))
    dec_bound = dhi - dlo + 1
    seen: list[tuple[str, int]] = []
    tok.model.encoder.register_forward_pre_hook(lambda m, a: seen.append(("enc", a[0].shape[-1])))
    tok.model.decoder.register_forward_pre_hook(lambda m, a: seen.append(("dec", a[0].shape[-1])))
    with torch.no_grad():
        for frames in (10, 40, 160):
            seen.clear()
            codes = tok.encode_chunked(noise(1, frames * hop, seed=frames), chunk_frames=step)[0]
            tok.decode_chunked(codes, chunk_frames=step)
            assert max(n for kind, n in seen if kind == "enc") <= enc_bound
            assert max(n for kind, n in seen if kind == "dec") <= dec_bound
            assert sum(kind == "enc" for kind, _ in seen) == -(-frames // step)


def test_receptive_field_is_exact(small, noise):
    """``needed`` is tight: changing a sample just inside it changes the frame's latent."""
    _, path = small
    encoder = audiotok.load(str(path)).model.encoder
    hop = 320
    frame = 30
    lo, hi = encoder.needed((frame, frame))
    wav = noise(1, 60 * hop, seed=5)
    with torch.no_grad():
        base = encoder(wav)[..., frame]
        for index, changes in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
            poked = wav.clone()
            poked[..., index] += 0.5
            moved = not torch.equal(encoder(poked)[..., frame], base)
            assert moved == changes, f"sample {index} (field [{lo}, {hi}])"
