"""The providers' admin APIs over HTTP: moved down to ``teamcost.httpapi`` so the vendor
importers (capture) share it without importing reconcile; re-exported here for reconcile."""

from __future__ import annotations

from teamcost.httpapi import (
    MAX_PAGES,
    USER_AGENT,
    AdminApi,
    AdminKey,
    ApiStats,
    RetryPolicy,
    check_base_url,
    retry_after,
)

__all__ = ["MAX_PAGES", "USER_AGENT", "AdminApi", "AdminKey", "ApiStats", "RetryPolicy",
           "check_base_url", "retry_after"]
