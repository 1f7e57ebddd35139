"""What the local fakes of admin APIs (tests/admin_api_server.py, tests/vendor_api_server.py)
share: JSON with Decimal amounts written digit for digit, and a handler that answers it."""

from __future__ import annotations

import json
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

_DEC = "__decimal__"


def encode_json(body: Any) -> bytes:
    """JSON with Decimal values written as bare JSON numbers, digit for digit (the
    providers' amounts are decimal strings of any length; a float would round them)."""
    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return f"{_DEC}{obj}{_DEC}"
        raise TypeError(type(obj).__name__)
    text = json.dumps(body, default=default)
    return text.replace(f'"{_DEC}', "").replace(f'{_DEC}"', "").encode()


class JSONHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with a Content-Length on every answer, quiet."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else encode_json(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
