"""Checkpoint reading for the native EnCodec: AudioCraft exports and Meta's release weights.

Everything goes through ``torch.load(..., weights_only=True)``: nothing in a checkpoint is ever
executed. Every failure is an :class:`audiotok.CheckpointError` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import audiotok
from audiotok import CheckpointError, MissingDependencyError

from .config import ConfigError, audiocraft_config, parse_yaml
from .model import EncodecConfig, EncodecTokenizer, encodec_24khz_config, encodec_48khz_config
from .modules import fold_weight_norm

if TYPE_CHECKING:
    from audiotok import TokenizerSpec

RELEASE_URL = "https://dl.fbaipublicfiles.com/encodec/v0/"
RELEASES = {  # name -> (file name carrying its sha256 prefix, config)
    "encodec_24khz": ("encodec_24khz-d7cc33bc.th", encodec_24khz_config),
    "encodec_48khz": ("encodec_48khz-7e698e3e.th", encodec_48khz_config),
}
AUDIOCRAFT_FILE = "compression_state_dict.bin"
PRETRAINED_PREFIX = "//pretrained/"
_HASHED_NAME = re.compile(r"^[^-]+-([0-9a-f]{8,64})$")
# Codebook buffers only used in training (k-means state, EMA statistics).
_TRAINING_BUFFERS = ("._codebook.inited", "._codebook.cluster_size", "._codebook.embed_avg")


def cache_dir() -> Path:
    """Where release weights are cached: ``$AUDIOTOK_ENCODEC_CACHE`` or torch hub's checkpoints.

    The default is the folder ``torch.hub`` (and thus Meta's ``encodec`` package) downloads
    into, so weights fetched by either are reused.
    """
    env = os.environ.get("AUDIOTOK_ENCODEC_CACHE")
    return Path(env) if env else Path(torch.hub.get_dir()) / "checkpoints"


def sha256_prefix(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_hashed_name(path: Path) -> None:
    """If the file name carries a sha256 prefix (``name-<hex>.th``), verify it."""
    match = _HASHED_NAME.match(path.stem)
    if match:
        expected = match.group(1)
        actual = sha256_prefix(path)[: len(expected)]
        if actual != expected:
            raise CheckpointError(
                f"{path}: sha256 starts with {actual}, but the file name says "
                f"{expected}; the file is corrupt or incomplete, delete it and "
                "download it again"
            )


def release_file(name: str, *, offline: bool | None = None) -> Path:
    """Path of a release checkpoint in the cache, downloading it (sha256-checked) if needed."""
    filename = RELEASES[name][0]
    path = cache_dir() / filename
    if not path.is_file():
        if offline is None:
            offline = audiotok.offline()
        url = RELEASE_URL + filename
        if offline:
            raise CheckpointError(
                f"{name}: {path} is not cached and downloads are off (AUDIOTOK_OFFLINE or "
                f"HF_HUB_OFFLINE); download {url} there or pass checkpoint=PATH"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        hash_prefix = _HASHED_NAME.match(Path(filename).stem).group(1)  # type: ignore[union-attr]
        try:
            torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix)
        except Exception as exc:
            raise CheckpointError(
                f"{name}: cannot download {url} ({type(exc).__name__}: {exc}); "
                f"put the file in {path.parent} or pass checkpoint=PATH"
            ) from exc
    check_hashed_name(path)
    return path


def read_checkpoint(path: str | os.PathLike[str], *, mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` with every failure turned into CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        text = str(exc)
        blocked = re.search(
            r"(?:unsupported GLOBAL|Unsupported global:?)\s*(?:GLOBAL\s*)?([\w.]+)",
            text,
            re.IGNORECASE,
        )
        if blocked:
            reason = (
                f"refused: it pickles {blocked.group(1)}, not only tensors and plain "
                "containers (loading it could execute code); nothing was executed"
            )
        else:
            detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
            first = detail.group(1) if detail else (text.splitlines() or [""])[0]
            reason = f"corrupt or truncated, or not a PyTorch checkpoint ({first.strip()[:160]})"
        raise CheckpointError(f"{path}: {reason}") from None


def _hub_file(repo_id: str, *, cache: str | None = None, offline: bool | None = None) -> Path:
    """``compression_state_dict.bin`` of a Hub repo, or the snapshot folder of a repo in
    transformers' layout (``config.json`` + weights). ``offline``: cache only (default:
    :func:`audiotok.offline`)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise MissingDependencyError(
            f"loading {repo_id!r} from the Hugging Face Hub needs "
            "huggingface_hub: pip install huggingface_hub"
        ) from None
    errors = []
    offline = audiotok.offline() if offline is None else offline
    for filenames in (
        (AUDIOCRAFT_FILE,),
        ("config.json", "model.safetensors"),
        ("config.json", "pytorch_model.bin"),
    ):
        try:
            files = [
                Path(hf_hub_download(repo_id, name, cache_dir=cache, local_files_only=offline))
                for name in filenames
            ]
        except Exception as exc:
            errors.append(f"{filenames[-1]}: {type(exc).__name__}: {str(exc)[:120]}")
            if type(exc).__name__ not in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
                break  # offline, no such repo, no access: trying other files cannot help
            continue
        return files[0] if len(files) == 1 else files[0].parent
    where = (
        "not in the local cache, and downloads are off (offline=True, AUDIOTOK_OFFLINE or "
        "HF_HUB_OFFLINE)"
        if offline
        else "unreachable"
    )
    raise CheckpointError(
        f"{repo_id}: cannot get {AUDIOCRAFT_FILE} or config.json + weights from the Hugging "
        f"Face Hub, {where} ({'; '.join(errors)}). Download once where there is network "
        f"(hf download {repo_id} {AUDIOCRAFT_FILE}) and load again, or pass a local path; "
        "once the files are cached, AUDIOTOK_OFFLINE=1 or HF_HUB_OFFLINE=1 skips the network "
        "and its retries"
    )


