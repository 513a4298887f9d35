"""Slack delivery through slack-sdk: an incoming webhook, or a bot token (threads and edits).

With a bot token (`chat:write`), the firing message's channel and `ts` are kept (the outbox
stores them); repeats are posted in its thread (`thread_ts`) and the resolved state **edits the
original message** (`chat.update`). With a webhook, every notification is a new message.

Retries inside one attempt use slack-sdk's handlers: connection errors, 500/503, and 429 with
`Retry-After` honoured, but only when the wait is short: a longer one is reported to the outbox
(`AlertDeliveryError.retry_after`), which waits without holding anything. A webhook answers
4xx/5xx with a status and does not raise: the status code is checked here.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Final

import aiohttp
import anyio
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from monitor.alerts.blocks import slack_blocks
from monitor.alerts.notifier import Delivery
from monitor.errors import AlertDeliveryError, ConfigError

log = logging.getLogger(__name__)

# slack-sdk logs the request URL and body at DEBUG whenever its logger's own level is unset;
# the webhook URL is a secret, so its clients get a logger that never goes below WARNING.
_SDK_LOG: Final = logging.getLogger(f"{__name__}.sdk")
_SDK_LOG.setLevel(logging.WARNING)

#: Slack error codes worth retrying as they are (everything else needs a config change).
_TRANSIENT_CODES: Final = frozenset(
    {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
)
#: chat.update cannot edit the original any more: post the resolved as a new message instead.
_UPDATE_GONE: Final = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
_HINTS: Final = {
    "invalid_auth": "the bot token is invalid (check SLACK_BOT_TOKEN)",
    "not_authed": "no bot token was sent (check SLACK_BOT_TOKEN)",
    "token_revoked": "the bot token was revoked (check SLACK_BOT_TOKEN)",
    "account_inactive": "the bot token's app or user is deactivated",
    "missing_scope": "the bot token needs the chat:write scope",
    "channel_not_found": "the channel does not exist or the bot cannot see it (check [alerts] channel)",
    "not_in_channel": "the bot is not in the channel: /invite it there",
    "is_archived": "the channel is archived",
    "channel_is_archived": "the channel is archived",
    "invalid_token": "the webhook URL is wrong or revoked (check SLACK_WEBHOOK_URL)",
    "no_service": "the webhook URL is wrong or revoked (check SLACK_WEBHOOK_URL)",
    "no_team": "the webhook URL is wrong or revoked (check SLACK_WEBHOOK_URL)",
    "team_disabled": "the Slack workspace is disabled",
    "action_prohibited": "the workspace's admin forbids this webhook",
    "invalid_payload": "Slack refused the message format",
}
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (sleeps `Retry-After` + jitter), only for waits of `max_wait` s.

    A longer wait would hold the outbox for minutes; the outbox waits it out instead.
    """

    def __init__(self, max_wait: float, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        return wait is None or wait <= self.max_wait


def retry_handlers(
    *, max_inline_wait: float, interval: RetryIntervalCalculator | None = None
) -> list[AsyncRetryHandler]:
    """Connection errors, 429 (Retry-After honoured) and 500/503, each retried in place."""
    kwargs: dict[str, Any] = {} if interval is None else {"interval_calculator": interval}
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=1, **kwargs),
        ShortRateLimitRetry(max_wait=max_inline_wait),
        AsyncServerErrorRetryHandler(max_retry_count=1, **kwargs),
    ]


def retry_after(headers: Any) -> float | None:
    """The `Retry-After` seconds in a header mapping (values may be lists), if any."""
    if headers is None:
        return None
    for name in headers:
        if str(name).lower() == "retry-after":
            value = headers[name]
            text = value[0] if isinstance(value, list) and value else value
            try:
                seconds = float(str(text).strip())
            except ValueError:
                return None
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


