"""monitor.diff and monitor.diffview: what changed between two versions, summarised and rendered."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.diff import ContentDiff, compare, tokenize
from monitor.diffview import render_html, render_text, summary
from storage.changes import VersionText
from storage.content import normalize_paragraphs

DAY = dt.date(2022, 9, 15)
PARAGRAPHS = [
    "ICESCO organised a forum on heritage in Rabat.",
    "The forum gathered 150 participants from 20 countries.",
    "Dr. Nurbek thanked the partners. He praised the cooperation. Delegates adopted a declaration.",
    "The next forum will be held in 2023.",
]
TITLE = "ICESCO Holds Heritage Forum"


def release(title=TITLE, published=DAY, paragraphs=PARAGRAPHS):
    return VersionText(title, published, tuple(paragraphs))


def edited(index: int, old: str, new: str) -> list[str]:
    paragraphs = list(PARAGRAPHS)
    assert old in paragraphs[index]
    paragraphs[index] = paragraphs[index].replace(old, new)
    return paragraphs


def assert_ops_rebuild(diff: ContentDiff, old: list[str], new: list[str]) -> None:
    """Every change's word ops give back the old and the new paragraph text."""
    a, b = normalize_paragraphs(old), normalize_paragraphs(new)
    for change in diff.paragraphs:
        rebuilt_new = "".join(t for op in change.ops if op.tag != "delete" for t in op.new)
        rebuilt_old = "".join(t for op in change.ops if op.tag != "insert" for t in op.old)
        assert rebuilt_new == " ".join(b[p - 1] for p in change.new_positions)
        assert rebuilt_old == " ".join(a[p - 1] for p in change.old_positions)
        assert all(op.old == op.new for op in change.ops if op.tag == "equal")


# --------------------------------------------------------------------------- examples


def test_one_word_typo_fix():
    diff = compare(release(), release(paragraphs=edited(0, "heritage", "heritgae")))
    assert diff.fields == ("text",)
    assert [(c.kind, c.position) for c in diff.paragraphs] == [("changed", 1)]
    assert [(op.tag, op.old, op.new) for op in diff.paragraphs[0].ops if op.tag != "equal"] == [
        ("replace", (" heritage",), (" heritgae",))
    ]
    assert summary(diff) == '1 word changed in paragraph 1: "heritage" → "heritgae"'
    assert "forum on [-heritage-]{+heritgae+} in Rabat." in render_text(diff)


def test_changed_number_is_called_out():
    diff = compare(release(), release(paragraphs=edited(1, "150", "200")))
    assert diff.fields == ("text",)
    assert summary(diff) == "paragraph 2: 150 → 200"


def test_number_inside_a_longer_edit_is_called_out():
    diff = compare(release(), release(paragraphs=edited(1, "150 participants", "1,200 experts")))
    assert summary(diff) == "2 words changed in paragraph 2: 150 → 1,200"


def test_changed_name_is_called_out():
    diff = compare(release(), release(paragraphs=edited(2, "Nurbek", "Nurbekov")))
    assert summary(diff) == 'paragraph 3: "Nurbek" → "Nurbekov"'


def test_paragraph_added_at_the_end():
    new = PARAGRAPHS + ["Registration opens on Monday."]
    diff = compare(release(), release(paragraphs=new))
    assert diff.fields == ("text",)
    assert [(c.kind, c.position) for c in diff.paragraphs] == [("added", 5)]
    assert summary(diff) == "paragraph added at the end"
    assert render_text(diff) == "¶5 (added)\n{+Registration opens on Monday.+}\n\n… 4 unchanged paragraphs"


def test_paragraph_removed():
    diff = compare(release(), release(paragraphs=[PARAGRAPHS[0]] + PARAGRAPHS[2:]))
    assert [(c.kind, c.position) for c in diff.paragraphs] == [("removed", 2)]
    assert summary(diff) == "paragraph 2 removed"


def test_sentence_removed_from_paragraph():
    new = edited(2, " He praised the cooperation.", "")
    diff = compare(release(), release(paragraphs=new))
    assert diff.fields == ("text",)
    assert [(c.kind, c.position) for c in diff.paragraphs] == [("changed", 3)]
    assert summary(diff) == "sentence removed from paragraph 3"
    assert "partners. [-He praised the cooperation.-] Delegates" in render_text(diff)
    assert_ops_rebuild(diff, PARAGRAPHS, new)


