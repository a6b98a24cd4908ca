"""Markdown to safe HTML: Python-Markdown renders, nh3 sanitizes, links stay in the repository.

What a README may contain reaches the page only through nh3's allow-list: no script, no
event handler attribute, no `style`, no `javascript:` or `data:` link. Relative links and
images are resolved against the folder the document is in, within the repository (a path that
climbs above the root stops at the root), to the blob and raw pages of the same revision.
Heading ids get a `user-content-` prefix so a document cannot clobber the page's own ids.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote, unquote

import markdown
import nh3
from markdown.extensions.toc import slugify_unicode
from markupsafe import Markup, escape

from forge.repos.highlight import token_classes

MAX_MARKDOWN_BYTES = 512 * 1024
ID_PREFIX = "user-content-"

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_SAFE_SCHEMES = {"http", "https", "mailto"}
_TASK = re.compile(r"<li>(<p>)?\[([ xX])\] ")

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
    "q", "s", "samp", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul", "var",
}  # fmt: skip
_HEADINGS = {f"h{n}": {"id"} for n in range(1, 7)}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "details": {"open"},
    **_HEADINGS,
}
_CLASSES = {
    "div": {"highlight"},
    "span": token_classes(),
    "a": {"headerlink"},
}


def render_markdown(text: str, blob_base: str, raw_base: str, folder: str) -> Markup:
    """Sanitized HTML of a Markdown document that lives in `folder` of a repository.

    `blob_base` and `raw_base` are the URLs of the revision's blob and raw pages (without a
    trailing slash); relative links go to the first, relative images to the second.
    """
    if len(text.encode()) > MAX_MARKDOWN_BYTES:
        return Markup("<pre>") + escape(text) + Markup("</pre>")
    md = markdown.Markdown(
        extensions=["fenced_code", "tables", "toc", "sane_lists", "codehilite"],
        extension_configs={
            "tables": {"use_align_attribute": True},
            "toc": {"permalink": "#", "slugify": slugify_unicode, "permalink_title": "Link"},
            "codehilite": {"css_class": "highlight", "guess_lang": False},
        },
        output_format="html",
    )
    html = md.convert(text)

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if (tag, attribute) == ("a", "href"):
            return _resolve(value, blob_base, folder)
        if (tag, attribute) == ("img", "src"):
            return _resolve(value, raw_base, folder)
        return value

    clean = nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=rewrite,
        url_schemes=_SAFE_SCHEMES,
        allowed_classes=_CLASSES,
        link_rel="nofollow noopener noreferrer",
        id_prefix=ID_PREFIX,
    )
    # Task lists: `- [ ] todo` and `- [x] done`, made after sanitizing so no input gets in.
    clean = _TASK.sub(_task_box, clean)
    return Markup(clean)


def _task_box(match: re.Match) -> str:
    checked = " checked" if match.group(2) in "xX" else ""
    return f'<li class="task">{match.group(1) or ""}<input type="checkbox" disabled{checked}> '


def _resolve(url: str, base: str, folder: str) -> str | None:
    """A link as the page needs it: fragments prefixed like ids, repository paths made
    absolute, other schemes left to nh3's allow-list (which drops javascript: and data:)."""
    url = url.strip()
    if url.startswith("#"):
        return "#" + ID_PREFIX + url[1:] if len(url) > 1 else url
    if _SCHEME.match(url):
        return url if url.split(":", 1)[0].lower() in _SAFE_SCHEMES else None
    if url.startswith("//"):
        return url
    path, fragment = url.split("#", 1) if "#" in url else (url, None)
    path = path.split("?", 1)[0]
    if not path:
        return url
    target = unquote(path)
    joined = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
    normal = posixpath.normpath("/" + joined).lstrip("/")  # never above the repository's root
    resolved = f"{base}/{quote(normal)}" if normal else base
    return resolved + ("#" + fragment if fragment is not None else "")
