"""Describe a local checkpoint file as a TokenizerSpec by peeking at it (mmap, weights_only)."""

from __future__ import annotations

from pathlib import Path

from audiotok import CheckpointError, TokenizerSpec

from . import plugin
from .loading import (
    _release_name_of_state,
    config_of_package,
    is_audiocraft_package,
    read_checkpoint,
)


def claim_file(path: Path, *, strict: bool, _depth: int = 0) -> TokenizerSpec | None:
    """The spec of an EnCodec checkpoint at ``path``; None (or CheckpointError if ``strict``)."""
    try:
        package = read_checkpoint(path, mmap=True)
    except CheckpointError:
        if strict:
            raise
        return None
    source = {"source": str(path)}
    if is_audiocraft_package(package):
        if "pretrained" in package and "best_state" not in package:
            target = str(package["pretrained"]).removeprefix("//pretrained/")
            spec = plugin.claim_identifier(f"//pretrained/{target}") if _depth < 4 else None
            if spec is None:
                raise CheckpointError(
                    f"{path}: points to pretrained model {target!r}, which the "
                    "native EnCodec plugin cannot load"
                )
            return spec.replace(options=source)
        config = config_of_package(package, path)
        return TokenizerSpec(
            name="encodec_checkpoint",
            factory=plugin.FACTORY,
            sample_rate=config.sample_rate,
            channels=config.channels,
            frame_rate=config.sample_rate / config.hop_length,
            cardinality=config.bins,
            num_codebooks=config.n_q,
            install_hint=plugin.HINT,
            options=source,
            description=f"AudioCraft EnCodec export {path}",
        )
    release = _release_name_of_state(package) if isinstance(package, dict) else None
    if release is not None:
        return plugin.RELEASES[release].replace(
            options={"release": release, "checkpoint": str(path)}
        )
    if strict:
        raise CheckpointError(
            f"{path}: neither an AudioCraft export ('best_state' + 'xp.cfg') "
            "nor Meta's encodec_24khz/48khz release weights"
        )
    return None
