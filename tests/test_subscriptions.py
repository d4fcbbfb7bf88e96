"""Subscribing from the web (double opt-in), preferences, unsubscribing (a confirm page and RFC 8058's
one-click POST), CSRF on every other form, and hostile titles shown as text everywhere."""

from __future__ import annotations

import datetime as dt
import email
import re
import xml.etree.ElementTree as ET
from email import policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.mail import confirm
from monitor.mail.outbox import enqueue_digests
from monitor.mail.send import build_message
from monitor.mail.settings import MailSettings
from storage import subscribers as store
from storage.models import Article, ArticleVersion, Change, CrawlRun, Delivery, Subscriber
from tests.web_support import KEY, PUBLIC_URL, csrf_token, make_app

T0 = dt.datetime(2026, 5, 2, 3, 0, tzinfo=dt.UTC)
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def client(engine: Engine, outbox: Path) -> FlaskClient:
    return make_app(engine, outbox).test_client()


def subscriber(engine: Engine, email_address: str = "jane@example.org", languages=("en", "ar"),
               kinds=("added", "edited", "removed"), locale: str | None = None) -> str:
    """A subscriber added as the CLI adds one; its token."""
    with Session(engine) as session, session.begin():
        return store.add_subscriber(session, email_address, languages, kinds, known_languages=("en", "fr", "ar"),
                                    key=KEY, now=T0, locale=locale).token


def a_night(engine: Engine, title_old: str = "Forum opens", title_new: str = "Forum opens", language: str = "en") -> int:
    """A baseline run and a complete run that edited one article; the second run's id."""
    with Session(engine) as session, session.begin():
        first = CrawlRun(site="icesco", started_at=T0, finished_at=T0, status="complete", stats={}, is_baseline=True)
        second = CrawlRun(site="icesco", started_at=T0 + dt.timedelta(days=1), finished_at=T0 + dt.timedelta(days=1),
                          status="complete", stats={})
        session.add_all([first, second])
        session.flush()
        article = Article(site="icesco", canonical_url=f"https://icesco.org/{language}/2026/05/01/forum/",
                          language=language, first_seen_run_id=first.id, last_seen_run_id=second.id, state="live")
        session.add(article)
        session.flush()
        old = ArticleVersion(article_id=article.id, run_id=first.id, fetched_at=T0, content_hash="a", title=title_old,
                             published=dt.date(2026, 5, 1), text="The forum gathered 150 participants.",
                             paragraphs=["The forum gathered 150 participants."])
        new = ArticleVersion(article_id=article.id, run_id=second.id, fetched_at=T0, content_hash="b", title=title_new,
                             published=dt.date(2026, 5, 1), text="The forum gathered 200 participants.",
                             paragraphs=["The forum gathered 200 participants."])
        session.add_all([old, new])
        session.flush()
        article.current_version_id = new.id
        session.add_all([
            Change(run_id=first.id, article_id=article.id, kind="added", fields=[], new_version_id=old.id,
                   summary="new release", is_baseline=True),
            Change(run_id=second.id, article_id=article.id, kind="edited", fields=["text"], old_version_id=old.id,
                   new_version_id=new.id, summary="paragraph 1: 150 → 200"),
        ])
        return second.id


def subscribed(engine: Engine, email_address: str = "jane@example.org") -> Subscriber | None:
    with Session(engine) as session:
        found = session.scalars(select(Subscriber).where(Subscriber.email == email_address)).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


# --------------------------------------------------------------------------- unsubscribe


def test_one_click_unsubscribe_needs_no_session_and_is_idempotent(engine, client):
    token = subscriber(engine)
    run_id = a_night(engine)
    with Session(engine) as session, session.begin():
        assert enqueue_digests(session, run_id, now=T0) == 1  # a digest waits for jane

    first = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    again = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})

    assert first.status_code == 200 and again.status_code == 200
    assert "will receive no more digests" in first.get_data(as_text=True)
    assert "already unsubscribed" in again.get_data(as_text=True)
    assert subscribed(engine).unsubscribed_at is not None
    with Session(engine) as session, session.begin():
        assert enqueue_digests(session, run_id, now=T0) == 0  # the pending digest is cancelled, none comes back
        assert session.scalars(select(Delivery.status)).all() == ["cancelled"]


