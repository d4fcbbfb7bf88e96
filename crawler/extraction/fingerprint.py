"""The extraction fingerprint: which extractor read a version's text, stored with the version.

Our EXTRACTION_VERSION, the versions of the libraries that read the page (trafilatura, htmldate,
lxml) and a hash of the site profile (its words steer the extractor). Two texts of one page with
the same fingerprint differ because the page did; with different ones, maybe because we did.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version

import crawler.extraction
from crawler.sites import SiteProfile

LIBRARIES = ("trafilatura", "htmldate", "lxml")


def profile_hash(profile: SiteProfile) -> str:
    """12 hex digits of the SHA-256 of the profile's every field (patterns as their source)."""
    return hashlib.sha256(repr(profile).encode("utf-8")).hexdigest()[:12]


def fingerprint(profile: SiteProfile) -> str:
    """`extraction 1; trafilatura 2.3.1; htmldate 1.11.0; lxml 6.2.0; profile icesco 0123456789ab`."""
    # The version is read at each call, not imported: a test upgrades it as a release would.
    parts = [f"extraction {crawler.extraction.EXTRACTION_VERSION}"]
    parts += [f"{name} {version(name)}" for name in LIBRARIES]
    parts.append(f"profile {profile.name} {profile_hash(profile)}")
    return "; ".join(parts)
