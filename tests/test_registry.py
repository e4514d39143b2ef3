"""Name resolution, local registration, collisions and error messages (in-process)."""

from __future__ import annotations

import pytest

import audiotok
from audiotok import _registry


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setenv("AUDIOTOK_LOAD_PLUGINS", "")  # built-in only: independent of installs
    _registry._reset()
    yield
    _registry._reset()


def local_spec(name="mine", **kw):
    base = dict(name=name, factory="audiotok.builtin.mulaw:load", sample_rate=16000,
                channels=1, frame_rate=16000.0, cardinality=256, num_codebooks=1)
    return audiotok.TokenizerSpec(**{**base, **kw})


def test_builtin_names_aliases_and_qualified():
    for ident in ("mulaw_16khz", "mulaw", "audiotok:mulaw_16khz", "audiotok:mulaw"):
        assert audiotok.resolve(ident).qualified_name == "audiotok:mulaw_16khz"
    assert [s.name for s in audiotok.list_tokenizers("mu*")] == ["mulaw_16khz"]
    assert audiotok.list_tokenizers("nothing*") == []


def test_register_local_and_load():
    stamped = audiotok.register(local_spec(aliases=("m2",)))
    assert stamped.plugin == "local" and stamped.qualified_name == "local:mine"
    tok = audiotok.load("m2")
    assert tok.spec == stamped and tok.identifier == "m2" and not tok.training
    with pytest.raises(audiotok.PluginError, match="already registered"):
        audiotok.register(local_spec())


def test_collisions_are_errors_that_list_qualified_names():
    audiotok.register(local_spec("mulaw_16khz"), plugin="other")
    with pytest.raises(audiotok.AmbiguousTokenizerError) as err:
        audiotok.load("mulaw_16khz")
    assert "audiotok:mulaw_16khz" in str(err.value) and "other:mulaw_16khz" in str(err.value)
    assert audiotok.load("other:mulaw_16khz").spec.plugin == "other"


def test_unknown_names_suggest_a_fix():
    with pytest.raises(audiotok.UnknownTokenizerError, match="did you mean mulaw_16khz"):
        audiotok.resolve("mulaw_16kh")
    with pytest.raises(audiotok.UnknownTokenizerError,
                       match="dac_44khz needs audiotok-dac: pip install audiotok-dac"):
        audiotok.resolve("dac_44khz")
    with pytest.raises(audiotok.UnknownTokenizerError, match="pip install audiotok-hf-encodec"):
        audiotok.resolve("facebook/encodec_24khz")
    with pytest.raises(audiotok.UnknownTokenizerError):
        audiotok.resolve("")
    import pathlib
    with pytest.raises(audiotok.UnknownTokenizerError, match="no/such.bin"):
        audiotok.load(pathlib.Path("no/such.bin"))


def test_missing_dependency_names_the_install():
    audiotok.register(local_spec("needy", requires=("surely-not-installed-pkg>=1",),
                                 install_hint="pip install audiotok-needy"))
    with pytest.raises(audiotok.MissingDependencyError,
                       match="needy needs surely-not-installed-pkg: pip install audiotok-needy"):
        audiotok.load("needy")
    audiotok.register(local_spec("nomod", factory="surely_missing_module:load"))
    with pytest.raises(audiotok.MissingDependencyError, match="surely_missing_module"):
        audiotok.load("nomod")


def test_factory_errors_are_wrapped():
    with pytest.raises(audiotok.CheckpointError, match="has no weights"):
        audiotok.load("mulaw_16khz", checkpoint="/tmp/x.bin")
    with pytest.raises(audiotok.PluginError, match="unexpected options"):
        audiotok.load("mulaw_16khz", bogus=1)
    audiotok.register(local_spec("gone", factory="audiotok.builtin.mulaw:nope"))
    with pytest.raises(audiotok.PluginError, match="does not exist"):
        audiotok.load("gone")


def test_default_num_codebooks_and_device():
    tok = audiotok.load("mulaw_16khz", device="cpu")
    assert str(tok.device) == "cpu" and tok.num_codebooks == 1


def test_offline_reads_both_switches_on_every_call(monkeypatch):
    monkeypatch.delenv("AUDIOTOK_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert not audiotok.offline()
    for var in ("AUDIOTOK_OFFLINE", "HF_HUB_OFFLINE"):
        for value, expected in (("1", True), (" yes ", True), ("ON", True), ("true", True),
                                ("0", False), ("false", False), ("", False)):
            monkeypatch.setenv(var, value)
            assert audiotok.offline() is expected, (var, value)
        monkeypatch.delenv(var)
