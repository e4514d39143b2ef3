"""AudioCraft ``xp.cfg`` (a YAML string of the whole solver config) -> :class:`EncodecConfig`.

Parsed with ``yaml.safe_load``; OmegaConf-style ``${a.b}`` interpolations are resolved against
the document itself, and unresolvable ones (``${dora.dir}``, ``${oc.env:X}``) are tolerated
unless the model needs their value. No omegaconf at run time.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml

from .model import EncodecConfig
from .modules import SEANetConfig

_INTERP = re.compile(r"\$\{([^${}]+)\}")
# Keys of the rvq section that only matter for training.
_RVQ_TRAINING_KEYS = {
    "dimension",
    "decay",
    "kmeans_init",
    "kmeans_iters",
    "threshold_ema_dead_code",
    "q_dropout",
    "orthogonal_reg_weight",
    "orthogonal_reg_active_codes_only",
    "orthogonal_reg_max_codes",
}
_SEANET_FIELDS = {f.name for f in dataclasses.fields(SEANetConfig)}


class ConfigError(ValueError):
    """The config cannot be read or describes a model this implementation does not support."""


def parse_yaml(text: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """Safely parse a YAML config (or pass a dict through) and resolve its interpolations."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if isinstance(text, str):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"xp.cfg is not valid YAML: {exc}") from None
    else:
        doc = text
    if not isinstance(doc, dict):
        raise ConfigError(f"xp.cfg must be a mapping, got {type(doc).__name__}")
    return resolve_interpolations(doc)


def _lookup(root: dict[str, Any], path: str) -> Any:
    node: Any = root
    for part in path.strip().split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def resolve_interpolations(root: dict[str, Any]) -> dict[str, Any]:
    """Replace ``${a.b}`` by the value at ``a.b`` (typed when it is the whole string)."""

    def resolve(value: Any, depth: int = 0) -> Any:
        if depth > 20:
            return value
        if isinstance(value, dict):
            return {k: resolve(v, depth) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v, depth) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _INTERP.fullmatch(value.strip())
        if whole:
            try:
                return resolve(_lookup(root, whole.group(1)), depth + 1)
            except KeyError:
                return value

        def sub(match: re.Match[str]) -> str:
            try:
                return str(resolve(_lookup(root, match.group(1)), depth + 1))
            except KeyError:
                return match.group(0)

        return _INTERP.sub(sub, value)

    return resolve(root)


def _need(section: dict[str, Any], key: str, where: str, kind: type, default: Any = ...) -> Any:
    if key not in section or section[key] is None:
        if default is ...:
            raise ConfigError(f"xp.cfg lacks {where}.{key}")
        return default
    value = section[key]
    if isinstance(value, str) and "${" in value:
        raise ConfigError(
            f"xp.cfg {where}.{key} = {value!r} is an interpolation that cannot be "
            "resolved from the config itself"
        )
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"xp.cfg {where}.{key} = {value!r} is not a {kind.__name__}") from None


def _seanet(kwargs: dict[str, Any], channels: int, causal: bool, where: str) -> SEANetConfig:
    kwargs = dict(kwargs)
    unknown = sorted(set(kwargs) - _SEANET_FIELDS)
    if unknown:
        raise ConfigError(
            f"xp.cfg {where} has options this implementation does not support: {unknown}"
        )
    for key, value in kwargs.items():
        if isinstance(value, str) and "${" in value:
            raise ConfigError(f"xp.cfg {where}.{key} = {value!r} cannot be resolved")
    kwargs.setdefault("channels", channels)
    kwargs.setdefault("causal", causal)
    if "ratios" in kwargs:
        kwargs["ratios"] = tuple(int(r) for r in kwargs["ratios"])
    for key in ("activation_params", "norm_params"):
        if kwargs.get(key) is None:
            kwargs.pop(key, None)
    # AudioCraft's SEANet defaults differ from ours where the YAML is silent.
    kwargs.setdefault("norm", "none")
    kwargs.setdefault("n_residual_layers", 3)
    kwargs.setdefault("lstm", 0)
    kwargs.setdefault("true_skip", True)
    try:
        return SEANetConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"xp.cfg {where}: {exc}") from None


def audiocraft_config(cfg: dict[str, Any]) -> EncodecConfig:
    """Build the model config exactly as AudioCraft's ``builders.get_compression_model`` would."""
    model = cfg.get("compression_model", "encodec")
    if model != "encodec":
        raise ConfigError(f"compression_model={model!r} is not supported (only 'encodec')")
    enc = cfg.get("encodec")
    if not isinstance(enc, dict):
        raise ConfigError("xp.cfg lacks the 'encodec' section")
    if enc.get("autoencoder", "seanet") != "seanet":
        raise ConfigError(
            f"encodec.autoencoder={enc.get('autoencoder')!r} is not supported (only 'seanet')"
        )
    if enc.get("quantizer", "rvq") != "rvq":
        raise ConfigError(
            f"encodec.quantizer={enc.get('quantizer')!r} is not supported "
            "(only 'rvq'; 'no_quant' has no codes)"
        )
    sample_rate = _need(enc, "sample_rate", "encodec", int, cfg.get("sample_rate", ...))
    channels = _need(enc, "channels", "encodec", int, cfg.get("channels", ...))
    causal = bool(_need(enc, "causal", "encodec", bool, False))
    renormalize = bool(enc.get("renormalize", enc.get("renorm", False)) or False)
    if causal and renormalize:
        raise ConfigError(
            "encodec.causal with renormalize is not supported (AudioCraft refuses it)"
        )
    seanet = cfg.get("seanet")
    if not isinstance(seanet, dict):
        raise ConfigError("xp.cfg lacks the 'seanet' section")
    seanet = dict(seanet)
    enc_over, dec_over = seanet.pop("encoder", None) or {}, seanet.pop("decoder", None) or {}
    encoder = _seanet({**seanet, **enc_over}, channels, causal, "seanet.encoder")
    decoder = _seanet({**seanet, **dec_over}, channels, causal, "seanet.decoder")
    rvq = cfg.get("rvq")
    if not isinstance(rvq, dict):
        raise ConfigError("xp.cfg lacks the 'rvq' section")
    unknown = sorted(set(rvq) - _RVQ_TRAINING_KEYS - {"n_q", "bins"})
    if unknown:
        raise ConfigError(f"xp.cfg rvq has options this implementation does not support: {unknown}")
    n_q = _need(rvq, "n_q", "rvq", int, 8)
    bins = _need(rvq, "bins", "rvq", int, 1024)
    try:
        return EncodecConfig(
            sample_rate, channels, encoder, decoder, n_q=n_q, bins=bins, renormalize=renormalize
        )
    except ValueError as exc:
        raise ConfigError(f"xp.cfg: {exc}") from None
