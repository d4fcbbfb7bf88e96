"""Mail under faults (passes today): an SMTP server that misbehaves loses and doubles no digest, and
a hostile release reaches subscribers inert.

The digests are those of the v2 night (three subscribers, one digest each), sent by
`newswatch notify` to a real SMTP server on 127.0.0.1; the server misbehaves on the first
attempt, then a second `notify --retry-now` (as the scheduler's retry job would) sends the rest.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from html.parser import HTMLParser

import pytest

from faults import observe
from faults.conftest import SUBSCRIBERS, notify, subscribe
from faults.smtpfaults import ACCEPT_THEN_HANG_UP, HANG_UP, SLOW, TEMPORARY
from fixtures.release import Paragraph, Release, load_all
from fixtures.sitegen import write_mirror
from fixtures.synthetic import RELEASES

EVERYONE = Counter(dict.fromkeys(SUBSCRIBERS, 1))


@pytest.mark.parametrize("fault", ["server down", TEMPORARY, HANG_UP, ACCEPT_THEN_HANG_UP, SLOW,
                                   "a recipient refused for good"])
def test_smtp_faults_lose_and_double_no_digest(database, smtp, fault):
    engine = database("v2")
    refused = "english@example.org"
    if fault == "server down":
        smtp.stop()
    elif fault == "a recipient refused for good":
        smtp.inbox.refuse = {refused}
    else:
        smtp.inbox.plan = [fault] * (3 if fault == SLOW else 1)

    first = notify(engine, smtp)
    if fault == "server down":
        smtp.start()  # back, on the same port
    second = notify(engine, smtp, "--retry-now")

    if fault == "a recipient refused for good":
        assert observe.recipients(smtp.inbox) == EVERYONE - Counter([refused])
        assert {d.status for d in observe.deliveries(engine)} == {"sent", "failed"}
        assert "550" in next(d.last_error for d in observe.deliveries(engine) if d.status == "failed")
    else:
        assert observe.recipients(smtp.inbox) == EVERYONE, (first.output, second.output)
        assert {d.status for d in observe.deliveries(engine)} == {"sent"}
    assert first.exit_code == (0 if fault == SLOW else 1), first.output
    message_ids = [m["Message-ID"] for m in observe.messages(smtp.inbox)]
    assert len(set(message_ids)) == len(message_ids)


# --------------------------------------------------------------------------- injection

HOSTILE_TITLE = 'ICESCO <script>alert("title")</script> Forum {{ 7*7 }} <img src=x onerror=alert(1)>'
HOSTILE_TEXT = (  # the first paragraph is the digest's excerpt of a new release
    "The forum opened with <script>alert('body')</script> and \"><svg onload=alert(2)> {% raw %} on its programme.",
    "Participants visited javascript:alert(3) among other sites.",
    "A line break in a header would read Bcc: victim@example.org if it were ever let through.",
)


class Markup(HTMLParser):
    """Every tag and attribute of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_a_hostile_release_reaches_subscribers_as_inert_text(database, site, crawls, smtp, tmp_path):
    engine = database("v1")
    subscribe(engine, "reader@example.org", "en", "added,edited,removed")
    english = [release for release in load_all(RELEASES) if release.language == "en"]
    hostile = Release(language="en", slug="icesco-hosts-a-forum", title=HOSTILE_TITLE,
                      published=dt.date(2023, 3, 20), blocks=tuple(Paragraph(p) for p in HOSTILE_TEXT))
    write_mirror(tmp_path / "night", [*english, hostile], golden=False)
    site.snapshot = tmp_path / "night"

    crawls.run(engine, "-a", "mode=full", "-a", "languages=en")
    assert observe.reported(engine) == {("added", hostile.path): 1}
    result = notify(engine, smtp)

    assert result.exit_code == 0, result.output
    (message,) = observe.messages(smtp.inbox)
    assert [rcpts for _, rcpts, _ in smtp.inbox.messages] == [["reader@example.org"]]
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    plain = message.get_body(("plain",)).get_content()
    assert HOSTILE_TITLE in plain and "<script>alert('body')</script>" in plain and "{% raw %}" in plain
    page = Markup()
    page.feed(message.get_body(("html",)).get_content())
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "svg", "img", "iframe", "object"}
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    assert not [attrs["href"] for tag, attrs in page.tags if tag == "a" and not
                attrs.get("href", "https:").startswith(("https:", "http:", "mailto:"))]