def locate(source: str, *, cache: str | None = None, offline: bool | None = None) -> Path:
    """Resolve a source (file, folder, ``//pretrained/X``, Hub repo id) to a checkpoint file, or
    to a folder in transformers' layout."""
    if source.startswith(PRETRAINED_PREFIX):
        source = source[len(PRETRAINED_PREFIX) :]
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / AUDIOCRAFT_FILE).is_file():
            return path / AUDIOCRAFT_FILE
        from .hf_format import is_hf_folder

        if is_hf_folder(path):
            return path
        raise CheckpointError(
            f"{path}: folder has neither {AUDIOCRAFT_FILE} nor config.json + model.safetensors"
        )
    if path.exists():
        return path
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", source) and not source.startswith((".", "/")):
        return _hub_file(source, cache=cache, offline=offline)
    raise CheckpointError(f"{source}: no such file or folder, and not a Hugging Face repo id")


def _state_dict(package: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(package, dict) or not all(isinstance(k, str) for k in package):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(package).__name__}")
    bad = sorted(k for k, v in package.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise CheckpointError(f"{path}: entries {bad[:5]} are not tensors")
    return package


def load_weights(
    model: EncodecTokenizer, state: dict[str, torch.Tensor], path: Path, what: str
) -> EncodecTokenizer:
    """Fold weight norm, check keys and shapes against ``model`` exactly, and load."""
    try:
        state = fold_weight_norm(state)
    except KeyError as exc:
        raise CheckpointError(f"{path}: incomplete weight norm pair: {exc.args[0]}") from None
    state = {k: v for k, v in state.items() if not k.endswith(_TRAINING_BUFFERS)}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    )
    if missing or unexpected or shapes:
        details = "; ".join(
            part
            for part in (
                f"missing {missing[:4]}{'...' if len(missing) > 4 else ''}" if missing else "",
                f"unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}"
                if unexpected
                else "",
                f"shape {shapes[:3]}" if shapes else "",
            )
            if part
        )
        raise CheckpointError(f"{path}: not a {what} checkpoint ({details})")
    if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
        raise CheckpointError(f"{path}: weights contain NaN or infinite values")
    model.load_state_dict(
        {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()},
        strict=True,
    )
    model.refresh()
    return model.eval()


def config_of_package(package: Any, path: Path) -> EncodecConfig:
    """The model config of an AudioCraft export (``{'best_state', 'xp.cfg', ...}``)."""
    try:
        return audiocraft_config(parse_yaml(package["xp.cfg"]))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def is_audiocraft_package(package: Any) -> bool:
    """Whether a loaded object looks like an AudioCraft export or pointer."""
    return isinstance(package, dict) and (
        "pretrained" in package or ("best_state" in package and "xp.cfg" in package)
    )


def load_audiocraft(
    source: str, *, cache: str | None = None, offline: bool | None = None, _depth: int = 0
) -> EncodecTokenizer:
    """Load an AudioCraft ``compression_state_dict.bin`` (or a pointer to another model)."""
    path = locate(source, cache=cache, offline=offline)
    if path.is_dir():
        from .hf_format import load_hf_folder

        return load_hf_folder(path)
    package = read_checkpoint(path)
    if not is_audiocraft_package(package):
        if isinstance(package, dict) and _release_name_of_state(package):
            return load_release(_release_name_of_state(package), checkpoint=str(path))
        keys = sorted(package)[:6] if isinstance(package, dict) else type(package).__name__
        raise CheckpointError(
            f"{path}: not an AudioCraft compression export (expected keys "
            f"'best_state' and 'xp.cfg', or 'pretrained'; found {keys})"
        )
    if "pretrained" in package and "best_state" not in package:
        name = str(package["pretrained"])
        if _depth > 4:
            raise CheckpointError(f"{path}: too many nested 'pretrained' pointers")
        if name.removeprefix(PRETRAINED_PREFIX) in RELEASES:
            return load_release(name.removeprefix(PRETRAINED_PREFIX), cache=cache, offline=offline)
        return load_audiocraft(name, cache=cache, offline=offline, _depth=_depth + 1)
    config = config_of_package(package, path)
    state = package["best_state"]
    if (
        isinstance(state, dict)
        and "model" in state
        and "xp.cfg" not in state
        and not any(isinstance(v, torch.Tensor) for v in state.values())
    ):
        state = state["model"]  # a solver checkpoint's best_state
    return load_weights(
        EncodecTokenizer(config),
        _state_dict(state, path),
        path,
        f"{config.sample_rate} Hz EnCodec (as its xp.cfg describes)",
    )


