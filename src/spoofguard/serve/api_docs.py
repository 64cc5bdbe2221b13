"""``/docs`` that works offline: Swagger UI's files come from the ``swagger-ui-bundle`` package and are
served under ``/static/swagger/``, not from a CDN (FastAPI's default page is blank without internet).
ReDoc has no packaged copy, so ``/redoc`` is off; ``/openapi.json`` is the schema itself."""

from __future__ import annotations

ASSETS = "/static/swagger"


def swagger_files():
    """The folder of Swagger UI's files, or None when swagger-ui-bundle is not installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return swagger_ui_bundle.swagger_ui_path


def mount_docs(app, title: str = "spoofguard API") -> None:
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    folder = swagger_files()
    if folder is not None:
        app.mount(ASSETS, StaticFiles(directory=str(folder)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs():
        if folder is None:
            return HTMLResponse("<p>The interactive API page needs the <code>swagger-ui-bundle</code> package "
                                "(<code>pip install spoofguard[serve]</code>). The schema: <a href='/openapi.json'>/openapi.json</a>.</p>")
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=title, swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")
