"""HubSpot CRM search emulation: POST /crm/objects/{version}/{calls|meetings}/search.

Rules from docs/hubspot_objects.md 3.5, 6, 7 and A2-A8, A21: filter groups OR'ed, filters AND'ed;
EQ / NEQ / IN / NOT_IN / HAS_PROPERTY / NOT_HAS_PROPERTY / GT / GTE / LT / LTE / BETWEEN; IN on a
string property matches nothing for a value with upper case; one sort; limit 10 by default, at
most 200; `after` an integer; no paging past 10,000; a body of at most 3,000 characters; objects
written less than `search_lag_s` ago are not found. CONTAINS_TOKEN / NOT_CONTAINS_TOKEN and
`query` are not emulated (400 saying so).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .crm_http import BadRequest, CrmContext, read_json
from .crm_mapping import properties_of
from .crm_schema import parse_datetime_ms

OPERATORS = (
    "BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN", "LT", "LTE", "NEQ",
    "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN",
)  # fmt: skip
NOT_EMULATED = ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
MAX_BODY_CHARS = 3_000  # note A3
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18  # note A4
DEFAULT_LIMIT, MAX_LIMIT, MAX_RESULTS = 10, 200, 10_000  # note 3.5
_ORDERED = {"GT": (1,), "GTE": (0, 1), "LT": (-1,), "LTE": (-1, 0)}


def check_filter(f: Any, in_max: int) -> None:
    """A 400 for a filter the API refuses (note 3.5, A2)."""
    if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
        raise BadRequest(f"filter {f!r} needs propertyName and operator")
    op = f.get("operator")
    if op not in OPERATORS:
        raise BadRequest(f"operator {op!r} is unknown; use one of {', '.join(OPERATORS)}")
    if op in NOT_EMULATED:
        raise BadRequest(f"operator {op} is not emulated by the sandbox")
    if op in ("IN", "NOT_IN"):
        values = f.get("values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"{op} on {f['propertyName']} needs values: a list of strings")
        if len(values) > in_max:
            raise BadRequest(f"{op} carries {len(values)} values; at most {in_max} per filter")
    elif op not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY") and not isinstance(f.get("value"), str):
        raise BadRequest(f"{op} on {f['propertyName']} needs value as a string")
    if op == "BETWEEN" and not isinstance(f.get("highValue"), str):
        raise BadRequest(f"BETWEEN on {f['propertyName']} needs highValue as a string")


def parse_request(body: Any, length: int, in_max: int) -> dict[str, Any]:
    """The validated search request: groups, sort, limit, after, properties."""
    if length > MAX_BODY_CHARS:
        raise BadRequest(f"search body has {length} characters; at most {MAX_BODY_CHARS}")
    if not isinstance(body, dict):
        raise BadRequest("search body must be a JSON object")
    if body.get("query"):
        raise BadRequest("query (full-text search) is not emulated by the sandbox; use filters")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise BadRequest(f"filterGroups must be a list of at most {MAX_GROUPS} groups")
    filters = [g.get("filters") if isinstance(g, dict) else None for g in groups]
    if not all(isinstance(f, list) and len(f) <= MAX_FILTERS_PER_GROUP for f in filters):
        raise BadRequest(f"each filter group needs filters: at most {MAX_FILTERS_PER_GROUP}")
    if sum(len(f) for f in filters if f) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} filters in all groups together")
    for group in filters:
        for f in group or []:
            check_filter(f, in_max)
    return {
        "groups": filters,
        "sort": _sort(body.get("sorts") or []),
        "limit": _integer(body.get("limit", DEFAULT_LIMIT), "limit", MAX_LIMIT),
        "after": _integer(body.get("after", 0), "after", None),
        "properties": [str(p) for p in body.get("properties") or []],
    }


def _integer(value: Any, name: str, most: int | None) -> int:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise BadRequest(f'{name} must be an integer (e.g. "10"), got {value!r}')
    if most is not None and int(text) > most:
        raise BadRequest(f"{name} {text} is above the maximum of {most}")
    return int(text)


def _sort(sorts: Any) -> tuple[str, bool] | None:
    """(propertyName, descending) of the one allowed sort (note 3.5), or None."""
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise BadRequest("only one sorting rule can be applied to any search")
    if not sorts:
        return None
    rule = sorts[0]
    if isinstance(rule, str):
        return rule, False
    if not isinstance(rule, dict) or rule.get("direction", "ASCENDING") not in (
        "ASCENDING",
        "DESCENDING",
    ):
        raise BadRequest(f"sort {rule!r}: use {{propertyName, direction ASCENDING|DESCENDING}}")
    return str(rule.get("propertyName")), rule.get("direction") == "DESCENDING"


def _norm(kind: str, value: str) -> Any:
    """A comparable form: ms for datetimes, floats for numbers, lower case otherwise (3.5)."""
    if kind in ("datetime", "date"):
        return parse_datetime_ms(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return None
    return value.lower()


def _sort_key(kind: str, value: str) -> tuple[bool, Any]:
    """Objects without a value sort after those with one (ascending)."""
    norm = _norm(kind, value) if value else None
    if norm is None:
        return True, "" if kind not in ("datetime", "date", "number") else 0
    return False, norm


def _cmp(a: Any, b: Any) -> int:
    if a is None or b is None or type(a) is not type(b):
        a, b = str(a), str(b)
    return (a > b) - (a < b)


def matches(f: dict[str, Any], props: dict[str, str], types: dict[str, str]) -> bool:
    """Whether one object's properties pass one filter."""
    op, name = f["operator"], f["propertyName"]
    value = props.get(name, "")
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return (value != "") == (op == "HAS_PROPERTY")
    kind = types.get(name, "string")
    if op in ("IN", "NOT_IN"):
        # note A21: a string IN value with upper case matches nothing
        wanted = {_norm(kind, v) for v in f["values"] if kind != "string" or v == v.lower()}
        return value != "" and (_norm(kind, value) in wanted) == (op == "IN")
    if value == "":
        return op == "NEQ"
    have, want = _norm(kind, value), _norm(kind, f["value"])
    if op in ("EQ", "NEQ"):
        return (_cmp(have, want) == 0) == (op == "EQ")
    if op == "BETWEEN":
        return _cmp(have, want) >= 0 and _cmp(have, _norm(kind, f["highValue"])) <= 0
    return _cmp(have, want) in _ORDERED[op]


