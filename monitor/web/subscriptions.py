"""The pages that write, each only with a token: subscribing (double opt-in), confirming,
preferences, unsubscribing (a confirm page, and RFC 8058's one-click POST)."""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue

from monitor import i18n
from monitor.mail import confirm
from monitor.mail.transports import MessageRejected, TransportError
from monitor.web.context import csrf, session, settings, tr
from monitor.web.pages import languages, site_choices, site_title
from storage import subscribers as store
from storage.models import SUBSCRIBER_KINDS

log = logging.getLogger(__name__)
blueprint = Blueprint("subscriptions", __name__)
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _choices() -> tuple[list[str], list[str], str]:
    """The languages, kinds and digest language posted by a form (checked by the caller)."""
    locale = request.form.get("locale", "")
    return request.form.getlist("languages"), request.form.getlist("kinds"), locale if locale in i18n.LOCALES else ""


def _chosen_sites() -> tuple[str, ...] | None:
    """The sites posted by a form (None while only one site is configured: the form offers none).

    SubscriberError for none chosen, as for languages; every site chosen is every site (None),
    those added later too (storage.subscribers.check_sites)."""
    offered = site_choices()
    if not offered:
        return None
    chosen = request.form.getlist("sites")
    if not [site for site in chosen if site.strip()]:
        raise store.SubscriberError("choose at least one site")
    return store.check_sites(chosen, offered)


def _form(template: str, code: int = 200, **values: object) -> ResponseReturnValue:
    values.setdefault("chosen_sites", None)
    return render_template(template, languages=languages(), kinds=SUBSCRIBER_KINDS, sites=site_choices(),
                           **values), code


# --------------------------------------------------------------------------- subscribe (double opt-in)


@blueprint.route("/subscribe", methods=["GET", "POST"])
def subscribe() -> ResponseReturnValue:
    """The form; on POST, a confirmation e-mail to the address (nothing is stored yet)."""
    if request.method == "GET":
        return _form("subscribe.html", chosen_languages=languages(), chosen_kinds=SUBSCRIBER_KINDS, email="")
    chosen_languages, chosen_kinds, locale = _choices()
    email = request.form.get("email", "")[:320]
    try:
        address = store.normalize_email(email)
        store.check_languages(chosen_languages, languages())
        store.check_kinds(chosen_kinds)
        chosen_sites = _chosen_sites()
    except store.SubscriberError:
        return _form("subscribe.html", 400, chosen_languages=chosen_languages, chosen_kinds=chosen_kinds,
                     chosen_sites=request.form.getlist("sites"), email=email, problem=True)
    sign_up = confirm.SignUp(address, tuple(chosen_languages), tuple(chosen_kinds),
                             locale or i18n.first_supported([tr().locale]), chosen_sites)
    link = settings().public_url + url_for(".confirm_page", token=confirm.sign(settings().secret_key, sign_up),
                                           lang=sign_up.locale)
    named = sign_up.sites or site_choices() or (settings().site,)
    site_name = " · ".join(map(site_title, named)) if site_choices() else settings().site.upper()
    message = confirm.compose_confirmation(sign_up, link, settings().mail, site_name=site_name, now=_now())
    transport = settings().transport(settings().mail)
    try:
        transport.send(message)
    except (TransportError, MessageRejected) as error:
        log.warning("confirmation e-mail to %s not sent: %s", address, error)
        return render_template("message.html", title=tr().gettext("Not sent"),
                               text=tr().gettext("The confirmation e-mail could not be sent. Please try again later.")), 503
    finally:
        transport.close()
    # The same answer whether or not the address is already subscribed: the page tells nobody who is.
    return render_template("message.html", title=tr().gettext("Check your inbox"),
                           text=tr().gettext("We sent a confirmation link to %(email)s. Your subscription starts when "
                                             "you open it.", email=address))


