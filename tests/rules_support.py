"""Talking to the Firestore emulator over REST as a given identity, so rules apply.

The Python client always sends ``Bearer owner`` to the emulator (rules bypassed); these
helpers send an unsigned emulator ID token instead, the way @firebase/rules-unit-testing
does, or no token at all.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from teamcost.auth.tokens import unsigned_id_token


def encode(v: Any) -> dict[str, Any]:
    if v is None:
        return {"nullValue": None}
    if isinstance(v, bool):
        return {"booleanValue": v}
    if isinstance(v, int):
        return {"integerValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, datetime):
        return {"timestampValue": v.isoformat().replace("+00:00", "Z")}
    if isinstance(v, dict):
        return {"mapValue": {"fields": {k: encode(x) for k, x in v.items()}}}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [encode(x) for x in v]}}
    raise TypeError(type(v))


@dataclass
class Rest:
    host: str
    project: str
    token: str | None          # None: unauthenticated

    @classmethod
    def as_member(cls, host: str, project: str, uid: str, team: str,
                  admin: bool = False) -> "Rest":
        claims: dict[str, Any] = {"team": team}
        if admin:
            claims["admin"] = True
        return cls(host, project, unsigned_id_token(project, uid, uid, claims))

    @property
    def root(self) -> str:
        return f"projects/{self.project}/databases/(default)/documents"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"http://{self.host}/v1/{self.root}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        if self.token is not None:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def create_write(self, doc_id: str, fields: dict[str, Any],
                     collection: str = "trinity_costs",
                     server_time: tuple[str, ...] = ("pushed_at",)) -> dict[str, Any]:
        """A create() write: must not exist; the ``server_time`` fields are set to the
        server's request time (SERVER_TIMESTAMP)."""
        return {"update": {"name": f"{self.root}/{collection}/{doc_id}",
                           "fields": {k: encode(v) for k, v in fields.items()}},
                "currentDocument": {"exists": False},
                "updateTransforms": [{"fieldPath": f, "setToServerValue": "REQUEST_TIME"}
                                     for f in server_time]}

    def commit(self, *writes: dict[str, Any]) -> int:
        return self.call("POST", ":commit", {"writes": list(writes)})[0]

    def create(self, doc_id: str, fields: dict[str, Any]) -> int:
        return self.commit(self.create_write(doc_id, fields))

    def set_doc(self, collection: str, doc_id: str, fields: dict[str, Any],
                server_time: tuple[str, ...] = ()) -> int:
        """A set() write (create or replace); ``server_time`` fields as in create_write."""
        w: dict[str, Any] = {"update": {"name": f"{self.root}/{collection}/{doc_id}",
                                        "fields": {k: encode(v) for k, v in fields.items()}}}
        if server_time:
            w["updateTransforms"] = [{"fieldPath": f, "setToServerValue": "REQUEST_TIME"}
                                     for f in server_time]
        return self.commit(w)

    def update(self, doc_id: str, fields: dict[str, Any]) -> int:
        return self.commit({"update": {"name": f"{self.root}/trinity_costs/{doc_id}",
                                       "fields": {k: encode(v) for k, v in fields.items()}},
                            "updateMask": {"fieldPaths": list(fields)},
                            "currentDocument": {"exists": True}})

    def delete(self, doc_id: str) -> int:
        return self.commit({"delete": f"{self.root}/trinity_costs/{doc_id}"})

    def get(self, doc_id: str, collection: str = "trinity_costs") -> int:
        return self.call("GET", f"/{collection}/{doc_id}")[0]

    def _query(self, team: str | None) -> dict[str, Any]:
        q: dict[str, Any] = {"from": [{"collectionId": "trinity_costs"}]}
        if team is not None:
            q["where"] = {"fieldFilter": {"field": {"fieldPath": "team"}, "op": "EQUAL",
                                          "value": {"stringValue": team}}}
        return q

    def list(self, team: str | None) -> tuple[int, int]:
        """(HTTP status, documents returned) of a query on team (None: unfiltered)."""
        status, body = self.call("POST", ":runQuery", {"structuredQuery": self._query(team)})
        n = sum(1 for r in body if isinstance(r, dict) and "document" in r) if status == 200 \
            else 0
        return status, n

    def sum_cost(self, team: str | None) -> tuple[int, int | float | None]:
        """(HTTP status, sum(cost_nanos)) as the server typed it: an int for an integer
        sum, a float when the server answered with a double (an int64 overflow)."""
        status, body = self.call("POST", ":runAggregationQuery", {
            "structuredAggregationQuery": {
                "structuredQuery": self._query(team),
                "aggregations": [{"alias": "s", "sum": {"field": {"fieldPath": "cost_nanos"}}}]}})
        if status != 200:
            return status, None
        v = body[0]["result"]["aggregateFields"]["s"]
        if "integerValue" in v:
            return status, int(v["integerValue"])
        return status, float(v["doubleValue"])
