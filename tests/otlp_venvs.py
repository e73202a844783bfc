"""Virtual environments of their own for the tracers that cannot share the project's.

keywordsai-tracing 0.0.59 pins OpenTelemetry 1.34 while the project's dev group has 1.45 (clients.md,
"Things to know"), so its end-to-end test runs the client in a venv built here with `uv`:

    python = tracer_venv("keywordsai-tracing", "0.0.59")   # .../bin/python, with the package installed

A venv is built once under ~/.cache/spanbase-test-venvs/<package>-<version> (SPANBASE_TEST_VENVS moves
it) and reused while its completion marker says it holds that package at that version on this Python.
Packages come from the package index through uv's ordinary client. A venv that cannot be built is an
error with what uv said: the tests that need it fail, they never skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

VENVS = Path(os.environ.get("SPANBASE_TEST_VENVS") or Path.home() / ".cache" / "spanbase-test-venvs")
_MARKER = ".spanbase-complete.json"
_BUILD_TIMEOUT = 600.0


class VenvBuildError(RuntimeError):
    pass


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (two test runs building the same venv wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], what: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, encoding="utf-8", timeout=_BUILD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VenvBuildError(f"{what}: {' '.join(cmd)} could not run: {e!r}") from e
    if done.returncode != 0:
        raise VenvBuildError(
            f"{what}: {' '.join(cmd)} exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
        )
    return done.stdout


def _installed_version(python: Path, distribution: str) -> str:
    """The version of `distribution` importable by `python` (raises VenvBuildError if none)."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return _run([str(python), "-c", code], f"reading the {distribution} version").strip()


def _wanted(distribution: str, version: str, extra: tuple[str, ...]) -> dict[str, object]:
    return {"distribution": distribution, "version": version, "extra": list(extra), "python": sys.version.split()[0]}


def _complete(venv: Path, wanted: dict[str, object]) -> bool:
    try:
        marker = json.loads((venv / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    python = venv / "bin" / "python"
    return bool(marker == wanted and python.exists())


def tracer_venv(distribution: str, version: str, *extra: str) -> Path:
    """The python of a venv holding `distribution==version` (and the `extra` requirements), built if needed."""
    venv = VENVS / f"{distribution}-{version}"
    wanted = _wanted(distribution, version, extra)
    with _locked(VENVS / f".{distribution}-{version}.lock"):
        if _complete(venv, wanted):
            return venv / "bin" / "python"
        uv = shutil.which("uv")
        if uv is None:
            raise VenvBuildError(f"`uv` is not on PATH: cannot build the {distribution} {version} venv")
        shutil.rmtree(venv, ignore_errors=True)
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], f"creating {venv}")
        python = venv / "bin" / "python"
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(python), f"{distribution}=={version}", *extra],
            f"installing {distribution}=={version} into {venv}",
        )
        got = _installed_version(python, distribution)
        if got != version:
            raise VenvBuildError(f"{venv} holds {distribution} {got}, not {version}")
        (venv / _MARKER).write_text(json.dumps(wanted))
        return python
