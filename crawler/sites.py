"""Site profiles: everything that is specific to one watched site, declared, not coded."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SiteProfile:
    """What the spider and the extractor need to know about one site."""

    name: str
    origin: str  # canonical scheme://host of the real site
    host_aliases: tuple[str, ...]  # other hosts that serve the same site (www.)
    languages: tuple[str, ...]
    listing_paths: dict[str, str]  # language -> first listing page path (unquoted)
    # An article URL path: /{lang}/YYYY/MM/DD/{slug}/ (slug may be percent-encoded).
    article_path: re.Pattern[str]
    # Phrases of widgets printed on every page; a block holding one is never article text.
    boilerplate_phrases: tuple[str, ...]
    # Localised month names, for date lines such as "31 يوليو 2025".
    month_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rtl_languages: tuple[str, ...] = ()


ICESCO = SiteProfile(
    name="icesco",
    origin="https://icesco.org",
    host_aliases=("icesco.org", "www.icesco.org"),
    languages=("en", "fr", "ar"),
    listing_paths={
        "en": "/en/category/news/",
        "fr": "/fr/category/actualites/",
        "ar": "/ar/category/المستجدات/",
    },
    article_path=re.compile(
        r"^/(?P<lang>[a-z]{2})/(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/(?P<slug>[^/]+)/?$"
    ),
    boilerplate_phrases=(
        # The machine-translation disclaimer, in English on every language site.
        "Disclaimer: You are using Google Translate",
        "The ICESCO is not responsible for the accuracy of the information in the translated language",
        # The feedback survey, localised.
        "your opinion",
        "User Feedback",
        "Overall, how satisfied are you about the website?",
        "Extremely Dissatisfied",
        "Extremely Satisfied",
        "votre avis",
        "Commentaires des utilisateurs",
        "Dans l’ensemble, dans quelle mesure êtes-vous satisfait du site Web ?",
        "Très insatisfait",
        "Très Satisfait",
        "Extrêmement insatisfait",
        "Extrêmement satisfait",
        "رأيك",
        "تعليقات المستخدمين",
        "بشكل عام، ما مدى رضاك عن الموقع؟",
        "غير راض للغاية",
        "راض لأقصى درجة",
    ),
    month_names={
        "en": ("January", "February", "March", "April", "May", "June", "July",
               "August", "September", "October", "November", "December"),
        "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet",
               "août", "septembre", "octobre", "novembre", "décembre"),
        "ar": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو",
               "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"),
    },
    rtl_languages=("ar",),
)

PROFILES = {ICESCO.name: ICESCO}