def test_title_fix():
    diff = compare(release(), release(title="ICESCO Held Heritage Forum"))
    assert diff.fields == ("title",)
    assert (diff.title.old, diff.title.new) == (TITLE, "ICESCO Held Heritage Forum")
    assert summary(diff) == 'title changed: "Holds" → "Held"'
    assert render_text(diff) == "Title: ICESCO [-Holds-]{+Held+} Heritage Forum"


def test_date_change():
    diff = compare(release(), release(published=dt.date(2022, 9, 14)))
    assert diff.fields == ("published",)
    assert (diff.published.old, diff.published.new) == (DAY, dt.date(2022, 9, 14))
    assert summary(diff) == "date changed: 2022-09-15 → 2022-09-14"


def test_date_appearing():
    diff = compare(release(published=None), release())
    assert summary(diff) == "date added: 2022-09-15"


def test_fields_in_order_and_summary_most_significant_first():
    new = release("ICESCO Held Heritage Forum", dt.date(2022, 9, 14), edited(1, "150", "200"))
    diff = compare(release(), new)
    assert diff.fields == ("title", "published", "text")
    assert summary(diff) == (
        'title changed: "Holds" → "Held"; date changed: 2022-09-15 → 2022-09-14; paragraph 2: 150 → 200'
    )


def test_many_changes_are_counted():
    new = [p.replace("the", "THE") for p in PARAGRAPHS] + ["More."]
    diff = compare(release(), release(paragraphs=new))
    assert summary(diff) == "2 paragraphs changed, 1 added"


def test_two_paragraphs_changed_are_each_described():
    new = edited(1, "150", "200")
    new[3] = new[3].replace("2023", "2024")
    diff = compare(release(), release(paragraphs=new))
    assert summary(diff) == "paragraph 2: 150 → 200; paragraph 4: 2023 → 2024"


def test_summary_stays_short():
    new = [p + f" Long addition number {i} about things." for i, p in enumerate(PARAGRAPHS)]
    diff = compare(release(title="x " * 50), release(title="y " * 50, paragraphs=new))
    assert len(summary(diff)) <= 120


def test_arabic_paragraph_edit():
    old = ["وشارك في الاجتماع 150 خبيرًا من 20 دولة، وناقشوا سبل التعاون."]
    new = ["وشارك في الاجتماع ٢٠٠ خبيرًا من 20 دولة، وناقشوا سبل التعاون؟"]
    diff = compare(VersionText("اجتماع الخبراء", DAY, old), VersionText("اجتماع الخبراء", DAY, new))
    assert diff.fields == ("text",)
    changes = [(op.old_text, op.new_text) for op in diff.paragraphs[0].ops if op.tag != "equal"]
    assert changes == [(" 150", " ٢٠٠"), (".", "؟")]
    # Harakat stay inside their word; Arabic punctuation is its own token.
    assert " خبيرًا" in diff.paragraphs[0].ops[2].new and "،" in diff.paragraphs[0].ops[2].new
    assert summary(diff) == "1 word changed in paragraph 1: 150 → ٢٠٠"
    html = render_html(diff, rtl=True, lang="ar")
    assert html.startswith('<div class="newswatch-diff" dir="rtl" lang="ar">')
    assert_ops_rebuild(diff, old, new)


def test_french_text_with_guillemets_and_nbsp():
    old = ["Le directeur a salué « l’engagement » des 20\u00a0pays\u202f!"]
    new = ["Le directeur général a salué «\u00a0l’engagement\u00a0» des 20 pays !"]
    diff = compare(VersionText("Titre", DAY, old), VersionText("Titre", DAY, new))
    assert summary(diff) == "1 word added to paragraph 1"
    assert render_text(diff) == "¶1\nLe directeur {+général+} a salué « l’engagement » des 20 pays !"


def test_tokens_keep_punctuation_numbers_and_marks_apart():
    assert tokenize("Hello, «world» 1,500 15% ١٥٠ مُحَمَّد؟ 19th") == [
        "Hello", ",", " «", "world", "»", " 1,500", " 15%", " ١٥٠", " مُحَمَّد", "؟", " 19th",
    ]