class SlackNotifier:
    """Delivers a message to Slack once (with slack-sdk's in-place retries) or raises."""

    def __init__(
        self,
        *,
        webhook_url: str = "",
        token: str = "",
        channel: str = "",
        api_url: str = "https://slack.com/api/",
        timeout: float = 10.0,
        max_inline_wait: float = 5.0,
        retry_interval: RetryIntervalCalculator | None = None,
    ) -> None:
        if token and not channel:
            raise ConfigError("alerts.channel", "required with SLACK_BOT_TOKEN (a name or an ID)")
        if not token and not webhook_url:
            raise ConfigError("alerts", "set env SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN + channel")
        handlers = retry_handlers(max_inline_wait=max_inline_wait, interval=retry_interval)
        seconds = max(1, math.ceil(timeout))
        # One attempt, its in-place retries and their waits: never longer than this.
        self._deadline = 3 * seconds + 2 * (max_inline_wait + 1) + 5
        self._channel = channel
        self._web: AsyncWebClient | None = None
        self._webhook: AsyncWebhookClient | None = None
        if token:
            self._web = AsyncWebClient(
                token=token,
                base_url=api_url,
                timeout=seconds,
                logger=_SDK_LOG,
                retry_handlers=handlers,
            )
        else:
            self._webhook = AsyncWebhookClient(
                webhook_url, timeout=seconds, logger=_SDK_LOG, retry_handlers=handlers
            )

    @property
    def destination(self) -> str:
        if self._web is not None:
            return f"Slack bot token, channel {self._channel}"
        return "Slack incoming webhook"

    @property
    def threads(self) -> bool:
        """True when repeats thread and the resolved edits in place (bot token)."""
        return self._web is not None

    async def send(self, delivery: Delivery) -> str | None:
        try:
            with anyio.fail_after(self._deadline):
                if self._web is not None:
                    return await self._send_bot(self._web, delivery)
                assert self._webhook is not None
                await self._send_webhook(self._webhook, delivery)
                return None
        except SlackApiError as exc:
            raise self._api_error(exc) from None
        except SlackClientError as exc:
            raise AlertDeliveryError(f"{self.destination}: {type(exc).__name__}") from None
        except TimeoutError:
            raise AlertDeliveryError(f"{self.destination}: timed out") from None
        except aiohttp.ClientError as exc:
            # The exception's text may hold the URL (the webhook's secret): its type only.
            raise AlertDeliveryError(
                f"{self.destination}: connection failed ({type(exc).__name__})"
            ) from None

    async def _send_webhook(self, client: AsyncWebhookClient, delivery: Delivery) -> None:
        message = delivery.message
        response = await client.send(
            text=message.headline, blocks=slack_blocks(message), unfurl_links=False
        )
        if response.status_code != 200:
            body = (response.body or "").strip()
            code = body if _ERROR_CODE.match(body) else None
            raise self._failure(response.status_code, code, retry_after(response.headers))
        return None

    async def _send_bot(self, client: AsyncWebClient, delivery: Delivery) -> str:
        message = delivery.message
        ref_channel, ref_ts = _split(delivery.ref)
        if delivery.kind == "resolved" and ref_ts is not None:
            try:
                response = await client.chat_update(
                    channel=ref_channel or self._channel,
                    ts=ref_ts,
                    text=message.headline,
                    blocks=slack_blocks(message),
                )
                return _ref(response.data, ref_channel, ref_ts)
            except SlackApiError as exc:
                if _code_of(exc) not in _UPDATE_GONE:
                    raise
                log.info("alert message %s cannot be edited any more; posting anew", ref_ts)
        thread = ref_ts if delivery.kind == "repeat" else None
        response = await client.chat_postMessage(
            channel=ref_channel if thread and ref_channel else self._channel,
            text=message.headline,
            blocks=slack_blocks(message),
            thread_ts=thread,
            unfurl_links=False,
        )
        return _ref(response.data, None, None)

    def _api_error(self, exc: SlackApiError) -> AlertDeliveryError:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        return self._failure(status, _code_of(exc), retry_after(getattr(response, "headers", None)))

    def _failure(self, status: int, code: str | None, wait: float | None) -> AlertDeliveryError:
        what = f"{self.destination}: HTTP {status}" + (f" {code}" if code else "")
        if status == 429 or code == "ratelimited":
            later = f"; retry after {wait:g}s" if wait is not None else ""
            return AlertDeliveryError(f"{what} (rate limited){later}", retry_after=wait)
        if status >= 500 or code in _TRANSIENT_CODES:
            return AlertDeliveryError(f"{what} (Slack unavailable)", retry_after=wait)
        hint = _HINTS.get(code or "")
        if hint is None and status == 404:
            hint = "not found: check the webhook URL or [alerts] slack_api_url"
        return AlertDeliveryError(f"{what}: {hint or 'refused'}", permanent=True)


def _code_of(exc: SlackApiError) -> str | None:
    data = getattr(exc.response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


def _split(ref: str | None) -> tuple[str | None, str | None]:
    """A ref is `channel:ts` (a channel ID, since chat.update needs one, and the message ts)."""
    if not ref:
        return None, None
    channel, _, ts = ref.rpartition(":")
    return channel or None, ts or None


def _ref(data: Any, channel: str | None, ts: str | None) -> str:
    if isinstance(data, dict):
        channel = str(data.get("channel") or channel or "")
        ts = str(data.get("ts") or ts or "")
    return f"{channel}:{ts}"
