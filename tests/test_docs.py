"""Every setting is documented in the README, and the README gives the two commands CI relies on."""

from __future__ import annotations

from pathlib import Path

from spanbase.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in readme]
    assert not missing


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "uv run spanbase serve" in readme
    assert "uv run pytest" in readme
    assert "uv run pytest" in ci