def test_the_unsubscribe_link_shows_a_confirm_page_that_posts_with_its_csrf_token(engine, client):
    token = subscriber(engine)
    page = client.get(f"/unsubscribe/{token}").get_data(as_text=True)

    assert subscribed(engine).unsubscribed_at is None  # a GET never unsubscribes
    assert f'<form method="post" action="/unsubscribe/{token}">' in page
    refused = client.post(f"/unsubscribe/{token}", data={})  # neither one-click nor a CSRF token
    assert refused.status_code == 400 and subscribed(engine).unsubscribed_at is None
    done = client.post(f"/unsubscribe/{token}", data={"csrf_token": csrf_token(client, f"/unsubscribe/{token}")})
    assert done.status_code == 200 and subscribed(engine).unsubscribed_at is not None


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_token_gets_a_plain_page(engine, client, method):
    response = getattr(client, method)("/unsubscribe/nosuchtoken", data={"List-Unsubscribe": "One-Click"})
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "This link is not (or no longer) valid" in body and "Traceback" not in body
    assert client.get("/preferences/nosuchtoken").status_code == 404


# --------------------------------------------------------------------------- preferences and CSRF


def test_preferences_change_languages_kinds_and_the_digest_language(engine, client):
    token = subscriber(engine)
    form = client.get(f"/preferences/{token}").get_data(as_text=True)
    assert 'name="languages" value="ar" checked' in form and 'name="languages" value="fr">' in form

    saved = client.post(f"/preferences/{token}", data={
        "csrf_token": csrf_token(client, f"/preferences/{token}"), "languages": ["fr"], "kinds": ["removed"],
        "locale": "fr"})

    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    now = subscribed(engine)
    assert (now.languages, now.kinds, now.locale) == (["fr"], ["removed"], "fr")


def test_preferences_refuse_an_empty_choice_and_change_nothing(engine, client):
    token = subscriber(engine)
    refused = client.post(f"/preferences/{token}", data={
        "csrf_token": csrf_token(client, f"/preferences/{token}"), "languages": ["fr"], "kinds": []})
    assert refused.status_code == 400
    assert subscribed(engine).kinds == ["added", "edited", "removed"]


@pytest.mark.parametrize("path", ["/subscribe", "/preferences/{token}", "/subscribe/confirm/{signed}"])
def test_every_form_but_one_click_needs_its_csrf_token(engine, client, path):
    token = subscriber(engine)
    signed = confirm.sign(KEY, confirm.SignUp("bob@example.org", ("en",), ("added",), "en"))
    response = client.post(path.format(token=token, signed=signed),
                           data={"email": "bob@example.org", "languages": ["en"], "kinds": ["added"]})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)
    assert subscribed(engine, "bob@example.org") is None


# --------------------------------------------------------------------------- double opt-in


def test_subscribing_needs_the_confirmation_link_mailed_to_the_address(engine, client, outbox):
    posted = client.post("/subscribe?lang=ar", data={
        "csrf_token": csrf_token(client, "/subscribe"), "email": "Bob@Example.org", "languages": ["ar", "en"],
        "kinds": ["added", "edited"], "locale": "ar"})

    assert posted.status_code == 200 and subscribed(engine, "bob@example.org") is None
    [mail] = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.glob("*.eml")]
    assert mail["To"] == "bob@example.org" and "أكّد اشتراكك" in mail["Subject"]
    link = re.search(r"http://news\.example\.org(/subscribe/confirm/\S+?)\u2069", mail.get_content()).group(1)

    shown = client.get(link)
    assert shown.status_code == 200 and subscribed(engine, "bob@example.org") is None  # a GET subscribes nobody
    done = client.post(link, data={"csrf_token": csrf_token(client, link)})

    assert done.status_code == 200
    bob = subscribed(engine, "bob@example.org")
    assert (bob.languages, bob.kinds, bob.locale, bob.unsubscribed_at) == (["ar", "en"], ["added", "edited"], "ar", None)
    again = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert "مشترك من قبل" in again.get_data(as_text=True)  # "already subscribed", in the language chosen


