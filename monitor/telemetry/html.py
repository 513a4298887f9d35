"""The frame of the daemon's HTML pages (`/` and `/runbook`): one inline stylesheet, no script.

Everything is served by the daemon itself; nothing is fetched at run time (no font, no CDN), so
the pages open on a locked-down network and read the same without JavaScript.
"""

from __future__ import annotations

from html import escape

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2731;
background:#f6f7f9}
header{background:#1d2731;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:baseline;
flex-wrap:wrap}
header a{color:#cfe3ff}header .name{font-weight:600;font-size:1.1em}
main{max-width:70em;margin:0 auto;padding:1em 1.2em 3em}
section.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.2em 1em 1em;
margin:1em 0}
h1{font-size:1.5em}h2{font-size:1.2em;margin:.8em 0 .4em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.4em 0;width:100%}
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eceff2;vertical-align:top}
th{font-weight:600;color:#4a5866;font-size:.9em}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f0f2f4;padding:.6em;overflow-x:auto;border-radius:4px}
.badge{display:inline-block;padding:0 .5em;border-radius:3px;font-size:.85em;font-weight:600;
color:#fff;background:#7f8c8d;vertical-align:middle}
.badge.ok{background:#2e7d32}.badge.inconsistent,.badge.firing{background:#c62828}
.badge.error{background:#6a1b9a}.badge.pending,.badge.resolving{background:#ef6c00}
tr.breach td{background:#fdecea}.muted{color:#6b7785}
.keys code{margin-right:.5em}
a.headerlink{margin-left:.3em;color:#b0b8c0;text-decoration:none}
ol.phases{display:flex;flex-wrap:wrap;gap:.4em;list-style:none;padding:0;margin:.4em 0}
ol.phases li{padding:.15em .6em;border:1px solid #dde1e6;border-radius:3px;color:#6b7785}
ol.phases li.current{border-color:#1565c0;background:#eef4fb;color:#1d2731}
.admonition{border-left:4px solid #1565c0;background:#eef4fb;padding:.2em .8em;margin:.6em 0}
"""


def page(title: str, body: str, *, refresh_seconds: int | None = None) -> str:
    """A complete HTML document around `body` (already escaped markup)."""
    refresh = (
        ""
        if refresh_seconds is None
        else f'<meta http-equiv="refresh" content="{refresh_seconds}">'
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{refresh}<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        '<header><span class="name">dualwrite-monitor</span>'
        '<a href="/">Status</a><a href="/runbook">Runbook</a>'
        '<a href="/status">/status (JSON)</a><a href="/metrics">/metrics</a></header>'
        f"<main>{body}</main></body></html>"
    )
