"""The renderer of the README's demo picture: colours, carriage returns, one row per line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("PIL", reason="Pillow is in the test extras: pip install -e '.[test]'")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "render_terminal.py"
spec = importlib.util.spec_from_file_location("render_terminal", SCRIPT)
assert spec is not None and spec.loader is not None
render_terminal = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_terminal)


def test_colour_codes_become_coloured_runs() -> None:
    runs = render_terminal.spans("ok \x1b[31mmissing\x1b[0m \x1b[1;32mfine\x1b[0m\x1b[K")
    assert [text for text, _, _ in runs] == ["ok ", "missing", " ", "fine"]
    assert runs[1][1] == render_terminal.PALETTE[31]
    assert runs[3][1:] == (render_terminal.PALETTE[32], True)
    assert runs[0][1] == runs[2][1] == render_terminal.FOREGROUND


def test_a_carriage_return_overwrites_its_line() -> None:
    text = "start\r\nprogress 10%\rprogress 100%\r\x1b[Kdone\r\n\r\n"
    assert render_terminal.terminal_lines(text) == ["start", "done"]


def test_a_view_redrawn_in_place_ends_as_its_last_frame() -> None:
    frame = "checks: {n}\nfindings: {n}\nalerts: {n}\n"
    text = "demo\n" + frame.format(n=1)
    for n in (2, 3):
        text += "\x1b[3F\x1b[J" + frame.format(n=n)
    text += "\x1b[3F\x1b[J\x1b[32mdone\x1b[0m\nsummary\n"
    assert render_terminal.terminal_lines(text) == ["demo", "\x1b[32mdone\x1b[0m", "summary"]
    partial = "demo\n" + frame.format(n=1) + "\x1b[2F\x1b[Jfindings: 9\n"
    assert render_terminal.terminal_lines(partial) == ["demo", "checks: 1", "findings: 9"]


def test_the_image_has_a_row_per_line() -> None:
    one = render_terminal.render("a\nb", "t")
    three = render_terminal.render("a\nb\nc\nd", "t")
    assert three.height - one.height == 2 * (
        three.height - render_terminal.render("a\nb\nc", "t").height
    )
    assert one.width == three.width