def test_a_forged_or_expired_confirmation_link_subscribes_nobody(engine, client, monkeypatch):
    signed = confirm.sign(KEY, confirm.SignUp("eve@example.org", ("en",), ("added",), "en"))
    forged = signed[:-3] + ("AAA" if not signed.endswith("AAA") else "BBB")
    assert client.get(f"/subscribe/confirm/{forged}").status_code == 404
    other_key = confirm.sign(b"another-key-0123456789-0123456789-01", confirm.SignUp("eve@example.org", ("en",),
                                                                                   ("added",), "en"))
    assert client.get(f"/subscribe/confirm/{other_key}").status_code == 404

    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(T0.timestamp()))
    old = confirm.sign(KEY, confirm.SignUp("eve@example.org", ("en",), ("added",), "en"))
    monkeypatch.undo()
    expired = client.get(f"/subscribe/confirm/{old}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert subscribed(engine, "eve@example.org") is None


def test_a_bad_address_is_refused_and_nothing_is_sent(engine, client, outbox):
    response = client.post("/subscribe", data={"csrf_token": csrf_token(client, "/subscribe"),
                                               "email": "not an address", "languages": ["en"], "kinds": ["added"]})
    assert response.status_code == 400 and not list(outbox.glob("*.eml"))


# --------------------------------------------------------------------------- digests in the subscriber's language


def test_an_arabic_subscribers_digest_is_arabic_and_links_to_this_server(engine, client):
    subscriber(engine, languages=("en",), locale="ar")
    run_id = a_night(engine)
    with Session(engine) as session, session.begin():
        enqueue_digests(session, run_id, now=T0)
    with Session(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        message = build_message(session, delivery, MailSettings(public_url=PUBLIC_URL), KEY,
                                message_id="<1@example.org>", now=T0).message
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()

    assert message["Subject"] == "أخبار ICESCO: خبر معدّل"
    assert '<html lang="ar" dir="rtl">' in html and '<div lang="en" dir="ltr"' in html
    assert "الفقرة 1: \u2066150 → 200\u2069" in html  # the summary, its figures isolated
    link = re.search(r'href="(http://news\.example\.org/changes/\d+/\d+)"', html).group(1)
    assert link in text
    assert client.get(link.removeprefix(PUBLIC_URL)).status_code == 200
    assert f"{PUBLIC_URL}/preferences/" in html and f"{PUBLIC_URL}/unsubscribe/" in html
    assert "إلغاء الاشتراك" in html and "You receive" not in html


# --------------------------------------------------------------------------- hostile titles


@pytest.mark.parametrize("hostile", [SCRIPT, IMG])
def test_a_hostile_title_shows_as_text_in_pages_feed_and_digest(engine, client, hostile):
    run_id = a_night(engine, title_old="Forum", title_new=f"Forum {hostile}")
    subscriber(engine, languages=("en",))
    with Session(engine) as session, session.begin():
        enqueue_digests(session, run_id, now=T0)
        article_id = session.scalars(select(Article.id)).one()
        delivery = session.scalars(select(Delivery)).one()
        message = build_message(session, delivery, MailSettings(public_url=PUBLIC_URL), KEY,
                                message_id="<1@example.org>", now=T0).message
    escaped = hostile.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for path in ("/", f"/runs/{run_id}", f"/changes/{run_id}/{article_id}", f"/articles/{article_id}",
                 f"/articles/{article_id}?from=1&to=2", "/search?q=forum", "/?lang=ar"):
        body = client.get(path).get_data(as_text=True)
        assert hostile not in body, path
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert escaped.split('"')[-1] in body, path  # shown, as text
    feed = client.get("/feed.atom").data
    titles = [e.text for e in ET.fromstring(feed).iter("{http://www.w3.org/2005/Atom}title")]
    assert any(hostile in title for title in titles)  # the parsed text is the title; the document escapes it
    assert hostile.encode() not in feed
    html = message.get_body(("html",)).get_content()
    assert hostile not in html and "<img src=x" not in html and "<script>alert" not in html
