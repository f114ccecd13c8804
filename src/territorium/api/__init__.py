"""The REST API (FastAPI): ``create_app(url)`` builds the app over a workspace database;
``territorium serve`` runs it with uvicorn. Routers are thin: they parse, check the role and
call :mod:`territorium.plan` (``plans``, ``users``, ``access``)."""
from territorium.api.app import create_app

__all__ = ["create_app"]
