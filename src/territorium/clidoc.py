"""Generate the CLI reference (``docs/cli.md``) from the Typer app itself.

``python -m territorium.clidoc > docs/cli.md``; a test fails when the file is stale or when a
command or option has no help text.
"""
from __future__ import annotations

import typer

try:  # Typer >= 0.20 vendors its own copy of Click
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

from territorium.cli import app


def _unstyle(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if hasattr(cmd, "commands"):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name])


def _default(p: click.Parameter) -> str:
    if getattr(p, "param_type_name", "") == "option" and p.is_flag:
        return "off" if not p.default else "on"
    d = p.default
    if d is None or d == () or callable(d):
        return ""
    return f"`{getattr(d, 'value', d)}`"


def undocumented() -> list[str]:
    """Commands and options without help text."""
    root = typer.main.get_command(app)
    out = []
    for path, cmd in _walk(root, ["territorium"]):
        if not (cmd.help or cmd.short_help):
            out.append(" ".join(path))
        for p in cmd.params:
            if getattr(p, "param_type_name", "") == "option" and not p.help and p.name not in ("help",):
                out.append(f"{' '.join(path)} {p.opts[0]}")
    return out


def render() -> str:
    root = typer.main.get_command(app)
    lines = ["# CLI reference", "", "Generated from the commands themselves by "
             "`python -m territorium.clidoc > docs/cli.md`; do not edit by hand.", ""]
    for path, cmd in _walk(root, ["territorium"]):
        ctx = click.Context(cmd, info_name=" ".join(path))
        lines.append(f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`")
        lines.append("")
        lines.append("```")
        lines.append(" ".join(cmd.collect_usage_pieces(ctx)).join([" ".join(path) + " ", ""]))
        lines.append("```")
        lines.append("")
        if cmd.help:
            lines.append(_unstyle(cmd.help).strip().split("\f")[0].strip())
            lines.append("")
        args = [p for p in cmd.params if getattr(p, "param_type_name", "") == "argument"]
        opts = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option" and p.name != "help"]
        if args:
            lines.append("| argument | help |")
            lines.append("|---|---|")
            for p in args:
                lines.append(f"| `{(p.name or '').upper()}` | {getattr(p, 'help', '') or ''} |")
            lines.append("")
        if opts:
            lines.append("| option | default | help |")
            lines.append("|---|---|---|")
            for p in opts:
                names = ", ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
                helptext = (p.help or "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {names} | {_default(p)} | {helptext} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
