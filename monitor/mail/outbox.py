"""The outbox of digest emails: which subscribers get a digest of a run, and when to retry one.

`enqueue_digests` runs in the transaction that writes a run's changes (monitor.detect), so
a run's changes and its digests are committed together or not at all; `monitor.mail.send`
sends them later.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from storage import outbox, subscribers
from storage.changes import alertable_keys
from storage.models import CrawlRun
from storage.runs import RunNotFound

# Back-off after a failed attempt: 5 min, 10, 20, ... at most 6 h. Temporary failures never
# give up: a digest waits for the server rather than being lost.
RETRY_BASE = dt.timedelta(minutes=5)
RETRY_MAX = dt.timedelta(hours=6)
# A sender owns a digest this long: if it dies mid-send, another retries after the lease.
SEND_LEASE = dt.timedelta(minutes=15)
_RECOMPUTED = "no relevant changes left after the run's changes were recomputed"


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed attempt (exponential, capped)."""
    doublings = min(max(attempts - 1, 0), 20)  # 2**20 × 5 min is past any cap; timedelta overflows later
    return min(RETRY_BASE * (1 << doublings), RETRY_MAX)


def enqueue_digests(session: Session, run_id: int, now: dt.datetime | None = None) -> int:
    """Queue one digest per subscriber for the changes of `run_id`; the number now pending for it.

    Every finished run but the baseline alerts: a complete one with all its changes; an
    incomplete or failed one with the additions, edits and restorations it read for sure, never a
    removal (an outage can fake those; detection writes none for such runs). Only subscribers
    who were subscribed when it ended and asked for one of its changes (by site, language and kind)
    get a digest: recomputing an old run never
    mails who subscribed since. Idempotent, and safe to call again after the run's
    changes were recomputed: missing digests are queued, pending ones no longer relevant
    are cancelled (cancelled ones relevant again come back), and a digest already sent or
    failed is left alone, so nobody gets two digests of one run.
    """
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise RunNotFound(f"no crawl run with id {run_id}")
    now = now or dt.datetime.now(dt.UTC)
    alerting = run.status != "running" and not run.is_baseline
    if run.hold in ("held", "rebaselined"):  # the brake holds it (monitor.holds), or it was accepted silently
        alerting = False
    keys = alertable_keys(session, run_id) if alerting else set()
    if run.status != "complete":
        keys = {(language, kind) for language, kind in keys if kind != "removed"}
    audience = subscribers.subscribed_at(session, run.finished_at or now)
    wanted = {s.id for s in audience if subscribers.wants(s, keys, run.site)}
    existing = outbox.run_deliveries(session, run_id)
    for subscriber_id in sorted(wanted - existing.keys()):
        outbox.insert_delivery(session, subscriber_id, run_id, now=now)
    for subscriber_id, delivery in existing.items():
        if subscriber_id in wanted and delivery.status == "cancelled":
            delivery.status, delivery.last_error, delivery.next_attempt_at = "pending", None, now
        elif subscriber_id not in wanted and delivery.status == "pending":
            delivery.status, delivery.last_error = "cancelled", f"cancelled: {_RECOMPUTED}"
    session.flush()
    return outbox.count_pending(session, run_id)
