"""The Flask application: its blueprints, the reader's language, security headers, and error pages
that never show a trace."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import Flask, Response, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from monitor import i18n
from monitor.web import feed, pages, subscriptions
from monitor.web.context import WebSettings, close_session, csrf, tr

log = logging.getLogger(__name__)

# Scripts: none. Styles: our style sheet only (no inline style attribute either). Forms post
# only here; no frame may hold a page; nothing else loads.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(settings: WebSettings, engine: Engine | None = None) -> Flask:
    """The application over `settings` (an engine may be handed in, e.g. by tests)."""
    from storage.db import make_engine

    app = Flask(__name__)
    app.config.update(
        # Flask's own key (sessions, CSRF) is derived from the project's key, never the key itself.
        SECRET_KEY=hmac.new(settings.secret_key, b"newswatch-web-session", hashlib.sha256).hexdigest(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session cookie
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_AS_ASCII=False,
    )
    app.extensions["newswatch"] = settings
    app.extensions["newswatch.engine"] = engine or make_engine(settings.database_url)
    if settings.proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies,  # type: ignore[method-assign]
                                x_host=settings.proxies, x_prefix=settings.proxies)
    csrf.init_app(app)
    _install_i18n(app)
    app.after_request(_secure)
    app.teardown_appcontext(close_session)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(subscriptions.blueprint)
    app.register_blueprint(feed.blueprint)
    return app


# --------------------------------------------------------------------------- language


def _install_i18n(app: Flask) -> None:
    """The reader's language for every page: `?lang=` when given (and kept on our links), else the
    browser's Accept-Language; templates translate through Jinja2's i18n extension."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        newstyle=True,
    )
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    @app.before_request
    def choose_language() -> None:
        asked = request.args.get("lang")
        g.lang_asked = asked if asked in i18n.LOCALES else None
        g.locale = g.lang_asked or request.accept_languages.best_match(i18n.LOCALES) or i18n.DEFAULT_LOCALE

    @app.url_defaults
    def keep_language(endpoint: str, values: dict[str, Any]) -> None:
        if g.get("lang_asked") and endpoint != "static" and "lang" not in values:
            values["lang"] = g.lang_asked

    @app.context_processor
    def language_context() -> dict[str, Any]:
        return {"tr": tr(), "locale": tr().locale, "locales": i18n.LOCALES, "native_names": i18n.NATIVE_NAMES,
                "in_language": in_language, "here": here}


def here(**changes: Any) -> str:
    """This page's URL with some query arguments changed (None removes one)."""
    from flask import url_for

    arguments: dict[str, Any] = {name: request.args.getlist(name) for name in request.args}
    arguments.update(changes)
    arguments = {name: value for name, value in arguments.items() if value is not None}
    return url_for(request.endpoint or "pages.changes", **(request.view_args or {}), **arguments)


def in_language(locale: str) -> str:
    """This page's URL in another language (its other query arguments kept)."""
    from flask import url_for

    arguments: dict[str, Any] = {name: request.args.getlist(name) for name in request.args if name != "lang"}
    return url_for(request.endpoint or "pages.changes", **(request.view_args or {}), **arguments, lang=locale)


def _gettext(message: str) -> str:
    return tr().catalogue.gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return tr().catalogue.ngettext(singular, plural, n)


# --------------------------------------------------------------------------- security and errors


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.add("Vary", "Accept-Language")
    return response


def _http_error(error: HTTPException) -> tuple[str, int]:
    return render_template("error.html", code=error.code or 500, error=error), error.code or 500


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template("error.html", code=400, error=error, csrf=True), 400


def _unexpected_error(error: Exception) -> tuple[str, int]:
    # The trace goes to the log (gunicorn's error log), never to the browser.
    log.exception("error serving %s %s", request.method, request.path, exc_info=error)
    return render_template("error.html", code=500, error=None), 500
