"""Dress the bench mirror's pages at the real site's size: WordPress pages of 80-150 KB.

The fixture pages say what a release says in 10-30 KB; the real site's pages are 80-150 KB,
most of it what WordPress and its plugins print around any post: the block library's and the
theme's CSS inlined in <head>, configuration scripts (emoji, page builder, analytics,
translation widget), a mega menu of a few hundred links, a sidebar of categories, tags and
monthly archives, a footer of more links and inline SVG icons. `dress` adds that to a page
and nothing else: the article's text is untouched (what the extractor must read), and every
link it adds is one a crawler must throw away (menus, categories, archives `/{lang}/YYYY/MM/`,
tags, pages, social sites) - the work a real listing page gives `parse_listing`.

Deterministic: a page's padding depends on its language and path only (the same in every
snapshot), its size on a hash of the path: 80-150 KB per page in all.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from urllib.parse import quote

KB = 1000
TARGET_KB = (80, 150)  # the whole page's size, min and max

_WORDS = {
    "en": "education science culture heritage youth women dialogue partnership cooperation innovation "
          "digital climate water health children literacy peace member states programmes projects".split(),
    "fr": "éducation science culture patrimoine jeunesse femmes dialogue partenariat coopération innovation "
          "numérique climat eau santé enfants alphabétisation paix états membres programmes projets".split(),
    "ar": "التربية العلوم الثقافة التراث الشباب المرأة الحوار الشراكة التعاون الابتكار الرقمنة المناخ "
          "المياه الصحة الأطفال محو الأمية السلام الدول الأعضاء البرامج المشاريع".split(),
}


def _hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


@functools.cache
def _css(kb: int) -> str:
    """`kb` KB of stylesheet in the manner of wp-block-library, the theme and a page builder."""
    rules, size, i = [], 0, 0
    props = ("margin:0 0 1.5em", "padding:.5em 1em", "display:flex;flex-wrap:wrap",
             "font-size:var(--wp--preset--font-size--small)",
             "color:var(--wp--preset--color--vivid-cyan-blue)", "border-radius:9999px", "box-sizing:border-box",
             "grid-template-columns:repeat(auto-fill,minmax(150px,1fr))", "line-height:1.6", "background:#0d3b66")
    while size < kb * KB:
        selector = (f".wp-block-{('cover', 'gallery', 'columns', 'button', 'image', 'embed', 'group')[i % 7]}"
                    f"__inner-{i} .elementor-element-{_hash('css', i) % 10**7:07d}")
        rule = f"{selector}{{{';'.join(props[(i + k) % len(props)] for k in range(3))}}}\n"
        rules.append(rule)
        size += len(rule)
        i += 1
    return "".join(rules)


@functools.cache
def _scripts(kb: int) -> str:
    """`kb` KB of inline configuration scripts, as WordPress plugins print them."""
    parts = ['window._wpemojiSettings = {"baseUrl":"https:\\/\\/s.w.org\\/images\\/core\\/emoji\\/14.0.0\\/72x72\\/",'
             '"ext":".png","source":{"concatemoji":"\\/wp-includes\\/js\\/wp-emoji-release.min.js?ver=6.4.3"}};']
    size, i = len(parts[0]), 0
    while size < kb * KB:
        entry = (f'var elementorFrontendConfig_{i} = {{"environmentMode":{{"edit":false,"wpPreview":false}},'
                 f'"i18n":{{"shareOnFacebook":"Share on Facebook","downloadImage":"Download image"}},'
                 f'"breakpoints":{{"xs":0,"sm":480,"md":768,"lg":1025,"xl":1440}},"post":{{"id":{_hash("js", i) % 99999}}},'
                 f'"kit":{{"active_breakpoints":["viewport_mobile","viewport_tablet"],"lightbox_enable":"yes"}}}};\n')
        parts.append(entry)
        size += len(entry)
        i += 1
    return "\n".join(parts)


@functools.cache
def _menu(language: str, links: int) -> str:
    """A mega menu of `links` links to pages, categories and tags of a language site."""
    words = _WORDS[language]
    items = []
    for i in range(links):
        a, b = words[i % len(words)], words[(i * 7 + 3) % len(words)]
        kind = ("category", "tag", "page", "programmes")[i % 4]
        href = f"/{language}/{kind}/{quote(a)}-{quote(b)}-{i}/" if kind != "page" else f"/{language}/{quote(a)}/{quote(b)}/"
        items.append(f'<li class="menu-item menu-item-type-taxonomy menu-item-{3000 + i}"><a href="{href}">{a} {b}</a></li>')
    return '<nav class="mega-menu" aria-label="menu"><ul class="menu">' + "\n".join(items) + "</ul></nav>\n"


@functools.cache
def _sidebar_and_footer(language: str) -> str:
    """Monthly archives (links that look like dates), social links, icons and a copyright line."""
    archives = "\n".join(f'<li><a href="/{language}/{year}/{month:02d}/">{year}-{month:02d}</a></li>'
                         for year in range(2019, 2026) for month in range(1, 13))
    social = "\n".join(f'<li><a href="https://www.{site}.com/icesco" rel="noopener">{site}</a></li>'
                       for site in ("facebook", "twitter", "instagram", "youtube", "linkedin", "tiktok"))
    icon = ('<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2C6.48 2 2 6.48 2 12s4.48 10 10 10 '
            '10-4.48 10-10S17.52 2 12 2zm0 18c-4.41 0-8-3.59-8-8s3.59-8 8-8 8 3.59 8 8-3.59 8-8 8z"/></svg>')
    return (f'<aside class="widget-area" role="complementary"><section class="widget widget_archive"><ul>{archives}</ul>'
            f'</section></aside>\n<footer class="site-footer-widgets"><ul class="social">{social}</ul>{icon * 20}'
            f'<p class="copyright">© ICESCO</p></footer>\n')


def dress(html: str, language: str, path: str) -> str:
    """`html` (one page of the mirror) with WordPress's padding, at 80-150 KB in all."""
    low, high = TARGET_KB
    target = (low + _hash("size", path) % (high - low + 1)) * KB
    menu = _menu(language, 240)
    tail = _sidebar_and_footer(language)
    fixed = len(html.encode()) + len(menu.encode()) + len(tail.encode())
    room = max(0, target - fixed) // KB
    css, js = _css(room * 3 // 5), _scripts(room - room * 3 // 5)
    head = f'<style id="wp-block-library-inline-css">\n{css}</style>\n<script id="elementor-frontend-js-before">\n{js}</script>\n'
    html = html.replace("</head>", head + "</head>", 1)
    body = html.find("<body")
    opened = html.find(">", body) + 1 if body >= 0 else 0
    html = html[:opened] + "\n" + menu + html[opened:]
    return html.replace("</body>", tail + "</body>", 1)


def dress_mirror(snapshot: Path) -> int:
    """Dress every HTML page of a snapshot folder in place; the number of pages dressed."""
    pages = 0
    for file in sorted(snapshot.rglob("index.html")):
        path = "/" + file.parent.relative_to(snapshot).as_posix() + "/"
        language = path.strip("/").split("/", 1)[0]
        if language not in _WORDS:
            continue
        file.write_text(dress(file.read_text("utf-8"), language, path), "utf-8")
        pages += 1
    return pages
