"""A LiteLLM callback: ``litellm.callbacks = [teamcost.capture.sdk.litellm.TeamcostLogger()]``.

Records from LiteLLM's success and failure events (sync and async), with LiteLLM's own
computed cost when it has one (``price_source = reported``), else teamcost's price for the
reported tokens. Written against LiteLLM's documented CustomLogger interface; subclasses
the real CustomLogger when litellm is installed.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from teamcost.capture.sdk.common import as_int, call_id, get, tracker_or_default

log = logging.getLogger("teamcost.capture")

try:  # pragma: no cover - depends on litellm being installed
    from litellm.integrations.custom_logger import CustomLogger as _Base
except Exception:  # noqa: BLE001
    _Base = object  # type: ignore[assignment,misc]


def _seconds(start: Any, end: Any) -> float | None:
    try:
        if isinstance(start, datetime) and isinstance(end, datetime):
            return max((end - start).total_seconds(), 0.0)
        return max(float(end) - float(start), 0.0)
    except (TypeError, ValueError):
        return None


def _completed_at(end: Any) -> datetime | None:
    """The call's ts: LiteLLM's end_time, a naive ``datetime.now()`` (local time), so
    astimezone() reads it as local; None (record time) when it is not a datetime."""
    if not isinstance(end, datetime):
        return None
    return end.astimezone(UTC)


RECENT = 4096   # call ids this logger remembers having recorded


class TeamcostLogger(_Base):  # type: ignore[misc,valid-type]
    """LiteLLM may report one call through both the async and the sync hook (1.106 does
    for acompletion), so each call id is recorded once: the id is the response's, else
    LiteLLM's own per-call id, and the ids recorded lately are remembered."""

    def __init__(self, tracker: Any = None) -> None:
        if _Base is not object:
            super().__init__()
        self.tracker = tracker
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def _seen(self, cid: str) -> bool:
        with self._lock:
            return cid in self._recent

    def _remember(self, cid: str) -> None:
        with self._lock:
            self._recent[cid] = None
            if len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def _record(self, kwargs: dict[str, Any], response: Any, start: Any, end: Any,
                error: str | None) -> None:
        try:
            slo = kwargs.get("standard_logging_object") or {}
            cid = call_id("litellm", get(response, "id") or slo.get("id")
                          or kwargs.get("litellm_call_id"))
            if cid is not None and self._seen(cid):
                return
            params = kwargs.get("litellm_params") or {}
            model = get(response, "model") or slo.get("model") or kwargs.get("model")
            provider = (params.get("custom_llm_provider") or slo.get("custom_llm_provider")
                        or "unknown")
            u = get(response, "usage")
            prompt = as_int(get(u, "prompt_tokens"))
            cached = (as_int(get(u, "prompt_tokens_details", "cached_tokens"))
                      or as_int(get(u, "cache_read_input_tokens")))
            written = (as_int(get(u, "cache_creation_input_tokens"))
                       or as_int(get(u, "prompt_tokens_details", "cache_creation_tokens")))
            # LiteLLM's prompt_tokens count every input token, cache reads and writes too
            # (it adds Anthropic's to input_tokens); the ledger's input excludes them
            inp = max(prompt - cached - written, 0)
            cost = kwargs.get("response_cost")
            if cost is None:
                cost = slo.get("response_cost")
            tracker = tracker_or_default(self.tracker)
            rec = tracker.build(
                str(model or "unknown"), inp, as_int(get(u, "completion_tokens")),
                provider=str(provider), cache_read_tokens=cached, cache_write_tokens=written,
                cost_usd=cost if (cost is not None and error is None) else None,
                duration_s=_seconds(start, end), success=error is None, error=error,
                call_id=cid,
                ts=_completed_at(end), attribute=True)
            tracker.record_call(rec)
            self._remember(rec.call_id)
        except Exception:  # noqa: BLE001 - never break the caller's call
            log.exception("teamcost could not record a LiteLLM call")

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, None)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        exc = kwargs.get("exception")
        self._record(kwargs, response_obj, start_time, end_time,
                     f"{type(exc).__name__}: {exc}"[:2000] if exc else "failed")

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.log_success_event(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self.log_failure_event(kwargs, response_obj, start_time, end_time)
