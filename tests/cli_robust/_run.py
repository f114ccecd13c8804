"""Run the real ``territorium`` entry point in a subprocess, as a user would.

As root, file permissions do not stop writes; the command then runs without the
capabilities that bypass them (``setpriv``), so a read-only folder is read-only for it too.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "territorium"

SF_ACCOUNT_HEADER = ("Id,Name,Type,Industry,BillingStreet,BillingCity,BillingState,BillingPostalCode,"
                     "BillingCountry,AnnualRevenue,NumberOfEmployees,OwnerId,Segment__c,Tier__c,"
                     "Product_Lines__c,Potential__c")
ACCOUNTS = [
    "001A,Salon One,Customer,Salon,1 Main St,Boston,MA,02134,US,1000000,12,005X,SMB,A,skincare;haircare,50000",
    "001B,Spa Two,Prospect,Spa,2 Elm St,Springfield,IL,62701,US,5000,3,005X,SMB,B,,",
    "001C,Boutique Three,Customer,Boutique,3 Oak Ave,New York,NY,10001,US,250000,8,005Y,SMB,C,fragrance,",
]
BAD_ACCOUNT = "001Z,Bad,,,,Austin,TX,10001,US,-1,1,005X,,,,"


def write_accounts(path: Path, rows=ACCOUNTS) -> Path:
    path.write_text("\n".join([SF_ACCOUNT_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made read-only")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def cli(*args, cwd: Path, env: dict | None = None, timeout: float = 300, drop_root: bool = True):
    """``territorium ARGS`` in ``cwd``: CompletedProcess with text stdout/stderr."""
    e = {k: v for k, v in os.environ.items() if k not in ("TERRITORIUM_DATABASE_URL", "TERRITORIUM_DEBUG")}
    e.update({"COLUMNS": "200", "NO_COLOR": "1"})
    e.update(env or {})
    cmd = (_prefix() if drop_root else []) + [str(BIN), *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


def assert_clean_failure(res, code: int | tuple = (1, 2), *needles: str) -> str:
    """Exit ``code``, no traceback, one ``error:`` line that contains every needle; returns it."""
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out
    codes = (code,) if isinstance(code, int) else code
    assert res.returncode in codes, (res.returncode, out)
    lines = [ln for ln in out.splitlines() if "error:" in ln.lower() or "interrupted" in ln.lower()]
    assert lines, out
    msg = " ".join(out.split())  # rich may wrap a long line
    for n in needles:
        assert n in msg, (n, out)
    return msg


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to show nothing changed)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
