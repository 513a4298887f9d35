"""A neutral alert message as Slack Block Kit (slack-sdk models) with mrkdwn escaping.

Dynamic text is escaped for mrkdwn, so a key cannot ping a channel (`<!channel>`) or forge a
link (`<url|x>`); example keys are shown as code, shortened to fit.
"""

from __future__ import annotations

from typing import Any, Final

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from monitor.alerts.messages import Link, Message, MessageState, Span

#: Slack limits: a header's text, a key shown in a message.
_HEADER_MAX: Final = 150
_KEY_MAX: Final = 80
_EMOJI: Final[dict[MessageState, str]] = {
    "firing": ":rotating_light:",
    "repeat": ":repeat:",
    "resolved": ":white_check_mark:",
    "test": ":wave:",
}


def slack_blocks(message: Message) -> list[Block]:
    header = f"{_EMOJI[message.state]} {message.status}: {message.title}"
    if len(header) > _HEADER_MAX:
        header = header[: _HEADER_MAX - 1] + "…"
    blocks: list[Block] = [
        HeaderBlock(text=header),
        SectionBlock(text=MarkdownTextObject(text="".join(map(_span_md, message.sentence)))),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*{label}*\n{escape(value)}")
                for label, value in message.facts
            ]
        ),
    ]
    if message.example_keys:
        shown = "  ".join(f"`{_code(key)}`" for key in message.example_keys)
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Example keys* (up to 5)\n{shown}"))
        )
    footer = [*map(_link_md, message.links), f"rule `{_code(message.rule)}`", "dualwrite-monitor"]
    blocks += [
        DividerBlock(),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(footer))]),
    ]
    return blocks


def blocks_json(message: Message) -> list[dict[str, Any]]:
    return [block.to_dict() for block in slack_blocks(message)]


def escape(text: str) -> str:
    """Slack mrkdwn control characters; `<!channel>` or `<url|x>` in data must stay literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _span_md(span: Span) -> str:
    if span.style == "strong":
        return f"*{escape(span.text)}*"
    if span.style == "code":
        return f"`{escape(span.text)}`"
    return escape(span.text)


def _code(text: str) -> str:
    if len(text) > _KEY_MAX:
        text = text[: _KEY_MAX - 1] + "…"
    return escape(text.replace("`", "'"))


def _link_md(link: Link) -> str:
    url = link.url
    if url.startswith(("https://", "http://")) and not any(c in url for c in "<>| "):
        return f"<{url}|{escape(link.label)}>"
    return f"{escape(link.label)}: {escape(url)}"
