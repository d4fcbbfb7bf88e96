"""`newswatch serve`: the web view (changes, diffs, search, the Atom feed, subscriptions and the
unsubscribe links of every digest), under gunicorn."""

from __future__ import annotations

import click

from monitor import config
from monitor.cli.options import open_database
from monitor.mail.settings import ConfigError, MailSettings, SecretKey

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400  # NEWSWATCH_PUBLIC_URL's default, http://127.0.0.1:8400


@click.command()
@click.option("--host", envvar="NEWSWATCH_WEB_HOST", show_envvar=True, default=DEFAULT_HOST, show_default=True,
              help="Address to listen on (keep 127.0.0.1 behind a reverse proxy).")
@click.option("--port", envvar="NEWSWATCH_WEB_PORT", show_envvar=True, type=click.IntRange(1, 65535),
              default=DEFAULT_PORT, show_default=True, help="Port to listen on.")
@click.option("--workers", envvar="NEWSWATCH_WEB_WORKERS", show_envvar=True, type=click.IntRange(1, 64), default=2,
              show_default=True, help="gunicorn worker processes.")
@click.option("--proxies", envvar="NEWSWATCH_WEB_PROXIES", show_envvar=True, type=click.IntRange(0, 10), default=1,
              show_default=True, help="Reverse proxies in front whose X-Forwarded-* headers are trusted (0: none).")
@config.site_option
@config.mail_options
@config.secret_key_options
@config.database_option
def serve(host: str, port: int, workers: int, proxies: int, site: str, mail_settings: MailSettings,
          secret_key: SecretKey, database_url: str) -> None:
    """Serve the web view: changes, diffs, search, the Atom feed, subscribing and unsubscribing."""
    from sqlalchemy.orm import Session

    from monitor.mail.send import check_secret_key
    from monitor.web import WebSettings
    from monitor.web.server import WebServer
    from storage import subscribers as store

    with open_database(database_url, create=True) as engine, Session(engine) as session:
        try:
            # A new key only while no token depends on one; then every process must use the same.
            key = secret_key.load(create=store.any_subscriber(session) is None)
            check_secret_key(session, key)
        except ConfigError as error:
            raise click.ClickException(str(error)) from error
    settings = WebSettings(database_url=database_url, public_url=mail_settings.public_url, secret_key=key,
                           mail=mail_settings, site=site, proxies=proxies)
    click.echo(f"Serving the web view of {database_url} on http://{host}:{port}/ "
               f"(links in e-mails point at {mail_settings.public_url}); Ctrl-C stops it.", err=True)
    WebServer(settings, host=host, port=port, workers=workers).run()
