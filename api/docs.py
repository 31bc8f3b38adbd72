"""/docs (Swagger UI) and /redoc from assets shipped in the fastapi-offline package, not a CDN:
the API's documentation works on a machine without internet. Plain Starlette routes and a mount,
so like FastAPI's own docs they need no API key (the API's shape is not a secret)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

ASSETS = "/docs-assets"


def install_offline_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc; `app` must be made with docs_url=None, redoc_url=None."""
    folder = resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(folder)), name="docs-assets")

    # The two pages differ only in their renderer, title and asset files, named by the
    # renderer's own keywords; every URL is below the app's root_path, as behind a proxy.
    pages: dict[str, tuple[Callable[..., HTMLResponse], str, dict[str, str]]] = {
        "/docs": (
            get_swagger_ui_html,
            "Swagger UI",
            {
                "swagger_js_url": "swagger-ui-bundle.js",
                "swagger_css_url": "swagger-ui.css",
                "swagger_favicon_url": "favicon.png",
            },
        ),
        "/redoc": (
            partial(get_redoc_html, with_google_fonts=False),
            "ReDoc",
            {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"},
        ),
    }
    for path, (render, title, assets) in pages.items():
        app.add_route(path, _page(app, render, title, assets), include_in_schema=False)


def _page(
    app: FastAPI, render: Callable[..., HTMLResponse], title: str, assets: dict[str, str]
) -> Callable[[Request], HTMLResponse]:
    def page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        urls = {keyword: f"{root}{ASSETS}/{file}" for keyword, file in assets.items()}
        return render(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - {title}", **urls
        )

    return page
