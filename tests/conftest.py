"""Shared fixtures: throw-away plugin distributions and a subprocess runner for the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PLUGINS = ("toy_plugin", "broken_plugin", "clash_plugin")


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build and install each fixture plugin into its own ``--target`` folder (real wheels)."""
    root = tmp_path_factory.mktemp("plugin-site")
    sites = {}
    for name in PLUGINS:
        src = root / f"src-{name}"
        shutil.copytree(FIXTURES / name, src)
        target = root / name
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", str(target), str(src)],
            check=True, capture_output=True, text=True)
        sites[name] = target
    return sites


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: on small shared machines oversubscription makes the
    neural models orders of magnitude slower (tests that vary the count set it themselves)."""
    import torch

    torch.set_num_threads(1)
