"""Docs are part of the product: the CLI reference is generated and must be current."""
from pathlib import Path

from territorium import clidoc

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_and_option_has_help():
    assert clidoc.undocumented() == []


def test_cli_reference_is_current():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert text == clidoc.render(), "docs/cli.md is stale: run python -m territorium.clidoc > docs/cli.md"


def test_readme_starts_with_the_two_commands():
    lines = [l.strip() for l in (ROOT / "README.md").read_text().splitlines()]
    cmds = [l for l in lines if l.startswith("make ")]
    assert cmds[:2] == ["make demo", "make test"]
