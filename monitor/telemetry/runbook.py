"""The runbook the daemon serves at `/runbook`: docs/runbook.md, rendered once, on the server.

The Markdown ships inside the package (`monitor/telemetry/runbook.md` is a link to
docs/runbook.md, copied into the wheel as package data), so the runbook a daemon serves is the
one of the version it runs. It is rendered with Python-Markdown, the renderer MkDocs uses, with
the same heading anchors (`{#rule}` attribute lists), so `/runbook#<rule>` and the site agree.
Links to other pages of the documentation site do not exist here: they are shown as text.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import markdown

from monitor.telemetry.html import page

RESOURCE = "runbook.md"
_EXTENSIONS = ["attr_list", "admonition", "tables", "fenced_code", "toc"]
#: A link to another page of the site (`alerts.md`, `checks.md#x`): no such page here.
_SITE_LINK = re.compile(r'<a href="(?!https?://|#|/)[^"]*">(.*?)</a>', re.S)
_ANCHOR = re.compile(r'\bid="([^"]+)"')


class RunbookMissing(LookupError):
    """The package was built without its runbook (a broken install)."""


def runbook_markdown() -> str:
    try:
        return resources.files(__package__).joinpath(RESOURCE).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise RunbookMissing(f"{RESOURCE} is not in the installed package") from exc


def render_markdown(text: str) -> str:
    """The runbook's body as HTML, anchors as MkDocs makes them, site links as plain text."""
    converter = markdown.Markdown(
        extensions=_EXTENSIONS, extension_configs={"toc": {"permalink": True}}
    )
    return _SITE_LINK.sub(r"\1", converter.convert(text))


def anchors(html: str) -> set[str]:
    return set(_ANCHOR.findall(html))


@cache
def runbook_page() -> str:
    """The whole `/runbook` document (raises RunbookMissing)."""
    return page("dualwrite-monitor runbook", render_markdown(runbook_markdown()))
