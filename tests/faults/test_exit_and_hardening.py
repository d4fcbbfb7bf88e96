"""Issue 13, exit status and hardening (items 12-15): what cron, systemd and the scheduler are
told; robots.txt answering 500; no remote control in a crawl; one nightly run per night."""

from __future__ import annotations

import datetime as dt
import re
import signal
import threading
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from faults import observe
from faults.conftest import V2
from faults.faultmirror import ARTICLE, LISTING, ROBOTS, answer, held

ENGLISH_FULL = ("-a", "mode=full", "-a", "languages=en")


def refuse_a_quarter_of_the_stores(engine) -> None:
    """The database refuses to record a quarter of the articles (a trigger: a fault of the database)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_a_quarter BEFORE UPDATE ON articles WHEN NEW.id % 4 = 0 "
            "BEGIN SELECT RAISE(ABORT, 'refused by the fault suite'); END")


# --------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(("night", "exits_0"), [
    pytest.param("complete", True, id="complete"),
    pytest.param("a listing page failed", False, id="incomplete"),
    pytest.param("a quarter of the stores failed", False, id="store failures"),
])
def test_item12_the_exit_status_of_a_crawl_is_0_only_for_a_complete_run(database, site, crawls, night, exits_0):
    engine = database("v1")
    if night == "a listing page failed":
        site.faults = [answer(LISTING.replace("(en|fr|ar)", "en") + "page/2/", 503)]
    elif night == "a quarter of the stores failed":
        refuse_a_quarter_of_the_stores(engine)

    crawl = crawls.run(engine, *ENGLISH_FULL)

    run = observe.runs(engine)[-1]
    assert run.status == ("complete" if exits_0 else "incomplete")
    assert (crawl.status == 0) == exits_0, f"exit status {crawl.status} for a run {run.status}"


# --------------------------------------------------------------------------- item 13


def test_item13_robots_txt_answering_500_means_the_site_is_unavailable(database, site, crawls):
    engine = database("v1")
    site.snapshot = V2
    site.faults = [answer(ROBOTS, 500)]

    crawls.run(engine, *ENGLISH_FULL)

    assert site.hits(ARTICLE) == []  # RFC 9309, 2.3.1.3: a 5xx robots.txt disallows the whole site
    assert observe.reported(engine) == {}
    assert observe.runs(engine)[-1].status == "incomplete"


def test_robots_txt_rules_hold_for_every_request_that_waited_for_it(database, site, crawls):
    # Found with item 13: Scrapy's RobotsTxtMiddleware gave the parser to the first request waiting
    # for robots.txt and None (allow all) to the others, so a crawl's first requests ignored it.
    engine = database("v1")
    site.faults = [answer(ROBOTS, 200, body=b"User-agent: *\nDisallow: /en/2022/\n")]

    crawls.run(engine, *ENGLISH_FULL)

    assert site.hits(r"/en/2022/.*") == []
    assert site.hits(ARTICLE) != []  # the others were fetched


# --------------------------------------------------------------------------- item 14


def listening_sockets(pid: int) -> list[str]:
    """The TCP ports process `pid` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.append(f"{table} port {int(fields[1].rsplit(':', 1)[1], 16)}")
    return ports


def test_item14_a_crawl_listens_on_no_port_and_leaves_no_token_file(database, site, crawls, tmp_path):
    engine = database("v1")
    site.faults = [held(ARTICLE, threading.Event())]
    crawl = crawls.start(engine, *ENGLISH_FULL, LOG_LEVEL="DEBUG")  # DEBUG: the enabled extensions are logged
    site.wait_for(ARTICLE)  # the crawl is under way

    listening = listening_sockets(crawl.pid)
    crawl.signal(signal.SIGKILL)
    crawl.wait(30)

    enabled = re.search(r"Enabled extensions:\n(\[.*?\])", crawl.log, re.S).group(1)
    assert listening == [], f"the crawl listens: {listening}; enabled extensions: {enabled}"
    assert "RemoteControl" not in enabled and "TelnetConsole" not in enabled
    assert list((tmp_path / "state").rglob("*.json")) == []


def test_item14_the_consoles_stay_off_even_when_a_setting_turns_them_on():
    from scrapy.settings import Settings
    from scrapy.utils.conf import build_component_list

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict({"REMOTE_CONTROL_ENABLED": True, "TELNETCONSOLE_ENABLED": True}, priority="cmdline")

    enabled = {path.rsplit(".", 1)[1] for path in build_component_list(settings.getwithbase("EXTENSIONS"))}
    assert enabled & {"RemoteControl", "TelnetConsole", "MemoryDebugger", "CloseSpider", "FeedExporter",
                      "SpiderState"} == set()
    assert {"CoreStats", "LogCount", "AutoThrottle", "RunLifecycle", "DetectChanges"} <= enabled


# --------------------------------------------------------------------------- item 15


def test_item15_the_default_schedule_runs_once_a_night_across_daylight_saving_changes():
    from monitor.scheduler import ScheduleConfig, nightly_trigger

    zone = ZoneInfo("Africa/Casablanca")
    trigger = nightly_trigger(ScheduleConfig().cron, "Africa/Casablanca")
    start, end = dt.datetime(2026, 1, 1, tzinfo=zone), dt.datetime(2028, 1, 1, tzinfo=zone)
    fired, previous, now = [], None, start
    while now < end:  # as the scheduler asks, once each run is done
        previous = now = trigger.get_next_fire_time(previous, now)
        fired.append(now)

    nights = Counter(time.astimezone(zone).date() for time in fired if time < end)
    assert {night: n for night, n in nights.items() if n != 1} == {}
    assert len(nights) == (end - start).days  # and no night without its run
