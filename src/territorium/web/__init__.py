"""The web app's built files (``web/`` compiled by ``make web`` into ``static/``), served at ``/``."""
from __future__ import annotations

import os
from pathlib import Path

#: the built app; ``TERRITORIUM_WEB_STATIC`` serves another build (e.g. a branch's, while testing)
STATIC = Path(os.environ.get("TERRITORIUM_WEB_STATIC") or Path(__file__).parent / "static")


def mount(app) -> None:
    """Serve the built app at ``/`` (after every API route, so ``/api`` stays the API's).
    Without a build, ``/`` says how to make one instead of a bare 404."""
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    if (STATIC / "index.html").is_file():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="web")
        return

    @app.get("/", include_in_schema=False)
    def no_build() -> HTMLResponse:
        return HTMLResponse("<p>The web app is not built: run <code>make web</code> "
                            "(npm ci and a build of web/ into src/territorium/web/static).</p>", status_code=503)