def _release_name_of_state(state: dict[str, Any]) -> str | None:
    """Which release architecture a bare state dict has (by its first conv and norm keys)."""
    w = state.get(
        "encoder.model.0.conv.conv.weight_v", state.get("encoder.model.0.conv.conv.weight")
    )
    if not isinstance(w, torch.Tensor) or w.dim() != 3:
        return None
    if "encoder.model.0.conv.norm.weight" in state and w.shape[1] == 2:
        return "encodec_48khz"
    if w.shape[1] == 1 and "encoder.model.0.conv.conv.weight_g" in state:
        return "encodec_24khz"
    return None


def load_release(
    name: str,
    *,
    checkpoint: str | None = None,
    cache: str | None = None,
    offline: bool | None = None,
) -> EncodecTokenizer:
    """Load ``encodec_24khz`` / ``encodec_48khz`` from the cache (downloading) or ``checkpoint``."""
    filename, make_config = RELEASES[name]
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            path = path / filename
        if path.is_file():
            check_hashed_name(path)
    else:
        path = release_file(name, offline=offline)
    package = read_checkpoint(path)
    if is_audiocraft_package(package):
        model = load_audiocraft(str(path), cache=cache)
        expected = make_config()
        if (model.sample_rate, model.channels, model.hop_length, model.total_codebooks) != (
            expected.sample_rate,
            expected.channels,
            expected.hop_length,
            expected.n_q,
        ):
            raise CheckpointError(
                f"{path}: holds a {model.sample_rate} Hz, {model.channels}-channel "
                f"model with {model.total_codebooks} codebooks, not {name}"
            )
        return model
    return load_weights(EncodecTokenizer(make_config()), _state_dict(package, path), path, name)


def load(
    spec: TokenizerSpec,
    *,
    checkpoint: str | None = None,
    source: str | None = None,
    release: str | None = None,
    bandwidth: float | None = None,
    segment: Any = "default",
    cache_dir: str | None = None,
    offline: bool | None = None,
) -> EncodecTokenizer:
    """audiotok factory.

    Options:
        release: ``"encodec_24khz"`` or ``"encodec_48khz"`` (Meta's release weights).
        source: an AudioCraft export: file, folder holding ``compression_state_dict.bin``,
            ``//pretrained/NAME`` or a Hugging Face repo id.
        checkpoint: a local file to use instead of downloading (any file name).
        bandwidth: target kbps; selects K like Meta's ``set_target_bandwidth``.
        segment: seconds per chunk for chunked models (None encodes in one pass).
        cache_dir: Hugging Face cache folder for Hub downloads.
        offline: never download (default: ``HF_HUB_OFFLINE``).
    """
    if release is not None:
        model = load_release(release, checkpoint=checkpoint, cache=cache_dir, offline=offline)
    else:
        where = checkpoint if checkpoint is not None else source
        if where is None:
            raise CheckpointError(f"{spec.name}: nothing to load; pass checkpoint=PATH")
        model = load_audiocraft(where, cache=cache_dir, offline=offline)
    facts = (model.sample_rate, model.channels, model.cardinality, model.total_codebooks)
    expected = (spec.sample_rate, spec.channels, spec.cardinality, spec.num_codebooks)
    if facts != expected or abs(model.frame_rate - spec.frame_rate) > 1e-6 * spec.frame_rate:
        raise CheckpointError(
            f"{checkpoint or source or release}: holds a {model.sample_rate} Hz, "
            f"{model.channels}-channel EnCodec with {model.total_codebooks} x {model.cardinality} "
            f"codebooks at {model.frame_rate:g} Hz, not {spec.name} ({spec.sample_rate} Hz, "
            f"{spec.channels}-channel, {spec.num_codebooks} x {spec.cardinality} at "
            f"{spec.frame_rate:g} Hz)"
        )
    if segment != "default":
        import dataclasses

        model.config = dataclasses.replace(model.config, segment=segment)
    if bandwidth is not None:
        model.set_bandwidth(float(bandwidth))
    return model