def test_paragraph_split_with_the_same_words_is_no_change():
    split = [PARAGRAPHS[0], "The forum gathered 150 participants", "from 20 countries."] + PARAGRAPHS[2:]
    diff = compare(release(), release(paragraphs=split))
    assert diff.fields == ()
    assert diff.paragraphs == ()


def test_split_elsewhere_is_not_reported_next_to_a_real_edit():
    split = [PARAGRAPHS[0], "The forum gathered 150 participants", "from 20 countries."]
    split += edited(3, "2023", "2024")[2:]
    diff = compare(release(), release(paragraphs=split))
    assert summary(diff) == "paragraph 5: 2023 → 2024"


def test_split_and_edited_paragraph_is_one_change():
    split = [PARAGRAPHS[0], "The forum gathered 150 participants", "from 25 countries."] + PARAGRAPHS[2:]
    diff = compare(release(), release(paragraphs=split))
    [change] = diff.paragraphs
    assert (change.kind, change.old_positions, change.new_positions) == ("changed", (2,), (2, 3))
    assert summary(diff) == "paragraphs 2–3: 20 → 25"
    assert_ops_rebuild(diff, PARAGRAPHS, split)


def test_rewritten_paragraph_is_removed_and_added():
    new = edited(1, "The forum gathered 150 participants from 20 countries.", "Photos are online.")
    diff = compare(release(), release(paragraphs=new))
    assert [(c.kind, c.position) for c in diff.paragraphs] == [("removed", 2), ("added", 2)]


def test_large_rewrites_are_paired_by_position():
    old = [f"Paragraph {i} of a very long page about heritage." for i in range(150)]
    new = [p.replace("very long", "long") for p in old[:140]] + ["Photos are online."]
    diff = compare(VersionText("t", DAY, old), VersionText("t", DAY, new))
    kinds = [c.kind for c in diff.paragraphs]
    assert kinds == ["changed"] * 140 + ["removed", "added"] + ["removed"] * 9
    assert summary(diff) == "140 paragraphs changed, 1 added, 10 removed"
    assert_ops_rebuild(diff, old, new)


def test_color_rendering_uses_ansi_instead_of_markers():
    diff = compare(release(), release(paragraphs=edited(1, "150", "200")))
    text = render_text(diff, color=True)
    assert "\x1b[31m150\x1b[0m\x1b[32m200\x1b[0m" in text
    assert "[-" not in text and "{+" not in text


def test_paragraphs_must_be_a_sequence_not_a_string():
    with pytest.raises(TypeError, match="sequence of strings"):
        compare(release(), VersionText("t", None, "one string"))


# --------------------------------------------------------------------------- HTML escaping


def test_html_escapes_page_text():
    body = '"quotes" & ampersands in a paragraph long enough to be edited rather than replaced'
    old = VersionText("Cooperation <script>alert(1)</script>", DAY, (body, "unchanged"))
    added = " <img src=x onerror=alert(2)>"
    new = VersionText("Co-operation <script>alert(1)</script>", DAY, (body + added, "unchanged"))
    html = str(render_html(compare(old, new)))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;quotes&#34; &amp; ampersands" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert '<del style="background:#fdd;color:#900;text-decoration:line-through">Cooperation</del>' in html
    assert '<ins style="background:#dfd;color:#060;text-decoration:none">Co-operation</ins>' in html
    assert html.count("<p>") == 3 and 'dir="rtl"' not in html


def test_html_is_empty_without_changes():
    assert render_html(compare(release(), release())) == ""


# --------------------------------------------------------------------------- properties

WORDS = st.one_of(
    st.sampled_from(
        ["ICESCO", "forum", "Rabat", "150", "1,500", "15%", "été", "l’Organisation", "«", "»", ",", ".",
         "التعاون", "خبيرًا", "٢٠٠", "،", "؛", "؟", "<b>", "&", '"', "Nurbek", "the", "of"]
    ),
    st.text(st.characters(categories=["L", "Nd", "P"]), min_size=1, max_size=8),
)
PARAGRAPH = st.lists(WORDS, min_size=1, max_size=12)
BODY = st.lists(PARAGRAPH, min_size=0, max_size=6)
SEPARATORS = st.sampled_from([" ", "  ", "\u00a0", "\n", "\t", " \u200b", "\u200b ", "\u202f", " \n "])
DATES = st.one_of(st.none(), st.dates(dt.date(2015, 1, 1), dt.date(2030, 1, 1)))