class CrmSearchApi:
    """The search route bound to one sandbox's CrmContext."""

    def __init__(self, ctx: CrmContext) -> None:
        self.ctx = ctx

    def _candidates(self, portal: int, object_type: str, groups: list) -> list[int] | None:
        """A shortcut, not a rule: when every group has an EQ/IN on a unique property, only
        the objects holding one of those values can match (None: look at every object)."""
        if not groups:
            return None
        unique = self.ctx.unique_names(portal, object_type)
        ids: set[int] = set()
        for group in groups:
            keyed = [f for f in group if f["operator"] in ("EQ", "IN")]
            keyed = [f for f in keyed if f["propertyName"] in unique]
            if not keyed:
                return None
            f = keyed[0]
            values = f["values"] if f["operator"] == "IN" else [f["value"]]
            lowered = [str(v).lower() for v in values]
            ids.update(
                self.ctx.store.crm_unique_ids(portal, object_type, f["propertyName"], lowered)
            )
        return sorted(ids)

    def routes(self) -> list[Route]:
        path = f"/crm/objects/{self.ctx.config.crm_version}/{{object_type}}/search"
        return [Route(path, self.ctx.guarded(self.search, "search"), methods=["POST"])]

    async def search(self, request: Request) -> Response:
        """Filter, sort and page the objects the (lagging) index holds."""
        body, length = await read_json(request)
        req = parse_request(body, length, self.ctx.config.search_in_max_values)
        if req["after"] + req["limit"] > MAX_RESULTS:
            raise BadRequest(f"search pages stop at {MAX_RESULTS} results; narrow the filters")
        portal, object_type = request.state.portal, request.state.object_type
        types = {n: d["type"] for n, d in self.ctx.definitions(portal, object_type).items()}
        cutoff = self.ctx.now_ms() - int(self.ctx.config.search_lag_s * 1000)
        found = []
        ids = self._candidates(portal, object_type, req["groups"])
        for row in self.ctx.store.crm_searchable(portal, object_type, cutoff, ids):
            props = properties_of(object_type, row)
            groups = req["groups"]
            if not groups or any(all(matches(f, props, types) for f in g) for g in groups):
                found.append((row, props))
        if req["sort"] is not None:
            name, descending = req["sort"]
            kind = types.get(name, "string")
            found.sort(key=lambda rp: _sort_key(kind, rp[1].get(name, "")), reverse=descending)
        after, limit = req["after"], req["limit"]
        names = set(req["properties"])
        page = [self.ctx.object_json(object_type, r, names, None) for r, _ in found[after:][:limit]]
        out: dict[str, Any] = {"total": len(found), "results": page}
        if after + limit < len(found) and limit > 0:
            out["paging"] = {"next": {"after": str(after + limit)}}
        return JSONResponse(out)
