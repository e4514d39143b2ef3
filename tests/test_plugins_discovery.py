"""End-to-end discovery through real entry points: a third-party plugin, a broken one, a clash."""

from __future__ import annotations

import textwrap

from cli_support import run, run_json


def test_third_party_plugin_is_discovered_listed_loaded_and_conforms(plugin_site):
    site = [plugin_site["toy_plugin"]]
    plugins = {p["name"]: p for p in run_json(["plugins"], path=site)}
    assert plugins["toy"]["distribution"] == "audiotok-toy"
    assert plugins["toy"]["version"] == "0.3.0"
    assert plugins["toy"]["tokenizers"] == ["toy_rsq_8khz"]
    assert plugins["toy"]["error"] is None
    rows = {r["qualified_name"]: r for r in run_json(["list"], path=site)}
    assert rows["toy:toy_rsq_8khz"]["frame_rate"] == 4000.0
    assert rows["toy:toy_rsq_8khz"]["hop_length"] == 2
    code = textwrap.dedent("""
        import sys, audiotok, audiotok.testing
        assert "audiotok_toy.model" not in sys.modules
        for ident in ("toy_rsq_8khz", "toy", "toy:toy_rsq_8khz"):
            tok = audiotok.load(ident)
            assert tok.spec.plugin == "toy" and tok.spec.distribution == "audiotok-toy"
        audiotok.testing.check_tokenizer(tok, max_examples=15)
        print("ok")
    """)
    proc = run(["-c", code], path=site, module="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_claimed_identifier_loads_through_the_plugin(plugin_site, tmp_path):
    spec_file = tmp_path / "mine.toy"
    spec_file.write_text("32")
    code = textwrap.dedent(f"""
        import audiotok
        tok = audiotok.load({str(spec_file)!r})
        assert tok.cardinality == 32 and tok.spec.name == "mine", tok.spec
        assert audiotok.load("toy:" + {str(spec_file)!r}).cardinality == 32
        print(audiotok.resolve({str(spec_file)!r}).plugin)
    """)
    proc = run(["-c", code], path=[plugin_site["toy_plugin"]], module="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "toy"


def test_broken_plugin_is_reported_and_others_keep_working(plugin_site):
    site = [plugin_site["toy_plugin"], plugin_site["broken_plugin"]]
    plugins = {p["name"]: p for p in run_json(["plugins"], path=site)}
    assert "this plugin is broken on purpose" in plugins["broken"]["error"]
    assert plugins["toy"]["error"] is None
    names = {r["name"] for r in run_json(["list"], path=site)}
    assert {"toy_rsq_8khz", "mulaw_16khz"} <= names
    table = run(["plugins"], path=site)
    assert table.returncode == 0 and "ERROR import failed" in table.stdout


def test_strict_mode_reraises_plugin_errors(plugin_site):
    proc = run(["list"], path=[plugin_site["broken_plugin"]],
               env={"AUDIOTOK_STRICT_PLUGINS": "1"})
    assert proc.returncode == 1
    assert "broken on purpose" in proc.stderr and "Traceback" not in proc.stderr


def test_name_collision_with_builtin_is_never_silent(plugin_site):
    site = [plugin_site["clash_plugin"]]
    proc = run(["info", "mulaw_16khz"], path=site)
    assert proc.returncode == 1
    assert "audiotok:mulaw_16khz" in proc.stderr and "clash:mulaw_16khz" in proc.stderr
    assert "Traceback" not in proc.stderr
    info = run_json(["info", "clash:mulaw_16khz"], path=site)
    assert info["plugin"] == "clash"
    assert run_json(["info", "audiotok:mulaw_16khz"], path=site)["plugin"] == "audiotok"


def test_hook_failure_is_contained(plugin_site):
    site = [plugin_site["clash_plugin"], plugin_site["toy_plugin"]]
    plugins = {p["name"]: p for p in run_json(["plugins"], path=site,
                                               env={"CLASH_RAISE": "1"})}
    assert "hook failure on purpose" in plugins["clash"]["error"]
    assert plugins["clash"]["tokenizers"] == []
    assert plugins["toy"]["tokenizers"] == ["toy_rsq_8khz"]


def test_factory_breaking_the_protocol_is_reported(plugin_site):
    proc = run(["-c", "import audiotok; audiotok.load('liar')"],
               path=[plugin_site["clash_plugin"]], env={"CLASH_BAD_FACTORY": "1"}, module="")
    assert proc.returncode == 1
    assert "PluginError" in proc.stderr and "cardinality: spec 512 != model 256" in proc.stderr


def test_load_plugins_env_restricts_discovery(plugin_site):
    site = [plugin_site["toy_plugin"], plugin_site["clash_plugin"]]
    only_toy = {p["name"] for p in run_json(["plugins"], path=site,
                                            env={"AUDIOTOK_LOAD_PLUGINS": "audiotok-toy"})}
    assert only_toy == {"audiotok", "toy"}
    none = {p["name"] for p in run_json(["plugins"], path=site,
                                        env={"AUDIOTOK_LOAD_PLUGINS": ""})}
    assert none == {"audiotok"}
    disabled = {p["name"] for p in run_json(["plugins"], path=site,
                                            env={"AUDIOTOK_DISABLE_PLUGINS": "toy"})}
    assert "toy" not in disabled and "clash" in disabled
    proc = run(["plugins"], path=site, env={"AUDIOTOK_LOAD_PLUGINS": "nope"})
    assert "'nope', which is not installed" in proc.stderr


def test_listing_imports_neither_torch_nor_plugin_code(plugin_site):
    code = textwrap.dedent("""
        import sys, audiotok
        audiotok.list_tokenizers(); audiotok.list_plugins(); audiotok.resolve("toy")
        heavy = [m for m in ("torch", "torchaudio", "numpy", "audiotok_toy.model",
                             "audiotok._protocol", "transformers", "dac")
                 if m in sys.modules]
        print(heavy)
    """)
    proc = run(["-c", code], path=[plugin_site["toy_plugin"]], module="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
