"""Multipart uploads: each file copied into a private temporary folder under its own
(sanitised) name, so the readers see its suffix, refused with 413 beyond the size limit."""
from __future__ import annotations

import re
from pathlib import Path

from fastapi import HTTPException, Request

#: bytes per uploaded file unless ``create_app(upload_limit=...)`` says otherwise
UPLOAD_LIMIT = 100 * 1024 * 1024


def upload_limit(request: Request) -> int:
    """The server's limit per uploaded file (bytes)."""
    return int(getattr(request.app.state, "upload_limit", UPLOAD_LIMIT))


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 and limit % 2**20 == 0 else f"{limit:,} bytes"


def save_upload(field: str, upload, folder, limit: int = UPLOAD_LIMIT) -> Path:
    """Copy ``upload`` into ``folder/field/<its name>``; 413 naming the field, the file and the
    limit when it is larger (the partial copy is left in ``folder``, which the caller removes)."""
    raw = Path(upload.filename or f"{field}.csv").name
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", raw).lstrip(".") or f"{field}.csv"
    dest = Path(folder) / field / safe
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with dest.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"{field}: file {raw!r} is larger than the limit of {_size(limit)}")
            out.write(chunk)
    return dest
