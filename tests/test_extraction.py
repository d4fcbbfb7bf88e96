"""Article extraction: every golden page (fixture mirror and hand-made edge cases), boilerplate
never leaks wherever it sits, and extracting a page twice gives the same record."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.extraction import Extracted, NotAnArticle, extract
from crawler.sites import ICESCO

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class Case:
    """One golden page: its HTML file, the URL it is served at, and what must come out."""

    name: str
    html: Path
    url: str
    golden: dict

    def extract(self) -> Extracted:
        return extract(self.html.read_bytes(), self.url)


def mirror_cases() -> list[Case]:
    """Article pages of every snapshot of the fixture mirror, each with its expected.json."""
    cases = []
    for path in sorted(FIXTURES.glob("site/*/**/expected.json")):
        golden = json.loads(path.read_text("utf-8"))
        url = golden.get("url") or "https://icesco.org" + quote(golden["path"])
        cases.append(Case(str(path.parent.relative_to(FIXTURES)), path.with_name("index.html"), url, golden))
    return cases


def golden_cases() -> list[Case]:
    """The hand-made edge cases: fixtures/golden/NAME.html with NAME.json beside it."""
    cases = []
    for path in sorted((FIXTURES / "golden").glob("*.json")):
        golden = json.loads(path.read_text("utf-8"))
        cases.append(Case(path.stem, path.with_suffix(".html"), golden["url"], golden))
    return cases


CASES = mirror_cases() + golden_cases()
ARTICLES = [case for case in CASES if "error" not in case.golden]


def record(extracted: Extracted) -> dict:
    return {"language": extracted.language, "title": extracted.title,
            "published": extracted.published.isoformat(), "paragraphs": list(extracted.paragraphs)}


def test_there_are_golden_pages_of_every_kind():
    assert len(golden_cases()) >= 15
    assert {case.golden["language"] for case in ARTICLES} == {"en", "fr", "ar"}
    assert sum("error" in case.golden for case in CASES) >= 4


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_golden_page(case):
    if "error" in case.golden:
        # a page with no words of its own must say so, not pass for a listing (or the reverse)
        with pytest.raises(NotAnArticle, match=case.golden.get("reason")):
            case.extract()
        return
    expected = {key: case.golden[key] for key in ("language", "title", "published", "paragraphs")}
    assert record(case.extract()) == expected


def folded(text: str) -> str:
    """Case, apostrophes and spacing as the leak check ignores them."""
    return " ".join(text.replace("’", "'").replace("\u00a0", " ").casefold().split())


@pytest.mark.parametrize("case", ARTICLES, ids=lambda case: case.name)
def test_no_boilerplate_phrase_reaches_title_or_paragraphs(case):
    extracted = case.extract()
    for phrase in map(folded, ICESCO.boilerplate_phrases):
        # a release may mention "your opinion" itself: no more often than its golden text does
        for got, expected in ((extracted.title, case.golden["title"]),
                              (" ¶ ".join(extracted.paragraphs), " ¶ ".join(case.golden["paragraphs"]))):
            assert folded(got).count(phrase) <= folded(expected).count(phrase), phrase


def test_extracting_a_page_again_gives_the_same_record():
    # trafilatura's deduplication cache is process-wide: a second pass must not lose text
    first = {case.name: case.extract() for case in ARTICLES}
    again = {case.name: case.extract() for case in reversed(ARTICLES)}
    assert again == first


def test_a_date_disagreement_keeps_the_url_date_and_is_logged(caplog):
    case = next(case for case in ARTICLES if case.name == "en-date-disagreement")
    with caplog.at_level(logging.WARNING, logger="crawler.extraction.article"):
        extracted = case.extract()
    assert extracted.published.isoformat() == "2022-09-10"
    message = " ".join(r.getMessage() for r in caplog.records)
    assert case.url in message and "2022-09-09" in message and "2022-09-10" in message


def test_pages_that_agree_on_the_date_log_nothing(caplog):
    case = next(case for case in ARTICLES if case.name == "en-classic-widget-in-content")
    with caplog.at_level(logging.WARNING, logger="crawler.extraction.article"):
        case.extract()
    assert not caplog.records


@pytest.mark.parametrize(("name", "url", "reason"), [
    ("neg-empty", None, "empty page"),
    ("neg-maintenance", None, "error page"),
    ("neg-404", None, "error page"),
    ("neg-boilerplate-only", None, "no title"),
    ("neg-listing", None, "not an article URL"),
    ("neg-listing", "https://icesco.org/en/2022/09/15/a-post-that-redirected/", "a listing page"),
    ("en-one-sentence", "https://icesco.org/en/news/?p=4711", "not an article URL"),
])
def test_not_an_article_says_why(name, url, reason):
    case = next(case for case in CASES if case.name == name)
    with pytest.raises(NotAnArticle, match=reason) as raised:
        extract(case.html.read_bytes(), url or case.url)
    assert (url or case.url) in str(raised.value)


def test_a_gallery_beside_many_related_posts_has_no_text_and_is_no_listing():
    # a listing is many posts and no words of its own, under a heading that is not this article's
    case = next(case for case in CASES if case.name == "ar-gallery-no-words")
    html = case.html.read_text("utf-8")
    related = html[html.index('<div class="rel">'):html.index("</section>")]
    with pytest.raises(NotAnArticle, match="no article text"):
        extract(html.replace(related, related * 3), case.url)


def test_a_str_page_is_extracted_like_its_bytes():
    case = next(case for case in ARTICLES if case.name == "fr-pagebuilder-extremement")
    assert extract(case.html.read_text("utf-8"), case.url) == case.extract()


# --- the widget and the disclaimer, anywhere, spelled any way ------------------------------------

BODIES = {
    "en": ("ICESCO held a meeting with the World Bank Group to discuss cooperation between the two "
           "institutions in the fields of health, social sciences and new technology.",
           "The two sides reviewed the Organization’s programmes for women and youth.",
           "ICESCO calls on its Member States to support the declaration.",
           "Applicants must be nationals of a Member State.",
           "“We want to hear your opinion on the charter,” the Director-General said at the opening."),
    "fr": ("L’ICESCO a tenu une réunion avec le Groupe de la Banque mondiale pour examiner les "
           "perspectives de coopération dans les domaines de la santé et des technologies.",
           "Les deux parties ont passé en revue les programmes de l’Organisation.",
           "L’ICESCO appelle ses États membres à soutenir la déclaration.",
           "Les candidats doivent être ressortissants d’un État membre."),
    "ar": ("عقدت الإيسيسكو اجتماعا مع مجموعة البنك الدولي لبحث آفاق التعاون في مجالات الصحة والعلوم "
           "الاجتماعية والتكنولوجيا الحديثة.",
           "واستعرض الجانبان برامج المنظمة الموجهة إلى المرأة والشباب.",
           "وتدعو الإيسيسكو دولها الأعضاء إلى دعم هذا الإعلان.",
           "ويشترط في المترشحين أن يكونوا من مواطني الدول الأعضاء."),
}
TITLES = {"en": "ICESCO and World Bank Group Discuss Cooperation Prospects",
          "fr": "L’ICESCO et la Banque mondiale examinent les perspectives de coopération",
          "ar": "الإيسيسكو ومجموعة البنك الدولي تبحثان آفاق التعاون"}
DATES = {"en": "12 September 2022", "fr": "12 septembre 2022", "ar": "12 سبتمبر 2022"}
WIDGET_TEXT = {
    "en": ("your opinion", "User Feedback", "Overall, how satisfied are you about the website?",
           "Extremely dissatisfied", "Extremely satisfied"),
    "fr": ("votre avis", "Commentaires des utilisateurs",
           "Dans l’ensemble, dans quelle mesure êtes-vous satisfait du site Web ?",
           "Extrêmement insatisfait", "Extrêmement satisfait"),
    "ar": ("رأيك", "تعليقات المستخدمين", "بشكل عام، ما مدى رضاك عن الموقع؟", "غير راض للغاية",
           "راض لأقصى درجة"),
}
DISCLAIMER = ("Disclaimer: You are using Google Translate. The ICESCO is not responsible for the "
              "accuracy of the information in the translated language .")
SPELLINGS = (
    lambda s: s, str.upper, str.lower, str.title,
    lambda s: s.replace(" ", "\u00a0"),
    lambda s: s.replace("’", "'").replace(" ?", "?"),
    lambda s: s.replace("راض ", "راضٍ "),
)
WIDGET_MARKUP = (  # one widget, as different themes could print it
    lambda t: (f'<div class="x1"><button>{t[0]}</button><form><h4>{t[1]}</h4><p>{t[2]}</p>'
               f'<label><input type="radio">{t[3]}</label><label><input type="radio">{t[4]}</label>'
               '<button type="submit">OK</button></form></div>'),
    lambda t: f'<details><summary>{t[0]}</summary><b>{t[1]}</b><br>{t[2]}<br>{t[3]} ○○○○○ {t[4]}</details>',
    lambda t: "".join(f"<p>{line}</p>" for line in t),
    lambda t: f'<span class="i"><span>{t[0]}</span> <span>{t[1]}</span> <span>{t[2]}</span> '
              f'<span>{t[3]}</span> <span>{t[4]}</span></span>',  # inline, inside a paragraph
)


def article_page(language: str, body: list[str], inserts: dict[int, str], inline: dict[int, str]) -> str:
    """A plain article page with widget markup inserted between (or inside) body paragraphs."""
    paragraphs = []
    for index, text in enumerate(body):
        paragraphs.append(inserts.get(index, ""))
        paragraphs.append(f"<p>{inline.get(index, '')}{text}</p>")
    paragraphs.append(inserts.get(len(body), ""))
    return (f'<html lang="{language}"><head><title>{TITLES[language]} – ICESCO</title></head><body>'
            f'{inserts.get(-1, "")}<header><a href="/{language}/">ICESCO</a>'
            f'<nav><a href="/{language}/">Home</a></nav></header>'
            f'<main>{inserts.get(-2, "")}<article><h1>{TITLES[language]}</h1>'
            f'<div>{DATES[language]}</div><div class="c">{"".join(paragraphs)}</div></article></main>'
            '<footer>© ICESCO</footer></body></html>')


@st.composite
def pages_with_boilerplate(draw):
    language = draw(st.sampled_from(sorted(BODIES)))
    body = draw(st.lists(st.sampled_from(BODIES[language]), min_size=1, max_size=4, unique=True))
    spell = draw(st.sampled_from(SPELLINGS))
    markup = draw(st.integers(0, len(WIDGET_MARKUP) - 1))
    widget = WIDGET_MARKUP[markup](tuple(map(spell, WIDGET_TEXT[language])))
    disclaimer = f"<p>{spell(DISCLAIMER)}</p>"
    inserts: dict[int, str] = {}
    inline: dict[int, str] = {}
    if markup == len(WIDGET_MARKUP) - 1:  # the inline widget goes inside a paragraph
        inline[draw(st.integers(0, len(body) - 1))] = widget
    else:
        inserts[draw(st.integers(-2, len(body)))] = widget
    where = draw(st.integers(-2, len(body)))
    inserts[where] = inserts.get(where, "") + disclaimer
    return language, body, article_page(language, body, inserts, inline)


@settings(max_examples=60, deadline=None)
@given(pages_with_boilerplate())
def test_widget_and_disclaimer_never_reach_the_text_wherever_they_sit(page):
    language, body, html = page
    extracted = extract(html, f"https://icesco.org/{language}/2022/09/12/a-release/")
    assert extracted.title == TITLES[language]
    assert list(extracted.paragraphs) == body


@pytest.mark.parametrize("empty", ["boilerplate_phrases", "error_phrases", "site_names", "aside_headings", "footer_phrases"])
def test_a_profile_without_some_of_its_words_still_reads_its_pages(empty):
    # A new site's profile may have no boilerplate phrases yet (or no error phrases...): a list of
    # nothing must match nothing, not the empty string at every place of every line.
    profile = replace(ICESCO, name="bare", **{empty: ()})
    for case in ARTICLES[:6]:
        got = extract(case.html.read_bytes(), case.url, profile)
        assert got.title == case.golden["title"]
        assert got.paragraphs
