"""Helpers for tests that run audiotok in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(args: list[str], *, path: list[Path] = (), env: dict[str, str] | None = None,
        module: str = "audiotok") -> subprocess.CompletedProcess[str]:
    """Run ``python -m audiotok ARGS`` (or ``-c``) in a fresh interpreter with extra sys.path."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOTOK_")}
    full_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    full_env.update(env or {})
    cmd = [sys.executable, "-m", module, *args] if module else [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=300)


def run_json(args: list[str], **kwargs) -> object:
    proc = run([*args, "--json"], **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
