"""Digest emails through the outbox to a real SMTP server on 127.0.0.1 (aiosmtpd), on both databases.

Test data are runs, articles, versions and changes inserted with the models; time is passed
in explicitly (`now=`), never slept through.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

import click
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from monitor import config
from monitor.cli import main
from monitor.mail import send as mail
from monitor.mail.outbox import RETRY_BASE, SEND_LEASE, enqueue_digests, retry_delay
from monitor.mail.settings import MailSettings
from monitor.mail.transports import transport_for
from storage import outbox
from storage import subscribers as store
from storage.models import Article, ArticleVersion, Change, CrawlRun, Delivery, Subscriber

KEY = b"test-key-0123456789-0123456789-0123456789"
T0 = dt.datetime(2026, 5, 2, 3, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 5, 1)
LANGUAGES = ("en", "fr", "ar")
SENDER = "Newswatch <newswatch@alerts.example.org>"


# --------------------------------------------------------------------------- a real SMTP server


class Inbox:
    """An aiosmtpd handler keeping what it accepts; refuses the recipients in `refuse`."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def parsed(self) -> dict[str, EmailMessage]:
        """The received messages by recipient (one each, or the test fails)."""
        by_recipient: dict[str, EmailMessage] = {}
        for _, recipients, content in self.messages:
            assert len(recipients) == 1
            assert recipients[0] not in by_recipient, f"two digests to {recipients[0]}"
            by_recipient[recipients[0]] = email.message_from_bytes(content, policy=policy.default)
        return by_recipient


