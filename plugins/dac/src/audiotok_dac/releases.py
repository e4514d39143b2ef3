"""DAC's official releases and a torch-free reader of a release file's metadata.

Nothing here imports torch, so :mod:`audiotok_dac.plugin` can list the models and claim
``.pth`` files cheaply. :func:`peek_kwargs` reads only the pickle of a ``torch.save`` zip
archive, with an unpickler that resolves nothing but the few names a state dict needs and
never calls them, so a malicious file cannot run code here either.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BASE = "https://github.com/descriptinc/descript-audio-codec/releases/download"


@dataclass(frozen=True)
class Release:
    """One official DAC weights file (tags and URLs as in ``dac.utils``)."""

    model_type: str  # "44khz", "24khz", "16khz"
    bitrate: str  # "8kbps", "16kbps"
    tag: str
    url: str

    @property
    def cache_name(self) -> str:
        """File name in the cache, the same as ``dac.utils.download`` uses."""
        return f"weights_{self.model_type}_{self.bitrate}_{self.tag}.pth"


RELEASES: dict[str, Release] = {
    "dac_44khz": Release("44khz", "8kbps", "0.0.1", f"{_BASE}/0.0.1/weights.pth"),
    "dac_24khz": Release("24khz", "8kbps", "0.0.4", f"{_BASE}/0.0.4/weights_24khz.pth"),
    "dac_16khz": Release("16khz", "8kbps", "0.0.5", f"{_BASE}/0.0.5/weights_16khz.pth"),
    "dac_44khz_16kbps": Release("44khz", "16kbps", "1.0.0",
                                f"{_BASE}/1.0.0/weights_44khz_16kbps.pth"),
}

#: ``dac.DAC.__init__`` arguments and their defaults (descript-audio-codec 1.0.0).
DAC_DEFAULTS: dict[str, Any] = {
    "encoder_dim": 64, "encoder_rates": [2, 4, 8, 8], "latent_dim": None, "decoder_dim": 1536,
    "decoder_rates": [8, 8, 4, 2], "n_codebooks": 9, "codebook_size": 1024, "codebook_dim": 8,
    "quantizer_dropout": False, "sample_rate": 44100,
}


def cache_dir() -> Path:
    """Download directory: ``$AUDIOTOK_DAC_CACHE`` or DAC's own ``~/.cache/descript/dac``."""
    env = os.environ.get("AUDIOTOK_DAC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "descript" / "dac"


class UnsafePickle(Exception):
    """The pickle references a global a state dict never needs (it could execute code)."""


class _Stub:
    """Stands in for a tensor or storage; never called with side effects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _Stub,
    ("torch._utils", "_rebuild_parameter"): _Stub,
    ("torch._utils", "_rebuild_parameter_with_state"): _Stub,
}


class _PeekUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return _Stub
        raise UnsafePickle(f"the pickle references {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        return None


def _data_pickle(path: Path) -> bytes | None:
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(names) != 1 or archive.getinfo(names[0]).file_size > 64 << 20:
            return None
        return archive.read(names[0])


def peek_kwargs(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``metadata["kwargs"]`` of a DAC release file, or None if ``path`` is not one.

    Reads only the archive's pickle (no tensors, no torch). Raises :class:`UnsafePickle` if the
    pickle references anything a ``{"state_dict", "metadata"}`` file cannot contain.
    """
    try:
        raw = _data_pickle(Path(path))
    except (OSError, zipfile.BadZipFile):
        return None
    if raw is None:
        return None
    try:
        obj = _PeekUnpickler(io.BytesIO(raw)).load()
    except UnsafePickle:
        raise
    except Exception:
        return None
    if not (isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict)
            and isinstance(obj.get("metadata"), dict)
            and isinstance(obj["metadata"].get("kwargs"), dict)):
        return None
    return dict(obj["metadata"]["kwargs"])


def config_facts(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Static facts (sample rate, hop, frame rate, cardinality, K) of a DAC configuration.

    Raises ``ValueError`` if a value has the wrong type.
    """
    cfg = {**DAC_DEFAULTS, **kwargs}
    rates = cfg["encoder_rates"]
    ints = {k: cfg[k] for k in ("sample_rate", "n_codebooks", "codebook_size", "encoder_dim",
                                "decoder_dim")}
    if not (isinstance(rates, (list, tuple)) and rates
            and all(isinstance(r, int) and r > 0 for r in rates)):
        raise ValueError(f"encoder_rates must be a list of positive ints, got {rates!r}")
    for key, value in ints.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    hop = math.prod(rates)
    return {"sample_rate": cfg["sample_rate"], "hop_length": hop,
            "frame_rate": cfg["sample_rate"] / hop, "cardinality": cfg["codebook_size"],
            "num_codebooks": cfg["n_codebooks"]}
