"""The registry: entry-point discovery through pluggy, name resolution, and loading.

Discovery is lazy (first listing or load) and cached. Each plugin is imported and called in
isolation: a failure is recorded on its :class:`PluginInfo` and every other plugin keeps
working. Nothing here imports torch until a tokenizer is actually loaded.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from ._errors import (
    AmbiguousTokenizerError,
    AudiotokError,
    CheckpointError,
    MissingDependencyError,
    PluginError,
    UnknownTokenizerError,
)
from ._spec import TokenizerSpec
from ._version import __version__

if TYPE_CHECKING:
    from ._protocol import AudioTokenizer

ENTRY_POINT_GROUP = "audiotok.plugins"
BUILTIN_PLUGIN = "audiotok"
LOCAL_PLUGIN = "local"
ENV_LOAD = "AUDIOTOK_LOAD_PLUGINS"
ENV_DISABLE = "AUDIOTOK_DISABLE_PLUGINS"
ENV_STRICT = "AUDIOTOK_STRICT_PLUGINS"

# Names users will try before installing the plugin that provides them: (pattern, plugin).
_KNOWN_ELSEWHERE: list[tuple[str, str]] = [
    (r"^dac_", "dac"),
    (r"^(hf_encodec|facebook/encodec)", "hf_encodec"),
    (r"^(encodec_|musicgen_|audiogen_|//pretrained/|facebook/(musicgen|audiogen))", "encodec"),
]


@dataclass
class PluginInfo:
    """One plugin as discovered: entry-point name, distribution, version, tokenizers, load error."""

    name: str
    distribution: str
    version: str
    tokenizers: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "tokenizers": list(self.tokenizers),
            "error": self.error,
        }


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _strict() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in {"1", "true", "yes", "on"}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._discovered = False
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.specs: dict[str, TokenizerSpec] = {}  # qualified name -> spec

    # -- discovery ---------------------------------------------------------------------------
    def ensure(self) -> None:
        with self._lock:
            if not self._discovered:
                self._discovered = True
                self._discover()

    def _fail(self, info: PluginInfo, stage: str, exc: BaseException) -> None:
        info.error = f"{stage}: {_describe(exc)}"
        if _strict():
            raise PluginError(f"plugin {info.name!r} ({info.distribution}) {info.error}") from exc

    def _discover(self) -> None:
        from .builtin import plugin as builtin_plugin

        builtin = PluginInfo(BUILTIN_PLUGIN, "audiotok", __version__)
        self.plugins[BUILTIN_PLUGIN] = builtin
        self.pm.register(builtin_plugin, name=BUILTIN_PLUGIN)

        allowed, disabled = _env_list(ENV_LOAD), set(_env_list(ENV_DISABLE) or [])
        entry_points = sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (ep.name, ep.dist.name if ep.dist else ""),
        )
        seen_allowed: set[str] = set()
        for ep in entry_points:
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            keys = {ep.name, dist}
            if allowed is not None:
                if not keys & set(allowed):
                    continue
                seen_allowed |= keys & set(allowed)
            if keys & disabled:
                continue
            if ep.name in self.plugins:
                other = self.plugins[ep.name]
                if other.distribution == dist:  # same dist seen twice on sys.path
                    continue
                dup = PluginInfo(f"{ep.name} ({dist})", dist, version)
                self.plugins[dup.name] = dup
                self._fail(dup, "not loaded", PluginError(
                    f"entry point name {ep.name!r} is already used by {other.distribution}; "
                    f"uninstall one of them or ask {dist} to rename its entry point"))
                continue
            info = PluginInfo(ep.name, dist, version)
            self.plugins[ep.name] = info
            try:
                module = ep.load()
            except Exception as exc:
                self._fail(info, "import failed", exc)
                continue
            try:
                self.pm.register(module, name=ep.name)
            except Exception as exc:
                self._fail(info, "invalid hook implementation", exc)
        if allowed is not None:
            for name in sorted(set(allowed) - seen_allowed):
                print(f"audiotok: {ENV_LOAD} names {name!r}, which is not installed",
                      file=sys.stderr)
        self._check_pending()
        for impl in self.pm.hook.register_tokenizers.get_hookimpls():
            self._call_register(impl)

    def _check_pending(self) -> None:
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin)
                self.pm.unregister(exc.plugin)
                info = self.plugins.get(name or "")
                if info is None:
                    raise
                self._fail(info, "unknown hook", exc)

    def _call_register(self, impl: Any) -> None:
        name = impl.plugin_name
        info = self.plugins[name]
        collected: list[TokenizerSpec] = []

        def register(spec: TokenizerSpec) -> None:
            collected.append(self._stamp(spec, info))

        try:
            impl.function(**({"register": register} if "register" in impl.argnames else {}))
            names = [s.name for s in collected]
            dups = sorted({n for n in names if names.count(n) > 1})
            if dups:
                raise PluginError(f"registered {dups} more than once")
        except Exception as exc:
            self._fail(info, "register_tokenizers failed", exc)
            return
        for spec in collected:
            self.specs[spec.qualified_name] = spec
            info.tokenizers.append(spec.name)

    def _stamp(self, spec: Any, info: PluginInfo) -> TokenizerSpec:
        if not isinstance(spec, TokenizerSpec):
            raise PluginError(
                f"register() takes an audiotok.TokenizerSpec, got {type(spec).__name__}"
            )
        return spec.replace(plugin=info.name, distribution=info.distribution, version=info.version)

    def add_local(self, spec: TokenizerSpec, plugin: str) -> TokenizerSpec:
        self.ensure()
        with self._lock:
            info = self.plugins.setdefault(plugin, PluginInfo(plugin, "", ""))
            if info.distribution and plugin != LOCAL_PLUGIN:
                raise PluginError(f"plugin name {plugin!r} belongs to {info.distribution}")
            stamped = self._stamp(spec, info)
            if stamped.qualified_name in self.specs:
                raise PluginError(f"{stamped.qualified_name} is already registered")
            self.specs[stamped.qualified_name] = stamped
            info.tokenizers.append(stamped.name)
            return stamped

    # -- resolution --------------------------------------------------------------------------
    def _split_qualified(self, identifier: str) -> tuple[str | None, str]:
        plugin, sep, rest = identifier.partition(":")
        if sep and plugin in self.plugins and rest:
            return plugin, rest
        return None, identifier

    def _plugin_problem(self, plugin: str) -> str:
        info = self.plugins[plugin]
        return f" (plugin {plugin!r} failed to load: {info.error})" if info.error else ""

    def _claims(self, identifier: str, only: str | None) -> list[TokenizerSpec]:
        claims = []
        for impl in self.pm.hook.claim_identifier.get_hookimpls():
            name = impl.plugin_name
            if only is not None and name != only:
                continue
            info = self.plugins[name]
            if info.error:
                continue
            try:
                spec = impl.function(identifier=identifier)
                if spec is not None:
                    claims.append(self._stamp(spec, info))
            except AudiotokError:
                raise
            except Exception as exc:
                if _strict():
                    raise PluginError(f"plugin {name!r} claim_identifier failed: "
                                      f"{_describe(exc)}") from exc
        return claims

    def resolve(self, identifier: str | os.PathLike[str]) -> TokenizerSpec:
        if isinstance(identifier, os.PathLike):
            identifier = os.fspath(identifier)
        if not isinstance(identifier, str) or not identifier:
            raise UnknownTokenizerError(f"tokenizer identifier must be a non-empty string, "
                                        f"got {identifier!r}")
        self.ensure()
        plugin, name = self._split_qualified(identifier)
        pool = [s for s in self.specs.values() if plugin is None or s.plugin == plugin]
        matches = [s for s in pool if name == s.name or name in s.aliases]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousTokenizerError(
                f"{name!r} is provided by several plugins; use one of: "
                + ", ".join(sorted(s.qualified_name for s in matches)))
        claims = self._claims(name, plugin)
        if len(claims) == 1:
            return claims[0]
        if len(claims) > 1:
            raise AmbiguousTokenizerError(
                f"{name!r} is claimed by several plugins; prefix it with one of: "
                + ", ".join(sorted(f"{s.plugin}:" for s in claims)))
        raise UnknownTokenizerError(self._unknown_message(identifier, plugin))

    def _unknown_message(self, identifier: str, plugin: str | None) -> str:
        where = f"in plugin {plugin!r}{self._plugin_problem(plugin)}" if plugin else ""
        msg = f"unknown tokenizer {identifier!r}{(' ' + where) if where else ''}"
        for pattern, owner in _KNOWN_ELSEWHERE:
            info = self.plugins.get(owner)
            if re.search(pattern, identifier) and (info is None or info.error):
                dist = "audiotok-" + owner.replace("_", "-")
                why = f" (installed but failed: {info.error})" if info and info.error else ""
                return f"{msg}: {identifier} needs {dist}{why}: pip install {dist}"
        names = sorted({n for s in self.specs.values() for n in (s.name, *s.aliases)})
        close = difflib.get_close_matches(identifier, names, n=3)
        if close:
            return f"{msg}; did you mean {', '.join(close)}? (audiotok list shows all)"
        return f"{msg}; run 'audiotok list' to see the installed tokenizers"


_registry = _Registry()


def _reset() -> None:
    """Forget discovery (tests and long-lived processes after installing a plugin)."""
    global _registry
    _registry = _Registry()


def list_tokenizers(pattern: str | None = None) -> list[TokenizerSpec]:
    """Registered tokenizers, sorted by name; ``pattern`` is an fnmatch glob on names/aliases.

    Never imports torch or a backend.

    >>> [s.name for s in list_tokenizers("mulaw*")]
    ['mulaw_16khz']
    """
    _registry.ensure()
    specs = sorted(_registry.specs.values(), key=lambda s: (s.name, s.plugin))
    if pattern:
        specs = [s for s in specs
                 if any(fnmatch.fnmatchcase(n, pattern)
                        for n in (s.name, s.qualified_name, *s.aliases))]
    return specs


def list_plugins() -> list[PluginInfo]:
    """Discovered plugins (the built-in one first), including those that failed to load."""
    _registry.ensure()
    infos = list(_registry.plugins.values())
    return sorted(infos, key=lambda p: (p.name != BUILTIN_PLUGIN, p.name))


def resolve(identifier: str | os.PathLike[str]) -> TokenizerSpec:
    """The :class:`TokenizerSpec` an identifier denotes, without loading anything heavy.

    ``identifier`` is a name, an alias, ``plugin:name``, or something a plugin claims (a path,
    a Hub repo id, ``//pretrained/NAME``). Raises :class:`UnknownTokenizerError` or
    :class:`AmbiguousTokenizerError`.
    """
    return _registry.resolve(identifier)


def register(spec: TokenizerSpec, *, plugin: str = LOCAL_PLUGIN) -> TokenizerSpec:
    """Register a tokenizer from code that is not packaged as a plugin.

    It becomes addressable as ``spec.name`` and ``local:<name>`` (or ``plugin:<name>``).
    Returns the stamped spec.
    """
    return _registry.add_local(spec, plugin)


def _check_requirements(spec: TokenizerSpec) -> None:
    for requirement in spec.requires:
        dist = re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            hint = spec.install_hint or f"pip install {requirement}"
            raise MissingDependencyError(f"{spec.name} needs {dist}: {hint}") from None


def _import_factory(spec: TokenizerSpec) -> Callable[..., Any]:
    module_name, _, attr = spec.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        default_hint = f"pip install {spec.distribution}" if spec.distribution else ""
        hint = spec.install_hint or default_hint
        missing = getattr(exc, "name", None) or module_name
        raise MissingDependencyError(
            f"{spec.name} needs the module {missing!r}, which cannot be imported ({exc})"
            + (f": {hint}" if hint else "")) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(
            f"{spec.qualified_name}: factory {spec.factory!r} does not exist"
        ) from None


_OFFLINE_VARS = ("AUDIOTOK_OFFLINE", "HF_HUB_OFFLINE")


def offline() -> bool:
    """Whether downloads are off: ``AUDIOTOK_OFFLINE`` or ``HF_HUB_OFFLINE`` is 1, ON, YES or TRUE
    (read on every call, parsed as huggingface_hub parses it).

    Every plugin checks it before downloading weights and, when it is on, loads only what is
    cached or given as ``checkpoint=PATH``, raising :class:`CheckpointError` otherwise.

    >>> import audiotok
    >>> if audiotok.offline() and not cached:  # in a factory, before downloading  # doctest: +SKIP
    ...     raise audiotok.CheckpointError(f"{path}: not cached and downloads are off; ...")
    """
    return any(
        os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for var in _OFFLINE_VARS
    )


def load(
    identifier: str | os.PathLike[str] | TokenizerSpec,
    *,
    device: Any = "cpu",
    checkpoint: str | os.PathLike[str] | None = None,
    **options: Any,
) -> AudioTokenizer:
    """Load a tokenizer by name, alias, ``plugin:name`` or claimed identifier.

    It comes back in eval mode on ``device``. ``checkpoint=PATH`` means "this architecture,
    weights from this local file". Other keyword options go to the plugin's factory (see each
    plugin's docs), after ``spec.options``.

    >>> tok = load("mulaw_16khz")
    >>> tok.sample_rate, tok.cardinality, tok.num_codebooks
    (16000, 256, 1)
    """
    if isinstance(identifier, os.PathLike):
        identifier = os.fspath(identifier)
    spec = identifier if isinstance(identifier, TokenizerSpec) else resolve(identifier)
    _check_requirements(spec)
    factory = _import_factory(spec)
    from ._protocol import AudioTokenizer

    kwargs = {**spec.options, **options}
    if checkpoint is not None:
        kwargs["checkpoint"] = os.fspath(checkpoint)
    try:
        tokenizer = factory(spec, **kwargs)
    except AudiotokError:
        raise
    except TypeError as exc:
        raise PluginError(
            f"{spec.qualified_name}: {exc} (options given: {sorted(kwargs)})"
        ) from exc
    except OSError as exc:
        raise CheckpointError(f"{spec.qualified_name}: cannot read weights: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"{spec.qualified_name}: factory {spec.factory} failed: "
                          f"{_describe(exc)}") from exc
    if not isinstance(tokenizer, AudioTokenizer):
        raise PluginError(f"{spec.qualified_name}: factory returned {type(tokenizer).__name__}, "
                          "not an audiotok.AudioTokenizer")
    check_facts(spec, tokenizer)
    tokenizer.spec = spec
    tokenizer.identifier = identifier if isinstance(identifier, str) else spec.qualified_name
    tokenizer.checkpoint = kwargs.get("checkpoint")
    if spec.default_num_codebooks is not None:
        tokenizer.set_num_codebooks(spec.default_num_codebooks)
    return tokenizer.to(device).eval()


def check_facts(spec: TokenizerSpec, tokenizer: AudioTokenizer) -> None:
    """Raise PluginError unless the loaded model's facts equal its spec's static facts."""
    wrong = []
    for fact in ("sample_rate", "channels", "cardinality"):
        if getattr(spec, fact) != getattr(tokenizer, fact):
            wrong.append(f"{fact}: spec {getattr(spec, fact)} != model {getattr(tokenizer, fact)}")
    if spec.num_codebooks != tokenizer.total_codebooks:
        wrong.append(f"num_codebooks: spec {spec.num_codebooks} != model total_codebooks "
                     f"{tokenizer.total_codebooks}")
    if abs(spec.frame_rate - float(tokenizer.frame_rate)) > 1e-6 * spec.frame_rate:
        wrong.append(f"frame_rate: spec {spec.frame_rate} != model {tokenizer.frame_rate}")
    if wrong:
        raise PluginError(f"{spec.qualified_name} violates its static facts: " + "; ".join(wrong))