class LoopbackSMTP(Controller):
    """aiosmtpd's Controller on an ephemeral port (port=0), which it learns once listening."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    inbox: Inbox = field(default_factory=Inbox)
    port: int = 0
    controller: Controller | None = None
    options: dict = field(default_factory=dict)

    def start(self) -> None:
        self.controller = LoopbackSMTP(self.inbox, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()
        self.port = self.controller.port

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self, **changes) -> MailSettings:
        return MailSettings(mail_from=SENDER, public_url="https://news.example.org",
                                       smtp_host="127.0.0.1", smtp_port=self.port, **changes)

    def env(self, **extra: str) -> dict[str, str]:
        return {"NEWSWATCH_SMTP_HOST": "127.0.0.1", "NEWSWATCH_SMTP_PORT": str(self.port),
                "NEWSWATCH_MAIL_FROM": SENDER, "NEWSWATCH_PUBLIC_URL": "https://news.example.org",
                "NEWSWATCH_SECRET_KEY": KEY.decode(), **extra}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- test data


@dataclass
class World:
    """Two runs of the site: a baseline, then a run with changes in all three languages."""

    baseline: int
    run: int
    tokens: dict[str, str]  # subscriber -> unsubscribe token


def _run(session: Session, started: dt.datetime, *, baseline: bool = False, status: str = "complete") -> CrawlRun:
    run = CrawlRun(site="icesco", started_at=started, finished_at=started + dt.timedelta(minutes=20),
                   status=status, stats={}, is_baseline=baseline)
    session.add(run)
    session.flush()
    return run


def _version(session: Session, article: Article, run: CrawlRun, title: str, paragraphs: list[str]) -> ArticleVersion:
    version = ArticleVersion(article=article, run_id=run.id, fetched_at=run.started_at, content_hash=title[:60],
                             title=title, published=DAY, text="\n\n".join(paragraphs), paragraphs=paragraphs)
    article.current_version = version
    session.flush()
    return version


def _article(session: Session, run: CrawlRun, language: str, slug: str, title: str, paragraphs: list[str]):
    article = Article(site="icesco", canonical_url=f"https://icesco.org/{language}/2026/05/01/{slug}/",
                      language=language, first_seen_run_id=run.id, last_seen_run_id=run.id, state="live")
    session.add(article)
    session.flush()
    version = _version(session, article, run, title, paragraphs)
    session.add(Change(run_id=run.id, article_id=article.id, kind="added", fields=[], new_version_id=version.id,
                       summary="new", is_baseline=run.is_baseline))
    return article, version


def _edit(session: Session, run: CrawlRun, article: Article, old: ArticleVersion, paragraphs: list[str],
          title: str | None = None) -> Change:
    new = _version(session, article, run, title or old.title, paragraphs)
    change = Change(run_id=run.id, article_id=article.id, kind="edited", fields=["text"], old_version_id=old.id,
                    new_version_id=new.id, summary="paragraph 1: 150 → 200")
    session.add(change)
    session.flush()
    return change


def add_subscriber(session: Session, email_: str, languages=LANGUAGES, kinds=("added", "edited", "removed")) -> str:
    return store.add_subscriber(session, email_, list(languages), list(kinds), known_languages=LANGUAGES,
                                key=KEY, now=T0).token


@pytest.fixture
def world(engine: Engine) -> World:
    with Session(engine) as session, session.begin():
        base = _run(session, T0 - dt.timedelta(days=1), baseline=True)
        en1, en1_v1 = _article(session, base, "en", "forum", "Heritage Forum in Rabat", ["150 participants came."])
        en2, en2_v1 = _article(session, base, "en", "old", "An Old Release", ["It was there."])
        fr1, fr1_v1 = _article(session, base, "fr", "forum", "Forum du patrimoine", ["150 participants sont venus."])
        ar1, ar1_v1 = _article(session, base, "ar", "forum", "منتدى التراث في الرباط", ["شارك 150 مشاركا."])
        run = _run(session, T0)
        _article(session, run, "en", "new", "A Brand New Release", ["Fresh news from ICESCO."])
        _edit(session, run, en1, en1_v1, ["200 participants came."])
        _edit(session, run, fr1, fr1_v1, ["200 participants sont venus."])
        _edit(session, run, ar1, ar1_v1, ["شارك 200 مشارك."])
        en2.state = "gone"
        session.add(Change(run_id=run.id, article_id=en2.id, kind="removed", fields=[], old_version_id=en2_v1.id,
                           summary="404 Not Found"))
        tokens = {
            "alice": add_subscriber(session, "alice@example.org", ["en"]),
            "bob": add_subscriber(session, "bob@example.org", ["fr", "ar"], ["edited"]),
            "carol": add_subscriber(session, "carol@example.org", LANGUAGES, ["removed"]),
            "dave": add_subscriber(session, "dave@example.org", ["en"]),
            "erin": add_subscriber(session, "erin@example.org", ["fr"], ["added", "removed"]),  # nothing for her
        }
        store.unsubscribe(session, tokens["dave"], now=T0)
        return World(base.id, run.id, tokens)


def enqueue(engine: Engine, run_id: int) -> int:
    with Session(engine) as session, session.begin():
        return enqueue_digests(session, run_id, now=T0)


def deliveries(engine: Engine) -> dict[str, Delivery]:
    with Session(engine) as session:
        rows = session.execute(select(Delivery, Subscriber.email).join(Subscriber, Delivery.subscriber_id == Subscriber.id))
        result = {}
        for delivery, address in rows:
            session.expunge(delivery)
            result[address.split("@")[0]] = delivery
        return result


def send(engine: Engine, settings: MailSettings, now: dt.datetime) -> mail.NotifyReport:
    return mail.send_due(engine, transport_for(settings), settings, KEY, now=now)


def cli(engine: Engine, *args: str, env: dict[str, str] | None = None):
    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(main, [*args, "--database", url], env=env)


# --------------------------------------------------------------------------- what is queued


def test_a_run_queues_one_digest_per_subscriber_with_relevant_changes(engine, world):
    assert enqueue(engine, world.run) == 3
    assert {name: d.status for name, d in deliveries(engine).items()} == {
        "alice": "pending", "bob": "pending", "carol": "pending"}  # dave left, erin wants nothing of it


def test_baseline_and_unknown_runs_queue_nothing(engine, world):
    assert enqueue(engine, world.baseline) == 0
    assert deliveries(engine) == {}
    with Session(engine) as session, pytest.raises(LookupError, match="no crawl run with id 999"):
        enqueue_digests(session, 999)


@pytest.mark.parametrize("status", ["incomplete", "failed"])
def test_an_incomplete_or_failed_run_queues_its_additions_and_edits_never_a_removal(engine, world, status):
    with Session(engine) as session, session.begin():
        session.execute(update(CrawlRun).where(CrawlRun.id == world.run).values(status=status))
    assert enqueue(engine, world.run) == 2
    # carol asked for removals only: a run that could not see the whole site removes nothing.
    assert {name: d.status for name, d in deliveries(engine).items()} == {"alice": "pending", "bob": "pending"}


def test_a_running_run_queues_nothing(engine, world):
    with Session(engine) as session, session.begin():
        session.execute(update(CrawlRun).where(CrawlRun.id == world.run).values(status="running"))
    assert enqueue(engine, world.run) == 0


def test_enqueueing_twice_is_idempotent_and_a_recompute_never_resends(engine, world):
    enqueue(engine, world.run)
    first = {name: d.id for name, d in deliveries(engine).items()}
    assert enqueue(engine, world.run) == 3
    assert {name: d.id for name, d in deliveries(engine).items()} == first

    with Session(engine) as session, session.begin():
        outbox.mark_sent(session, first["alice"], now=T0)
        # A recompute finds that the French and Arabic edits were not changes after all.
        edited = session.scalars(select(Change).join(Article, Change.article_id == Article.id)
                                 .where(Change.run_id == world.run, Article.language != "en")).all()
        saved = [(c.article_id, c.old_version_id, c.new_version_id) for c in edited]
        for change in edited:
            session.delete(change)
    assert enqueue(engine, world.run) == 1  # carol still pending
    rows = deliveries(engine)
    assert (rows["alice"].status, rows["bob"].status, rows["carol"].status) == ("sent", "cancelled", "pending")
    assert "recomputed" in rows["bob"].last_error

    with Session(engine) as session, session.begin():  # ... and a later recompute finds them again
        session.add_all(Change(run_id=world.run, article_id=a, kind="edited", fields=["text"], old_version_id=o,
                               new_version_id=n, summary="again") for a, o, n in saved)
    assert enqueue(engine, world.run) == 2
    rows = deliveries(engine)
    assert (rows["alice"].status, rows["bob"].status) == ("sent", "pending")
    assert {name: d.id for name, d in rows.items()} == first


def test_recomputing_a_run_never_mails_who_subscribed_after_it(engine, world):
    enqueue(engine, world.run)  # as the run closed
    with Session(engine) as session, session.begin():
        later = world_run_end(session, world) + dt.timedelta(days=1)
        store.add_subscriber(session, "frank@example.org", ["en"], ["added"], known_languages=LANGUAGES, key=KEY,
                             now=later)
        store.add_subscriber(session, "dave@example.org", ["en"], ["added"], known_languages=LANGUAGES, key=KEY,
                             now=later)  # back after unsubscribing before the run ended

    detected = cli(engine, "detect", "--run", str(world.run))  # e.g. after a fix of the detection

    assert detected.exit_code == 0, detected.output
    assert sorted(deliveries(engine)) == ["alice", "bob", "carol"]


def test_who_subscribed_while_the_run_crawled_gets_its_digest(engine, world):
    with Session(engine) as session, session.begin():
        store.add_subscriber(session, "frank@example.org", ["en"], ["added"], known_languages=LANGUAGES, key=KEY,
                             now=world_run_end(session, world) - dt.timedelta(minutes=1))
    assert enqueue(engine, world.run) == 4
    assert "frank" in deliveries(engine)


def world_run_end(session: Session, world: World) -> dt.datetime:
    run = session.get(CrawlRun, world.run)
    assert run is not None and run.finished_at is not None
    return run.finished_at


# --------------------------------------------------------------------------- sending


def test_each_subscriber_gets_one_digest_with_their_languages_and_kinds(engine, world, smtp):
    enqueue(engine, world.run)

    report = send(engine, smtp.settings(), T0)

    assert report.ok and sorted(report.sent) == ["alice@example.org", "bob@example.org", "carol@example.org"]
    inbox = smtp.inbox.parsed()
    assert set(inbox) == {"alice@example.org", "bob@example.org", "carol@example.org"}
    assert inbox["alice@example.org"]["Subject"] == "ICESCO news: 1 new, 1 edited, 1 removed"
    assert inbox["bob@example.org"]["Subject"] == "Actualités ICESCO : 2 modifiés"  # his first language, French
    assert inbox["carol@example.org"]["Subject"] == "ICESCO news: 1 removed"

    alice = inbox["alice@example.org"].get_body(("html",)).get_content()
    assert "A Brand New Release" in alice and "Heritage Forum in Rabat" in alice and "An Old Release" in alice
    assert "Forum du patrimoine" not in alice and "منتدى" not in alice
    bob = inbox["bob@example.org"].get_body(("html",)).get_content()
    assert "Forum du patrimoine" in bob and "منتدى التراث في الرباط" in bob and "Heritage" not in bob
    assert '<div lang="ar" dir="rtl"' in bob
    assert "<del" in bob and "<ins" in bob
    bob_text = inbox["bob@example.org"].get_body(("plain",)).get_content()
    assert "[-150-]{+200+}" in bob_text
    assert all(m["From"] == SENDER for m in inbox.values())
    assert [mail_from for mail_from, _, _ in smtp.inbox.messages] == ["newswatch@alerts.example.org"] * 3

    assert send(engine, smtp.settings(), T0 + dt.timedelta(days=1)).sent == []  # nothing twice
    assert len(smtp.inbox.messages) == 3
    assert {d.status for d in deliveries(engine).values()} == {"sent"}


def test_digests_carry_message_id_date_and_working_unsubscribe_headers(engine, world, smtp):
    enqueue(engine, world.run)
    send(engine, smtp.settings(), T0)
    alice = smtp.inbox.parsed()["alice@example.org"]
    token = world.tokens["alice"]

    assert alice["List-Unsubscribe"] == (
        f"<mailto:newswatch@alerts.example.org?subject=unsubscribe%20{token}>, "
        f"<https://news.example.org/unsubscribe/{token}>"
    )
    assert alice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw = next(content for _, rcpt, content in smtp.inbox.messages if rcpt == ["alice@example.org"])
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    assert f"\nList-Unsubscribe: {alice['List-Unsubscribe']}\n".encode() in head  # one line, not encoded
    assert re.fullmatch(r"<[^<>@\s]+@alerts\.example\.org>", alice["Message-ID"])
    assert alice["Message-ID"] == deliveries(engine)["alice"].message_id
    assert alice["Date"].datetime == T0

    # The token in the link is the one `subscribers add` printed: `unsubscribe` takes it.
    link_token = re.search(r"/unsubscribe/([\w-]+)>", alice["List-Unsubscribe"]).group(1)
    result = cli(engine, "unsubscribe", link_token)
    assert result.exit_code == 0 and "Unsubscribed alice@example.org" in result.output


def test_a_subscriber_who_unsubscribed_gets_nothing(engine, world, smtp):
    enqueue(engine, world.run)
    result = cli(engine, "unsubscribe", world.tokens["alice"])
    assert result.exit_code == 0, result.output
    assert "1 digest not yet sent will not be" in result.output

    report = send(engine, smtp.settings(), T0)

    assert set(smtp.inbox.parsed()) == {"bob@example.org", "carol@example.org"}
    assert deliveries(engine)["alice"].status == "cancelled" and report.ok
    # Nor of the next run.
    with Session(engine) as session, session.begin():
        run = _run(session, T0 + dt.timedelta(days=1))
        _article(session, run, "en", "later", "A Later Release", ["More news."])
        later = run.id
    assert enqueue(engine, later) == 0  # alice was the only one for English news (dave left too)


def test_smtp_down_loses_nothing_says_so_and_sends_exactly_once_when_back(engine, world, smtp):
    enqueue(engine, world.run)
    smtp.stop()

    report = send(engine, smtp.settings(), T0)

    assert report.sent == [] and report.pending == 3
    assert report.error.startswith(f"SMTP server 127.0.0.1:{smtp.port} refused the connection: ")
    rows = deliveries(engine).values()
    assert {(d.status, d.attempts, d.next_attempt_at) for d in rows} == {("pending", 1, T0 + RETRY_BASE)}
    assert all("refused the connection" in d.last_error for d in rows)

    assert send(engine, smtp.settings(), T0 + dt.timedelta(minutes=1)).sent == []  # backing off
    smtp.start()  # the server is back, on the same port
    report = send(engine, smtp.settings(), T0 + RETRY_BASE)
    assert report.ok and len(report.sent) == 3
    assert send(engine, smtp.settings(), T0 + dt.timedelta(days=2)).sent == []
    assert set(smtp.inbox.parsed()) == {"alice@example.org", "bob@example.org", "carol@example.org"}


def test_notify_reports_an_smtp_outage_clearly_and_exits_non_zero(engine, world, smtp):
    enqueue(engine, world.run)
    smtp.stop()

    result = cli(engine, "notify", env=smtp.env())

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: SMTP server 127.0.0.1:{smtp.port} refused the connection: ")
    assert "; 3 digests stay pending, next attempt after " in result.output
    assert "change" not in result.output  # a delivery problem, never news
    smtp.start()
    result = cli(engine, "notify", "--retry-now", env=smtp.env())
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Sent 3 digests via SMTP server")


def test_back_off_doubles_up_to_a_cap():
    assert [retry_delay(n) for n in (1, 2, 3)] == [RETRY_BASE, 2 * RETRY_BASE, 4 * RETRY_BASE]
    assert retry_delay(50) == dt.timedelta(hours=6)


def test_a_recipient_refused_for_good_fails_alone(engine, world, smtp):
    enqueue(engine, world.run)
    smtp.inbox.refuse.add("bob@example.org")

    report = send(engine, smtp.settings(), T0)

    assert sorted(report.sent) == ["alice@example.org", "carol@example.org"]
    assert report.failed == [f"bob@example.org: SMTP server 127.0.0.1:{smtp.port} refused the recipient: 550 5.1.1 No such "
                             "user here"]
    assert deliveries(engine)["bob"].status == "failed"
    smtp.inbox.refuse.clear()
    result = cli(engine, "notify", "--retry-failed", env=smtp.env())
    assert result.exit_code == 0, result.output
    assert "Sent 1 digest via SMTP server" in result.output and "bob@example.org" in result.output


def test_a_crash_after_the_server_accepted_resends_once_with_the_same_message_id(engine, world, smtp, monkeypatch):
    enqueue(engine, world.run)

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies before it records that the server accepted

    monkeypatch.setattr(outbox, "mark_sent", die)
    with pytest.raises(KeyboardInterrupt):
        send(engine, smtp.settings(), T0)
    monkeypatch.undo()
    (_, (crashed,), _), = smtp.inbox.messages
    assert deliveries(engine)[crashed.split("@")[0]].status == "pending"
    # The next run sends the two others; the crashed one waits for its lease to end ...
    assert crashed not in send(engine, smtp.settings(), T0 + dt.timedelta(minutes=1)).sent
    # ... and is sent again: the one possible duplicate, with the same Message-ID.
    assert send(engine, smtp.settings(), T0 + SEND_LEASE).sent == [crashed]

    assert len(smtp.inbox.messages) == 4 and {d.status for d in deliveries(engine).values()} == {"sent"}
    ids = [(rcpt, email.message_from_bytes(c, policy=policy.default)["Message-ID"])
           for _, (rcpt,), c in smtp.inbox.messages]
    assert ids[0] == ids[-1] and len(set(ids)) == 3


def test_two_senders_never_claim_the_same_digest(engine, world):
    enqueue(engine, world.run)
    delivery_id = deliveries(engine)["alice"].id
    with Session(engine) as session, session.begin():
        claims = [outbox.claim_delivery(session, delivery_id, now=T0, lease_until=T0 + SEND_LEASE, message_id=f"<{n}@x>")
                  for n in range(2)]
    assert claims == [True, False]
    assert deliveries(engine)["alice"].message_id == "<0@x>"


def test_a_title_with_script_and_line_breaks_arrives_inert(engine, world, smtp):
    with Session(engine) as session, session.begin():
        run = _run(session, T0 + dt.timedelta(days=1))
        _article(session, run, "en", "evil", '<script>alert(1)</script>\r\nBcc: victim@example.org\r\n\r\nhi',
                 ["<img src=x onerror=alert(1)> text"])
        evil = run.id
    enqueue(engine, evil)

    send(engine, smtp.settings(), T0 + dt.timedelta(days=1))

    (_, recipients, content), = smtp.inbox.messages
    assert recipients == ["alice@example.org"]
    received = email.message_from_bytes(content, policy=policy.default)
    assert received["Bcc"] is None and received["Subject"] == "ICESCO news: 1 new"
    assert b"\nBcc:" not in content.split(b"\n\n", 1)[0]
    body = received.get_body(("html",)).get_content()
    assert "<script" not in body and "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bcc: victim@example.org hi" in body
    assert "&lt;img src=x onerror=alert(1)&gt; text" in body


def test_an_address_that_slipped_past_validation_cannot_inject_headers(engine, world, smtp):
    enqueue(engine, world.run)
    with Session(engine) as session, session.begin():  # as if written by hand, bypassing validation
        session.execute(update(Subscriber).where(Subscriber.email == "bob@example.org")
                        .values(email="bob@example.org\r\nBcc: victim@example.org"))

    report = send(engine, smtp.settings(), T0)

    assert sorted(report.sent) == ["alice@example.org", "carol@example.org"]
    assert report.failed == ["bob@example.org\r\nBcc: victim@example.org: cannot compose the digest: Header values "
                             "may not contain linefeed or carriage return characters"]
    assert deliveries(engine)["bob"].status == "failed"
    assert all(rcpt != ["victim@example.org"] and b"victim" not in content for _, rcpt, content in smtp.inbox.messages)


def test_smtp_login_failure_is_clear_and_never_shows_the_password(engine, world, smtp):
    smtp.stop()

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    smtp.options = {"authenticator": authenticate, "auth_require_tls": False}
    smtp.start()
    enqueue(engine, world.run)
    secret = "pa55-w0rd-never-shown"

    result = cli(engine, "notify", env=smtp.env(NEWSWATCH_SMTP_USER="newswatch", NEWSWATCH_SMTP_PASSWORD=secret))

    assert result.exit_code == 1
    assert f"SMTP server 127.0.0.1:{smtp.port} refused the login of 'newswatch': 535" in result.output
    assert secret not in result.output and secret not in repr(smtp.settings(smtp_password=secret))
    assert all(secret not in (d.last_error or "") for d in deliveries(engine).values())
    assert smtp.inbox.messages == []


# --------------------------------------------------------------------------- the command line


def test_without_smtp_host_digests_are_written_as_eml_files(engine, world, tmp_path):
    enqueue(engine, world.run)
    outbox = tmp_path / "outbox"
    env = {"NEWSWATCH_OUTBOX_DIR": str(outbox), "NEWSWATCH_SECRET_KEY": KEY.decode(), "NEWSWATCH_SMTP_HOST": ""}

    result = cli(engine, "notify", env=env)

    assert result.exit_code == 0, result.output
    assert f"Wrote 3 digests to the outbox folder {outbox}: " in result.output
    files = sorted(outbox.glob("*.eml"))
    recipients = sorted(email.message_from_bytes(f.read_bytes(), policy=policy.default)["To"] for f in files)
    assert recipients == ["alice@example.org", "bob@example.org", "carol@example.org"]
    assert not list(outbox.glob(".*"))  # no partial file left
    again = cli(engine, "notify", env=env)
    assert again.exit_code == 0 and again.output == "No digest due.\n"
    assert sorted(outbox.glob("*.eml")) == files


def test_dry_run_prints_the_digests_and_changes_nothing(engine, world, smtp):
    enqueue(engine, world.run)
    before = {name: (d.status, d.attempts, d.message_id) for name, d in deliveries(engine).items()}

    result = cli(engine, "notify", "--dry-run", env=smtp.env())

    assert result.exit_code == 0, result.output
    assert "To: bob@example.org\nSubject: Actualités ICESCO : 2 modifiés\n" in result.output
    assert "[-150-]{+200+}" in result.output
    assert result.output.rstrip().endswith(
        f"Dry run: 3 digests would be sent via SMTP server 127.0.0.1:{smtp.port}; nothing was sent or recorded.")
    assert smtp.inbox.messages == []
    assert {name: (d.status, d.attempts, d.message_id) for name, d in deliveries(engine).items()} == before


def test_notify_with_a_wrong_secret_key_refuses_before_sending(engine, world, smtp):
    enqueue(engine, world.run)
    result = cli(engine, "notify", env=smtp.env(NEWSWATCH_SECRET_KEY="another-key-" * 4))
    assert result.exit_code == 1
    assert "the secret key is not the one the subscribers were added with" in result.output
    assert smtp.inbox.messages == [] and {d.attempts for d in deliveries(engine).values()} == {0}


@pytest.mark.parametrize(("env", "message"), [
    ({"NEWSWATCH_SMTP_PORT": "twenty-five"},
     "Invalid value for '--smtp-port' (env var: 'NEWSWATCH_SMTP_PORT'): 'twenty-five' is not a valid integer"),
    ({"NEWSWATCH_SMTP_PORT": "0"}, "(env var: 'NEWSWATCH_SMTP_PORT'): 0 is not in the range 1<=x<=65535"),
    ({"NEWSWATCH_SMTP_SSL": "1", "NEWSWATCH_SMTP_STARTTLS": "yes"},
     "'NEWSWATCH_SMTP_SSL', 'NEWSWATCH_SMTP_STARTTLS'): choose SSL or STARTTLS, not both"),
    ({"NEWSWATCH_SMTP_SSL": "maybe"}, "(env var: 'NEWSWATCH_SMTP_SSL'): 'maybe' is not a valid boolean"),
    ({"NEWSWATCH_MAIL_FROM": "nobody"}, "(env var: 'NEWSWATCH_MAIL_FROM'): 'nobody' is not an e-mail address"),
    ({"NEWSWATCH_PUBLIC_URL": "ftp://news"}, "(env var: 'NEWSWATCH_PUBLIC_URL'): 'ftp://news' is not an http(s) URL"),
    ({"NEWSWATCH_SMTP_PASSWORD_FILE": "/no/such/password"},
     "(env var: 'NEWSWATCH_SMTP_PASSWORD_FILE'): File '/no/such/password' does not exist"),
    ({"NEWSWATCH_SECRET_KEY": "short"}, "(env var: 'NEWSWATCH_SECRET_KEY'): the secret key in NEWSWATCH_SECRET_KEY "
                                        "is too short"),
])
def test_a_bad_mail_setting_is_one_line_naming_it_and_exit_status_2(engine, world, smtp, env, message):
    enqueue(engine, world.run)

    result = cli(engine, "notify", env={**smtp.env(), **env})

    assert result.exit_code == 2 and "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert error.startswith("Error: Invalid value for '--") and message in error
    assert smtp.inbox.messages == [] and {d.attempts for d in deliveries(engine).values()} == {0}


def test_password_file_is_read_and_settings_hide_the_password(tmp_path: Path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    seen: list[MailSettings] = []

    @click.command()
    @config.mail_options
    def show(mail_settings: MailSettings) -> None:
        seen.append(mail_settings)

    result = CliRunner().invoke(show, [], env={"NEWSWATCH_SMTP_HOST": "mail.example.org",
                                               "NEWSWATCH_SMTP_PASSWORD_FILE": str(secret),
                                               "NEWSWATCH_SMTP_STARTTLS": "true"})

    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert settings.smtp_password == "s3cret" and settings.smtp_port == 587 and "s3cret" not in repr(settings)
