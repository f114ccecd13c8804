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


#: upload routes → how many files one request may carry
UPLOAD_ROUTES = {"/api/imports/": 2, "/api/plans/import": 5}
#: room for the multipart framing and the form fields next to the files
SLACK = 1 << 20


class UploadSizeGuard:
    """ASGI middleware: an upload whose ``Content-Length`` is larger than its route's files
    could be (files × limit + 1 MiB) is answered 413 before its body is read, so an oversized
    upload is not first spooled to disk. Bodies without a length are checked per file."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            files = next((n for p, n in UPLOAD_ROUTES.items() if path == p or (p.endswith("/") and
                                                                                path.startswith(p))), 0)
            length = dict(scope.get("headers") or ()).get(b"content-length")
            if files and length is not None and length.isdigit():
                state = getattr(scope.get("app"), "state", None)
                limit = int(getattr(state, "upload_limit", UPLOAD_LIMIT))
                most = files * limit + SLACK
                if int(length) > most:
                    from fastapi.responses import JSONResponse

                    resp = JSONResponse(status_code=413, content={
                        "detail": f"the request ({int(length):,} bytes) is larger than {files} file(s) of at most "
                                  f"{_size(limit)} each can be; nothing was read or stored"})
                    await resp(scope, receive, send)
                    return
        await self.app(scope, receive, send)
