"""Migration 0008 (subscribers choose sites): every subscriber of before hears about every site,
those configured later too; the downgrade takes the column away and nothing else."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage import subscribers as store
from storage.db import migrate
from storage.models import Subscriber
from tests.test_migration_brake import WHEN, columns_of, database_at_0005, rows, to_revision

PREVIOUS = "0007_raw_pages"


def test_subscribers_of_before_hear_about_every_site_and_the_downgrade_keeps_them(unmigrated_database_url):
    engine = database_at_0005(unmigrated_database_url)  # a subscriber, a digest sent
    to_revision(engine, PREVIOUS)
    at_0007 = columns_of(engine)
    before = rows(engine, at_0007)

    migrate(engine)

    assert "sites" in columns_of(engine)["subscribers"] and rows(engine, at_0007) == before
    with Session(engine) as session, session.begin():
        (old,) = session.scalars(sa.select(Subscriber))
        assert old.sites is None  # every site
        assert store.follows(old, "icesco") and store.follows(old, "a-site-added-next-year")
        new = Subscriber(id=2, email="b@example.org", languages=["en"], kinds=["added"], token_id="u", token_hash="h2",
                         created_at=WHEN, sites=["partner"])
        session.add(new)
        session.flush()
        assert store.follows(new, "partner") and not store.follows(new, "icesco")
        assert not store.wants(new, {("en", "added")}, "icesco") and store.wants(new, {("en", "added")}, "partner")
    to_revision(engine, PREVIOUS, down=True)
    assert "sites" not in columns_of(engine)["subscribers"]
    engine.dispose()


def test_choosing_every_site_or_none_is_every_site():
    known = ("icesco", "partner")
    assert store.check_sites(["partner"], known) == ("partner",)
    assert store.check_sites(["partner", "icesco"], known) is None  # all of them: those added later too
    assert store.check_sites([], known) is None
    with pytest.raises(store.SubscriberError, match=r"^unknown site 'nowhere': choose among icesco, partner$"):
        store.check_sites(["nowhere"], known)
