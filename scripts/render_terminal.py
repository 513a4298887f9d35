"""Render captured terminal output (text with ANSI colour codes) to a PNG, offline.

    python scripts/render_terminal.py OUTPUT.txt docs/demo.png [--title TEXT]

Used by scripts/screenshot-demo for the README's picture of the demo. Needs Pillow and a
monospace TrueType font (Debian's fonts-dejavu-core); nothing is fetched.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
)
BACKGROUND = (30, 32, 38)
FOREGROUND = (220, 223, 228)
TITLE_BAR = (52, 55, 63)
#: SGR colour numbers (30-37 and their bright 90-97) -> RGB, a muted terminal palette.
PALETTE = {
    30: (90, 94, 104),
    31: (232, 108, 108),
    32: (132, 206, 120),
    33: (230, 196, 110),
    34: (110, 160, 240),
    35: (200, 140, 230),
    36: (100, 200, 210),
    37: (220, 223, 228),
}
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_OTHER_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

Span = tuple[str, tuple[int, int, int], bool]


def spans(line: str) -> list[Span]:
    """A line as (text, colour, bold) runs; escapes other than colour are dropped."""
    out: list[Span] = []
    colour, bold = FOREGROUND, False
    at = 0
    for match in _SGR.finditer(line):
        if match.start() > at:
            out.append((_OTHER_ESCAPE.sub("", line[at : match.start()]), colour, bold))
        for code in [int(c or 0) for c in match[1].split(";")]:
            if code == 0:
                colour, bold = FOREGROUND, False
            elif code == 1:
                bold = True
            elif code in PALETTE or code - 60 in PALETTE:
                colour = PALETTE.get(code) or PALETTE[code - 60]
        at = match.end()
    out.append((_OTHER_ESCAPE.sub("", line[at:]), colour, bold))
    return [s for s in out if s[0]]


_TOKENS = re.compile(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)")
_CURSOR_UP_LINES = re.compile(r"\x1b\[(\d*)[FA]")


def terminal_lines(text: str) -> list[str]:
    """What a terminal shows at the end: a carriage return starts its line again, `ESC[nF`
    (`nA`) moves up n lines, `ESC[K` and `ESC[J` erase, so a live view redrawn in place ends
    as its last frame. Colour codes are kept for `spans`; other escapes are dropped."""
    screen = [""]
    row = 0
    at_start = False  # the cursor is at the start of `row`: the next text replaces the line
    for token in _TOKENS.split(text.replace("\r\n", "\n")):
        if not token:
            continue
        if token == "\n":
            row += 1
            if row == len(screen):
                screen.append("")
            at_start = False
        elif token == "\r":
            at_start = True
        elif up := _CURSOR_UP_LINES.fullmatch(token):
            row = max(0, row - int(up[1] or 1))
            at_start = True
        elif token in ("\x1b[J", "\x1b[0J"):
            del screen[row + 1 :]
            if at_start:
                screen[row] = ""
        elif token in ("\x1b[K", "\x1b[0K"):
            if at_start:
                screen[row] = ""
        elif token.startswith("\x1b[") and not token.endswith("m"):
            continue
        elif at_start:
            screen[row], at_start = token, False
        else:
            screen[row] += token
    while screen and not _SGR.sub("", screen[-1]).strip():
        screen.pop()
    return screen


def render(text: str, title: str, size: int = 15) -> Image.Image:
    path = next((p for p in FONTS if Path(p).exists()), None)
    if path is None:
        raise SystemExit(
            "render_terminal: no DejaVu Sans Mono font (apt-get install fonts-dejavu-core)"
        )
    regular = ImageFont.truetype(path, size)
    bold = ImageFont.truetype(path.replace("Mono.ttf", "Mono-Bold.ttf"), size)
    lines = terminal_lines(text)
    cell_w = regular.getlength("M")
    cell_h = int(size * 1.45)
    columns = max((len(_SGR.sub("", line)) for line in lines), default=0)
    pad, bar = 18, 30
    width = int(pad * 2 + cell_w * max(columns, 60))
    height = bar + pad * 2 + cell_h * len(lines)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, bar), fill=TITLE_BAR)
    for i, dot in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        x = 16 + i * 20
        draw.ellipse((x, 10, x + 11, 21), fill=dot)
    draw.text((width / 2, bar / 2), title, fill=(170, 174, 182), font=regular, anchor="mm")
    for row, line in enumerate(lines):
        x = float(pad)
        y = bar + pad + row * cell_h
        for chunk, colour, strong in spans(line):
            draw.text((x, y), chunk, fill=colour, font=bold if strong else regular)
            x += cell_w * len(chunk)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="captured output (ANSI colours allowed)")
    parser.add_argument("target", type=Path, help="the PNG to write")
    parser.add_argument("--title", default="./scripts/demo", help="the window's title")
    args = parser.parse_args(argv)
    # newline="": a lone carriage return (a progress line being redrawn) must reach the renderer.
    with args.source.open(encoding="utf-8", errors="replace", newline="") as source:
        image = render(source.read(), args.title)
    image.save(args.target, optimize=True)
    sys.stdout.write(f"{args.target}: {image.width}x{image.height}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
