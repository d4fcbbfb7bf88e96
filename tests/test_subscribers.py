"""Subscribers: validated addresses, languages and kinds; secret unsubscribe tokens stored as hashes;
the `newswatch subscribers` and `unsubscribe` commands, on both databases."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.cli import main
from monitor.mail.settings import ConfigError, SecretKey
from storage import subscribers as store
from storage.db import make_engine
from storage.models import Subscriber

KEY = "subscriber-test-key-0123456789-0123456789"
ENV = {"NEWSWATCH_SECRET_KEY": KEY, "NEWSWATCH_PUBLIC_URL": "https://news.example.org"}
NOW = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
TOKEN_LINE = re.compile(r"Unsubscribe token \(shown only now[^\n]*\n  ([\w-]+)\n")


def cli(engine: Engine, *args: str, env: dict[str, str] | None = None):
    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(main, [*args, "--database", url], env=ENV if env is None else env)


def subscribe(engine: Engine, *args: str) -> str:
    result = cli(engine, "subscribers", "add", *args)
    assert result.exit_code == 0, result.output
    return TOKEN_LINE.search(result.output).group(1)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("given", "stored"), [
    ("jane@example.org", "jane@example.org"),
    ("Jane.Doe@Example.ORG", "jane.doe@example.org"),
    ("  jane@example.org ", "jane@example.org"),
    ("info@exämple.org", "info@xn--exmple-cua.org"),
])
def test_addresses_are_normalised(given, stored):
    assert store.normalize_email(given) == stored


@pytest.mark.parametrize(("given", "reason"), [
    ("jane@example.org\r\nBcc: victim@example.org", "cannot contain line breaks or control characters"),
    ("jane@example.org\nBcc: victim@example.org", "cannot contain line breaks or control characters"),
    ("jane@example.org\x00", "cannot contain line breaks or control characters"),
    ("Jane <jane@example.org>", "display name and angle brackets"),
    ("jane@example.org, victim@example.org", "not a valid email address"),
    ("jane", "not a valid email address"),
    ("jane@localhost", "not a valid email address"),
    ("jäne@example.org", "Internationalized characters before the @-sign are not supported"),
])
def test_header_tricks_and_bad_addresses_are_refused_with_a_reason(given, reason):
    with pytest.raises(store.SubscriberError, match=re.escape(reason)):
        store.normalize_email(given)


def test_languages_and_kinds_are_checked_and_put_in_order():
    assert store.check_languages(["ar", "en", "ar", " fr "], ["en", "fr", "ar"]) == ("ar", "en", "fr")
    assert store.check_kinds(["removed", "added", "added"]) == ("added", "removed")
    with pytest.raises(store.SubscriberError, match=r"unknown language 'de': choose among en, fr, ar"):
        store.check_languages(["en", "de"], ["en", "fr", "ar"])
    with pytest.raises(store.SubscriberError, match=r"unknown kind of change 'moved': choose among added, edited"):
        store.check_kinds(["moved"])
    with pytest.raises(store.SubscriberError, match="at least one kind"):
        store.check_kinds([" "])


def test_a_return_counts_for_who_follows_new_releases_and_who_follows_removals():
    assert store.covered_kinds(["added"]) == {"added", "restored"}
    assert store.covered_kinds(["removed"]) == {"removed", "restored"}
    assert store.covered_kinds(["edited"]) == {"edited"}


# --------------------------------------------------------------------------- tokens


def test_the_token_is_an_hmac_of_a_random_id_and_only_its_hash_is_stored(engine):
    token = subscribe(engine, "jane@example.org")
    with Session(engine) as session:
        subscriber = session.scalars(select(Subscriber)).one()
        dumped = json.dumps([str(v) for v in session.execute(text("SELECT * FROM subscribers")).one()])
    assert token not in dumped
    assert subscriber.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token == store.unsubscribe_token(KEY.encode(), subscriber.token_id)
    assert len(token) == 52 and store.unsubscribe_token(b"another key" * 4, subscriber.token_id) != token
    assert store.token_matches(subscriber, KEY.encode())


def test_the_key_file_is_created_once_private_and_then_reused(tmp_path):
    path = tmp_path / "newswatch.key"
    keys = SecretKey(None, path)
    with pytest.raises(ConfigError, match="no secret key"):
        keys.load()
    key = keys.load(create=True)
    assert len(key) >= 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.load(create=True) == key == keys.load()
    with pytest.raises(ConfigError, match="too short"):
        SecretKey("short").load()


def test_no_new_key_is_made_once_tokens_depend_on_the_old_one(engine, tmp_path):
    env = {"NEWSWATCH_SECRET_KEY_FILE": str(tmp_path / "newswatch.key")}
    assert cli(engine, "subscribers", "add", "jane@example.org", env=env).exit_code == 0
    (tmp_path / "newswatch.key").unlink()  # the key is lost: tokens could no longer be checked
    result = cli(engine, "subscribers", "add", "joe@example.org", env=env)
    assert result.exit_code == 1 and "no secret key" in result.output
    result = cli(engine, "subscribers", "add", "joe@example.org", env=ENV)
    assert result.exit_code == 1 and "not the one the subscribers were added with" in result.output


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory of its own, no key nor database in the environment, a config directory
    of its own (XDG_CONFIG_HOME, where click.get_app_dir looks)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("NEWSWATCH_DATABASE_URL", "NEWSWATCH_SECRET_KEY", "NEWSWATCH_SECRET_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return work


@pytest.mark.parametrize("args", [
    ["jane@example.org", "--languages", "de"],
    ["jane@example.org", "--kinds", "moved"],
    ["not an address"],
])
def test_a_failed_add_creates_nothing(elsewhere, args):
    result = CliRunner().invoke(main, ["subscribers", "add", *args])  # the default database, newswatch.db

    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert sorted(os.listdir(elsewhere)) == []  # neither newswatch.db nor newswatch.key


def test_the_key_is_made_beside_an_sqlite_database_for_its_owner_only(elsewhere, tmp_path):
    (tmp_path / "data").mkdir()
    database = f"sqlite:///{tmp_path / 'data' / 'news.db'}"

    result = CliRunner().invoke(main, ["subscribers", "add", "jane@example.org", "--database", database])

    assert result.exit_code == 0, result.output
    key = tmp_path / "data" / "news.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert os.listdir(elsewhere) == [] and not (tmp_path / "config").exists()
    notify = CliRunner().invoke(main, ["notify", "--dry-run", "--database", database])
    assert notify.exit_code == 0, notify.output  # found again where it was made


def test_the_key_of_a_server_database_is_in_the_users_config_directory(elsewhere, tmp_path, postgres_engine):
    database = postgres_engine.url.render_as_string(hide_password=False)

    result = CliRunner().invoke(main, ["subscribers", "add", "jane@example.org", "--database", database])

    assert result.exit_code == 0, result.output
    key = tmp_path / "config" / "newswatch" / "newswatch.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key.parent).st_mode) == 0o700
    assert os.listdir(elsewhere) == []


def test_a_key_left_in_the_working_directory_by_earlier_versions_is_still_used(elsewhere, tmp_path, engine):
    (elsewhere / "newswatch.key").write_text(KEY + "\n")
    (tmp_path / "data").mkdir()
    database = f"sqlite:///{tmp_path / 'data' / 'news.db'}"
    if engine.dialect.name == "postgresql":
        database = engine.url.render_as_string(hide_password=False)

    added = CliRunner().invoke(main, ["subscribers", "add", "jane@example.org", "--database", database])
    notify = CliRunner().invoke(main, ["notify", "--dry-run", "--database", database])

    assert added.exit_code == 0 and notify.exit_code == 0, added.output + notify.output
    assert not (tmp_path / "data" / "news.key").exists() and not (tmp_path / "config").exists()
    with Session(make_engine(database)) as session:
        assert store.token_matches(store.find_subscriber(session, "jane@example.org"), KEY.encode())


def test_git_ignores_the_key():
    repository = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repository / ".git").exists():
        pytest.skip("not in a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "newswatch.key", "data/news.key"],
                             cwd=repository, capture_output=True, text=True)
    assert ignored.stdout.split() == ["newswatch.key", "data/news.key"]


# --------------------------------------------------------------------------- the command line


def test_add_prints_the_token_once_with_the_unsubscribe_link(engine):
    result = cli(engine, "subscribers", "add", "Jane@Example.org", "--languages", "ar,en", "--kinds", "added,edited")
    assert result.exit_code == 0, result.output
    token = TOKEN_LINE.search(result.output).group(1)
    assert result.output.startswith("Subscribed jane@example.org: languages ar, en; changes added, edited.\n")
    assert f"newswatch unsubscribe {token}\n" in result.output
    assert f"https://news.example.org/unsubscribe/{token}\n" in result.output
    assert token not in cli(engine, "subscribers", "list").output


@pytest.mark.parametrize(("args", "message"), [
    (["x@example.org\r\nBcc: victim@example.org"], "cannot contain line breaks"),
    (["x@example.org", "--languages", "en,de"], "unknown language 'de': choose among en, fr, ar"),
    (["x@example.org", "--kinds", "added,moved"], "unknown kind of change 'moved'"),
    (["x@example.org", "--languages", ","], "choose at least one language"),
])
def test_add_refuses_bad_input_clearly(engine, args, message):
    result = cli(engine, "subscribers", "add", *args)
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert message in result.output
    assert cli(engine, "subscribers", "list", "--json").output == "[]\n"


def test_adding_a_subscribed_address_again_is_refused(engine):
    subscribe(engine, "jane@example.org")
    result = cli(engine, "subscribers", "add", "JANE@example.org", "--languages", "fr")
    assert result.exit_code == 1
    assert "jane@example.org is already subscribed (languages en, fr, ar; kinds added, edited, removed)" in result.output


def test_list_shows_choices_status_and_digest_counts(engine):
    subscribe(engine, "jane@example.org", "--languages", "fr")
    token = subscribe(engine, "abe@example.org")
    cli(engine, "unsubscribe", token)

    rows = json.loads(cli(engine, "subscribers", "list", "--json").output)

    assert [(r["email"], r["languages"], r["kinds"], r["subscribed"], r["sent"], r["pending"]) for r in rows] == [
        ("abe@example.org", ["en", "fr", "ar"], ["added", "edited", "removed"], False, 0, 0),
        ("jane@example.org", ["fr"], ["added", "edited", "removed"], True, 0, 0),
    ]
    assert rows[0]["unsubscribed_at"] is not None
    table = cli(engine, "subscribers", "list").output.splitlines()
    assert table[0].split() == ["email", "languages", "kinds", "status", "since", "sent", "pending"]
    assert table[2].split()[:4] == ["abe@example.org", "en,fr,ar", "added,edited,removed", "unsubscribed"]


def test_unsubscribe_is_idempotent_and_unknown_tokens_fail_clearly(engine):
    token = subscribe(engine, "jane@example.org")

    first, again = cli(engine, "unsubscribe", token), cli(engine, "unsubscribe", token)
    unknown = cli(engine, "unsubscribe", "not-a-token")

    assert (first.exit_code, first.output) == (0, "Unsubscribed jane@example.org: no more digests.\n")
    assert (again.exit_code, again.output) == (0, "jane@example.org was already unsubscribed; nothing changed.\n")
    assert unknown.exit_code == 1
    assert "unknown unsubscribe token: nothing changed (check that the whole token was copied)" in unknown.output


def test_unsubscribe_needs_no_secret_key(engine):
    token = subscribe(engine, "jane@example.org")
    assert cli(engine, "unsubscribe", token, env={}).exit_code == 0


def test_subscribing_again_after_unsubscribing_gives_a_new_token(engine):
    old = subscribe(engine, "jane@example.org")
    cli(engine, "unsubscribe", old)
    new = subscribe(engine, "jane@example.org", "--languages", "ar")

    assert new != old
    assert "unknown unsubscribe token" in cli(engine, "unsubscribe", old).output
    rows = json.loads(cli(engine, "subscribers", "list", "--json").output)
    assert [(r["languages"], r["subscribed"]) for r in rows] == [(["ar"], True)]


def test_remove_forgets_the_address(engine):
    subscribe(engine, "jane@example.org")
    result = cli(engine, "subscribers", "remove", "Jane@example.org")
    assert (result.exit_code, result.output) == (0, "Removed jane@example.org.\n")
    assert cli(engine, "subscribers", "list", "--json").output == "[]\n"
    again = cli(engine, "subscribers", "remove", "jane@example.org")
    assert again.exit_code == 1 and "no subscriber jane@example.org" in again.output


def test_the_database_keeps_addresses_and_tokens_unique(engine):
    subscribe(engine, "jane@example.org")
    with Session(engine) as session:
        existing = session.scalars(select(Subscriber)).one()
        copy = Subscriber(email=existing.email, languages=["en"], kinds=["added"], token_id="x",
                          token_hash="y" * 64, created_at=NOW)
        session.add(copy)
        with pytest.raises(IntegrityError, match=r"(?i)unique"):
            session.flush()


def test_notify_without_subscribers_says_so(engine):
    result = cli(engine, "notify")
    assert (result.exit_code, result.output) == (
        0, "No subscribers: nothing to send (add one with `newswatch subscribers add EMAIL`).\n")


def test_unsubscribe_tokens_never_look_like_a_command_line_option():
    from storage.subscribers import unsubscribe_token

    tokens = [unsubscribe_token(b"k" * 32, f"id-{n}") for n in range(2000)]

    assert all(token[0] != "-" and token.isalnum() and token.islower() for token in tokens)
