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

    # The words of the page around an article, for the extractor. Matching is tolerant of
    # case, accents, spacing and apostrophes; no CSS class or id is ever needed.
    # Names the site signs its pages with ("Title – ICESCO"); a title made only of these is none.
    site_names: tuple[str, ...] = ()
    # Localised weekday names, for date lines such as "Tuesday, 12 January 2021".
    weekday_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Words that may stand beside a date in a date line ("Posted on", "Publié le", "بتاريخ").
    date_words: tuple[str, ...] = ()
    # Words from which lines of page furniture are made: share and like buttons and their
    # counts, "N views", "Read more", post navigation. A line of only these is not text.
    furniture_words: tuple[str, ...] = ()
    # Labels opening a furniture line: "Tags: ...", "Posted in ...", "Home » News » ...".
    furniture_labels: tuple[str, ...] = ()
    # Labels opening a byline of a few words: "By Media Department".
    byline_labels: tuple[str, ...] = ()
    # Phrases that make a short line footer or consent text: copyright, cookies.
    footer_phrases: tuple[str, ...] = ()
    # Headings of blocks that follow an article but are not part of it: related posts, comments.
    aside_headings: tuple[str, ...] = ()
    # What an error or maintenance page says instead of an article.
    error_phrases: tuple[str, ...] = ()
    # Closing tags every page of the site ends with (any one of them will do): a page without
    # them was cut short on its way (crawler.wholeness). Empty for a site that omits them.
    page_end: tuple[str, ...] = ("</body>", "</html>")


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
    site_names=(
        "ICESCO", "ISESCO", "الإيسيسكو", "إيسيسكو", "الإسيسكو",
        "Islamic World Educational, Scientific and Cultural Organization",
        "Organisation du monde islamique pour l’éducation, les sciences et la culture",
        "منظمة العالم الإسلامي للتربية والعلوم والثقافة",
    ),
    weekday_names={
        "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        "ar": ("الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
    },
    date_words=(
        "posted on", "published on", "published", "posted", "updated", "date", "on", "at",
        "publié le", "publié", "mis en ligne le", "mis à jour le", "le", "à",
        "نشر في", "نشر بتاريخ", "نشر", "بتاريخ", "تاريخ النشر", "في", "م", "هـ", "الساعة",
        # Hijri months, which Arabic date lines may add to the Gregorian date
        "محرم", "صفر", "ربيع الأول", "ربيع الآخر", "ربيع الثاني", "جمادى الأولى", "جمادى الآخرة",
        "جمادى الثانية", "رجب", "شعبان", "رمضان", "شوال", "ذو القعدة", "ذو الحجة",
    ),
    furniture_words=(
        "share", "shares", "share this", "share on", "tweet", "like", "likes", "print", "email",
        "e-mail", "views", "view", "comments", "comment", "no comments", "read more",
        "continue reading", "read", "min read", "minutes read", "previous", "next",
        "previous post", "next post", "previous article", "next article", "tags", "copy link", "pdf",
        "partager", "partages", "partager sur", "tweeter", "j’aime", "imprimer", "vues", "vue", "lectures",
        "commentaires", "commentaire", "lire la suite", "en savoir plus", "lire plus",
        "précédent", "suivant", "article précédent", "article suivant", "min de lecture",
        "مشاركة", "شارك", "شارك على", "غرّد", "تغريد", "إعجاب", "طباعة", "مشاهدة", "مشاهدات", "قراءة",
        "تعليق", "تعليقات", "اقرأ المزيد", "المزيد", "السابق", "التالي", "المقال السابق",
        "المقال التالي", "الخبر السابق", "الخبر التالي",
        "facebook", "twitter", "x", "linkedin", "whatsapp", "telegram", "pinterest", "reddit",
        "instagram", "youtube", "فيسبوك", "تويتر", "واتساب", "تيليجرام", "لينكدإن",
    ),
    furniture_labels=(
        "tags", "tag", "tagged", "posted in", "filed under", "categories", "category",
        "home", "you are here", "vous êtes ici", "أنت هنا", "الرئيسة",
        "mots-clés", "mots clés", "étiquettes", "catégories", "catégorie", "classé dans", "accueil",
        "الوسوم", "وسوم", "الكلمات المفتاحية", "التصنيفات", "التصنيف", "الرئيسية",
    ),
    byline_labels=(
        "by", "posted by", "written by", "author", "par", "publié par", "auteur",
        "بواسطة", "بقلم", "الكاتب", "نشر بواسطة",
    ),
    footer_phrases=(
        "©", "copyright", "all rights reserved", "powered by", "cookies", "cookie",
        "tous droits réservés", "droits réservés",
        "جميع الحقوق محفوظة", "الحقوق محفوظة", "ملفات تعريف الارتباط", "الكوكيز",
    ),
    aside_headings=(
        "related posts", "related articles", "related news", "related", "you may also like",
        "you might also like", "read also", "see also", "more news", "latest news", "latest posts",
        "recent posts", "recent news", "most read", "popular posts", "comments", "leave a reply",
        "leave a comment", "about the author",
        "articles similaires", "articles connexes", "à lire aussi", "lire aussi", "voir aussi",
        "dernières actualités", "articles récents", "les plus lus", "commentaires",
        "laisser un commentaire", "laisser une réponse", "à propos de l’auteur",
        "مقالات ذات صلة", "أخبار ذات صلة", "مواضيع ذات صلة", "اقرأ أيضا", "اقرأ أيضًا",
        "آخر الأخبار", "أحدث المقالات", "أحدث الأخبار", "الأكثر قراءة", "التعليقات",
        "اترك تعليقا", "اترك تعليقًا", "أضف تعليقا", "عن الكاتب", "نبذة عن الكاتب",
    ),
    error_phrases=(
        "page not found", "not found", "nothing was found", "that page can’t be found",
        "error 404", "404", "briefly unavailable for scheduled maintenance",
        "check back in a minute", "maintenance", "service unavailable",
        "error establishing a database connection",
        "page non trouvée", "page introuvable", "cette page est introuvable", "erreur 404",
        "brève indisponibilité pour cause de maintenance", "revenez dans une minute",
        "الصفحة غير موجودة", "لم يتم العثور على الصفحة", "الصفحة المطلوبة غير موجودة",
        "غير متاح لفترة وجيزة بسبب الصيانة المجدولة", "الصيانة",
    ),
)

PROFILES = {ICESCO.name: ICESCO}
# The site crawled unless NEWSWATCH_SITE names another profile.
DEFAULT_SITE = ICESCO.name
