"""Whether a page arrived whole: a page cut short on its way is a failed fetch, never an edit.

A proxy that drops the connection, a crashed PHP worker or a full disk on the server can leave
a 200 whose body (and Content-Length) stops in the middle of the article. Its text is shorter
than the stored one's: read as is, it would be an editor's cut. Every page of a site ends with
the same closing structure (`SiteProfile.page_end`: the document's closing tags in general
terms, no class or id of one theme); a page whose tail holds none of it was cut short.
"""

from __future__ import annotations

import functools
import re

from crawler.sites import SiteProfile

# Where the closing structure is looked for: the page's tail (scripts, comments and cache
# notes may follow the closing tags; a cut page's last kilobytes are article text or markup).
TAIL_BYTES = 64 * 1024


def cut_short(body: bytes, profile: SiteProfile) -> bool:
    """Whether `body` lacks the closing structure every page of the profile's site ends with."""
    if not profile.page_end:
        return False
    tail = body[-TAIL_BYTES:]
    return _closing(profile.page_end).search(tail) is None


def missing_end(profile: SiteProfile) -> str:
    """The closing structure a cut page lacks, for a log line."""
    return " or ".join(profile.page_end)


@functools.cache
def _closing(page_end: tuple[str, ...]) -> re.Pattern[bytes]:
    # Tags as HTML spells them: any case, spaces before the closing bracket.
    tags = (re.escape(tag.rstrip(">").encode()) + rb"\s*>" for tag in page_end)
    return re.compile(b"|".join(tags), re.IGNORECASE)