@blueprint.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm_page(token: str) -> ResponseReturnValue:
    """GET shows what will be subscribed (mail scanners follow links: a GET never subscribes);
    POST (with the form's CSRF token) subscribes."""
    try:
        sign_up = confirm.read(settings().secret_key, token)
    except confirm.ExpiredSignUp:
        return render_template("message.html", title=tr().gettext("Link expired"),
                               text=tr().gettext("This confirmation link has expired. Please subscribe again.")), 410
    except confirm.BadSignUp:
        abort(404)
    if request.method == "GET":
        return render_template("confirm.html", sign_up=sign_up, token=token)
    db = session()
    try:
        added = store.add_subscriber(db, sign_up.email, sign_up.languages, sign_up.kinds,
                                     known_languages=languages(), key=settings().secret_key, now=_now(),
                                     locale=sign_up.locale, sites=sign_up.sites, known_sites=site_choices())
    except store.SubscriberError:
        # Already subscribed (or choices no longer valid): nothing changes.
        db.rollback()
        return render_template("message.html", title=tr().gettext("Already subscribed"),
                               text=tr().gettext("This address is already subscribed. Every digest has a link "
                                                 "to change your choices."))
    db.commit()
    return render_template("subscribed.html", email=added.email,
                           preferences=url_for(".preferences", token=added.token))


# --------------------------------------------------------------------------- preferences


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> ResponseReturnValue:
    """The subscriber's languages, kinds and digest language; POST saves them."""
    db = session()
    try:
        subscriber = store.by_token(db, token)
    except store.UnknownToken:
        return _unknown_token()
    if request.method == "GET":
        return _form("preferences.html", subscriber=subscriber, token=token,
                     chosen_languages=subscriber.languages, chosen_kinds=subscriber.kinds,
                     chosen_locale=subscriber.locale or i18n.first_supported(subscriber.languages),
                     chosen_sites=subscriber.sites)
    chosen_languages, chosen_kinds, locale = _choices()
    try:
        chosen_sites = _chosen_sites()
        store.set_preferences(db, token, chosen_languages, chosen_kinds, known_languages=languages(),
                              locale=locale or None, sites=list(chosen_sites or site_choices()) or None,
                              known_sites=site_choices())
    except store.SubscriberError:
        db.rollback()
        return _form("preferences.html", 400, subscriber=subscriber, token=token, chosen_languages=chosen_languages,
                     chosen_kinds=chosen_kinds, chosen_locale=locale, chosen_sites=request.form.getlist("sites"),
                     problem=True)
    db.commit()
    return _form("preferences.html", subscriber=subscriber, token=token, chosen_languages=subscriber.languages,
                 chosen_kinds=subscriber.kinds, chosen_locale=locale or i18n.first_supported(subscriber.languages),
                 chosen_sites=subscriber.sites, saved=True)


# --------------------------------------------------------------------------- unsubscribe


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> ResponseReturnValue:
    """A confirm page: a GET never unsubscribes (link scanners open every link of a message)."""
    try:
        subscriber = store.by_token(session(), token)
    except store.UnknownToken:
        return _unknown_token()
    return render_template("unsubscribe.html", subscriber=subscriber, token=token)


@blueprint.post("/unsubscribe/<token>")
@csrf.exempt  # type: ignore[untyped-decorator]  # Flask-WTF ships no type information
def unsubscribe(token: str) -> ResponseReturnValue:
    """RFC 8058 one-click (`List-Unsubscribe=One-Click`, posted by mail providers without a session),
    or the confirm page's form (with its CSRF token). Idempotent; an unknown token is a plain page."""
    if request.form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        csrf.protect()
    db = session()
    try:
        done = store.unsubscribe(db, token, now=_now())
    except store.UnknownToken:
        db.rollback()
        return _unknown_token()
    db.commit()
    return render_template("unsubscribed.html", email=done.email, already=done.already, token=token)


def _unknown_token() -> ResponseReturnValue:
    return render_template("message.html", title=tr().gettext("Unknown link"),
                           text=tr().gettext("This link is not (or no longer) valid: check that the whole link was "
                                             "copied from the e-mail.")), 404
