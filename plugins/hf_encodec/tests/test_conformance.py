"""audiotok's conformance suite on the three public configurations (random weights)."""

from __future__ import annotations

import pytest

import audiotok
import audiotok.testing
from audiotok_hf_encodec._config import HUB_CONFIGS


@pytest.mark.parametrize("repo", list(HUB_CONFIGS))
def test_conformance(repo, checkpoints):
    name = "hf_" + repo.split("/")[1]
    tok = audiotok.load(name, checkpoint=checkpoints[repo])
    assert tok.spec.name == name
    # Up to 12 frames (< one 48 kHz chunk): the suite's |T' - F * hop| < hop check assumes no
    # chunk overlap; multi-chunk lengths are covered in test_parity.py.
    audiotok.testing.check_tokenizer(tok, max_examples=6, max_frames=12, max_batch=2)
    # batch size, thread count and grad mode do not change the codes
    audiotok.testing.check_determinism(tok, seconds=0.1)