def join_words(words: list[str]) -> str:
    return " ".join(words)


@given(st.text(max_size=40), DATES, BODY)
def test_a_version_equals_itself(title, published, body):
    version = VersionText(title, published, tuple(join_words(p) for p in body))
    diff = compare(version, version)
    assert diff.fields == () and diff.paragraphs == ()
    assert render_text(diff) == "" and render_html(diff) == ""
    assert summary(diff) == "no changes"


@given(BODY, st.data())
def test_whitespace_and_paragraph_breaks_are_not_changes(body, data):
    words = [w for p in body for w in p]
    # Re-lay the same words: random separators, invisible characters, decomposed accents,
    # and paragraph breaks at arbitrary word boundaries (splits and merges).
    paragraphs, current = [], []
    for word in words:
        if data.draw(st.booleans()):
            word = unicodedata.normalize("NFD", word)
        current.append(word)
        if data.draw(st.integers(0, 4)) == 0:
            paragraphs.append(current)
            current = []
    paragraphs.append(current)
    relaid = []
    for p in paragraphs:
        text = data.draw(st.sampled_from(["", " ", "\n", "\u200b"]))
        for i, word in enumerate(p):
            text += (data.draw(SEPARATORS) if i else "") + word
        relaid.append(text + data.draw(st.sampled_from(["", " ", "\u00a0\n"])))
    old = VersionText("Title", DAY, tuple(join_words(p) for p in body))
    blank = data.draw(st.lists(st.sampled_from(["", " ", "\n\u200b"]), max_size=2))
    new = VersionText("\u200bTitle\u00a0", DAY, tuple(relaid + blank))
    diff = compare(old, new)
    assert diff.fields == ()
    assert diff.paragraphs == ()


@st.composite
def edited_bodies(draw):
    """An old body and a new one made from it by word and paragraph edits."""
    old = [join_words(p) for p in draw(BODY)]
    new = []
    for paragraph in old:
        action = draw(st.sampled_from(["keep", "keep", "edit", "drop", "add"]))
        if action == "drop":
            continue
        if action == "add":
            new.append(join_words(draw(PARAGRAPH)))
        words = paragraph.split(" ")
        if action == "edit":
            for _ in range(draw(st.integers(1, 3))):
                at = draw(st.integers(0, len(words)))
                cut = draw(st.integers(0, 2))
                words[at : at + cut] = draw(st.lists(WORDS, max_size=2))
        new.append(" ".join(words))
    if draw(st.booleans()):
        new.append(join_words(draw(PARAGRAPH)))
    return old, new


@settings(max_examples=300)
@given(edited_bodies())
def test_word_ops_rebuild_both_versions(bodies):
    old, new = bodies
    diff = compare(VersionText("t", DAY, old), VersionText("t", DAY, new))
    assert_ops_rebuild(diff, old, new)
    assert ("text" in diff.fields) == bool(diff.paragraphs)
    same_words = " ".join(normalize_paragraphs(old)) == " ".join(normalize_paragraphs(new))
    assert ("text" in diff.fields) != same_words
    assert diff.unchanged + sum(len(c.new_positions) for c in diff.paragraphs) == diff.paragraph_count
    line = summary(diff)
    assert len(line) <= 120 and "\n" not in line


@given(st.text(max_size=30), st.text(max_size=30))
def test_tokenize_keeps_every_character(a, b):
    assert "".join(tokenize(a)) == a
    diff = compare(VersionText(a, None, []), VersionText(b, None, []))
    if diff.title:
        assert "".join(t for op in diff.title.ops if op.tag != "delete" for t in op.new) == diff.title.new


_TAGS = re.compile(r'</?(div|p|span|strong|del|ins)( (class|dir|lang|style)="[^"<>]*")*>')


@given(edited_bodies(), st.text(alphabet="<>&\"'ab /", max_size=20))
def test_html_never_lets_page_markup_through(bodies, title):
    old, new = bodies
    html = str(render_html(compare(VersionText(title, DAY, old), VersionText(title + "<x>", DAY, new))))
    assert "<" not in _TAGS.sub("", html)
