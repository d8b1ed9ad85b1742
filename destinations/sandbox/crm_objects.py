"""HubSpot CRM objects API emulation: batch create / read / update / upsert of calls and meetings.

Paths /crm/objects/{version}/{calls|meetings}/batch/... (docs/hubspot_objects.md section 2).
Multi-status (207, errors[].context.objectWriteTraceId) only when every input carries a unique
objectWriteTraceId; otherwise one invalid input fails the whole request with 400 (note A12).
Unique-value conflicts are per-input VALIDATION_ERRORs (A11); unknown ids are 207
OBJECT_NOT_FOUND errors with context.ids (A14). Results come back shuffled (A13).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .crm_http import BadRequest, CrmContext, batch_inputs, read_json, standard_error, utc_now_iso
from .crm_mapping import properties_of
from .crm_schema import association_lists, iso_ms, validate_associations, validate_properties
from .crm_store import Write


def _not_valid(details: list[dict]) -> str:
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))


def _trace_ids(inputs: list[Any]) -> list[str] | None:
    """The inputs' objectWriteTraceIds when every input has one and they are unique (3.3)."""
    ids = [i.get("objectWriteTraceId") if isinstance(i, dict) else None for i in inputs]
    if all(isinstance(t, str) and t for t in ids) and len(set(ids)) == len(ids):
        return [str(t) for t in ids]
    return None


def _conflict(name: str, object_type: str, trace: str | None) -> dict[str, Any]:
    kind = object_type.rstrip("s")
    message = f'Property values were not valid: another {kind} already has that value of "{name}"'
    detail = {"message": message, "context": {"propertyName": [name]}}
    return standard_error("VALIDATION_ERROR", message, _trace(trace), [detail])


def _trace(trace: str | None) -> dict[str, list[str]]:
    return {"objectWriteTraceId": [trace]} if trace is not None else {}


def _not_found(object_type: str, ids: list[str]) -> dict[str, Any]:
    message = f"Could not get some {object_type} objects, they may be deleted or not exist."
    return standard_error("OBJECT_NOT_FOUND", message, {"ids": ids})


class CrmObjectsApi:
    """The batch routes of the objects API bound to one sandbox's CrmContext."""

    def __init__(self, ctx: CrmContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        base = f"/crm/objects/{self.ctx.config.crm_version}/{{object_type}}/batch"
        g = self.ctx.guarded
        return [
            Route(f"{base}/create", g(self.create, "write"), methods=["POST"]),
            Route(f"{base}/update", g(self.update, "write"), methods=["POST"]),
            Route(f"{base}/upsert", g(self.upsert, "write"), methods=["POST"]),
            Route(f"{base}/read", g(self.read, "read"), methods=["POST"]),
        ]

    def _check(
        self, request: Request, item: Any, creating: bool, associations: bool = True
    ) -> list[dict]:
        """Every problem of one create/update input (note 3.1, section 4, section 5)."""
        if not isinstance(item, dict):
            return [{"message": f"each input must be an object, got {item!r}"}]
        portal, object_type = request.state.portal, request.state.object_type
        defs = self.ctx.definitions(portal, object_type)
        extra = self.ctx.extra_options()
        problems = validate_properties(object_type, item.get("properties"), defs, extra, creating)
        if creating and associations:
            missing = self.ctx.config.missing_association_ids
            problems += validate_associations(object_type, item.get("associations"), missing)
        return problems

    async def create(self, request: Request) -> Response:
        """POST .../batch/create: 201, or 207 with per-input errors (note 2, 3.1-3.3)."""
        started = utc_now_iso()
        body, _ = await read_json(request)
        inputs = batch_inputs(body)
        traces = _trace_ids(inputs)
        object_type = request.state.object_type
        errors: list[dict] = []
        writes: list[tuple[str | None, Write]] = []
        for i, item in enumerate(inputs):
            trace = traces[i] if traces else None
            problems = self._check(request, item, creating=True)
            if problems and traces is None:
                raise BadRequest(_not_valid(problems), problems)  # note A12: all or nothing
            if problems:
                errors.append(
                    standard_error(
                        "VALIDATION_ERROR", _not_valid(problems), _trace(trace), problems
                    )
                )
                continue
            assoc = association_lists(object_type, item["associations"])
            writes.append((trace, Write(dict(item["properties"]), associations=assoc)))
        return self._store(request, writes, errors, started, 201)

    def _store(
        self,
        request: Request,
        writes: list[tuple[str | None, Write]],
        errors: list[dict],
        started: str,
        ok_status: int,
        upsert: bool = False,
    ) -> Response:
        """Write the valid inputs; unique conflicts become errors (A11), whole 400 untraced."""
        portal, object_type = request.state.portal, request.state.object_type
        atomic = any(trace is None for trace, _ in writes)
        outcomes = self.ctx.store.crm_write(
            portal, object_type, [w for _, w in writes], self.ctx.now_ms(), atomic
        )
        results: list[dict] = []
        for (trace, write), outcome in zip(writes, outcomes, strict=True):
            if outcome.status == "conflict":
                assert outcome.conflict is not None
                errors.append(_conflict(outcome.conflict, object_type, trace))
            elif outcome.row is not None:
                echo = {*write.properties, "hs_timestamp"}  # set, or defaulted (note 4.2)
                result = self.ctx.object_json(object_type, outcome.row, echo, trace)
                if upsert:
                    result["new"] = outcome.status == "created"
                results.append(result)
        if atomic and errors:
            raise BadRequest(errors[0]["message"], errors[0]["errors"])
        request.state.created = sum(o.status == "created" for o in outcomes)
        return self.ctx.batch_response(results, errors, started, ok_status)

    def _unique_property(self, request: Request, name: Any) -> str:
        """An idProperty must name a unique-value property of the type (note 2, 3.6)."""
        unique = self.ctx.unique_names(request.state.portal, request.state.object_type)
        if not isinstance(name, str) or name not in unique:
            raise BadRequest(
                f"idProperty {name!r} is not a unique-value property of "
                f"{request.state.object_type}; use one with hasUniqueValue true"
            )
        return name

    def _resolve(self, request: Request, ids: list[str], id_property: str | None) -> dict:
        """Stored rows by input id: object ids, or values of id_property."""
        portal, object_type = request.state.portal, request.state.object_type
        if id_property is not None:
            return self.ctx.store.crm_by_unique(portal, object_type, id_property, ids)
        numeric = [int(i) for i in ids if i.isdigit()]
        rows = self.ctx.store.crm_get(portal, object_type, numeric)
        return {i: rows[int(i)] for i in ids if i.isdigit() and int(i) in rows}

    async def update(self, request: Request) -> Response:
        """POST .../batch/update by id (v1 ids included, A1) or idProperty; 200 or 207."""
        started = utc_now_iso()
        body, _ = await read_json(request)
        inputs = batch_inputs(body)
        traces = _trace_ids(inputs)
        errors: list[dict] = []
        writes: list[tuple[str | None, Write]] = []
        for i, item in enumerate(inputs):
            trace = traces[i] if traces else None
            problems = self._check(request, item, creating=False)
            if not problems and not isinstance(item.get("id"), str):
                problems = [{"message": "each input needs its id as a string"}]
            if problems and traces is None:
                raise BadRequest(_not_valid(problems), problems)
            if problems:
                errors.append(
                    standard_error(
                        "VALIDATION_ERROR", _not_valid(problems), _trace(trace), problems
                    )
                )
                continue
            id_property = item.get("idProperty")
            if id_property is not None:
                id_property = self._unique_property(request, id_property)
            row = self._resolve(request, [item["id"]], id_property).get(item["id"])
            if row is None:
                errors.append(_not_found(request.state.object_type, [item["id"]]))  # A14
                continue
            writes.append((trace, Write(dict(item["properties"]), object_id=row["id"])))
        return self._store(request, writes, errors, started, 200)

    async def upsert(self, request: Request) -> Response:
        """POST .../batch/upsert by a unique idProperty; no associations (note 2)."""
        started = utc_now_iso()
        body, _ = await read_json(request)
        inputs = batch_inputs(body)
        traces = _trace_ids(inputs)
        errors: list[dict] = []
        writes: list[tuple[str | None, Write]] = []
        for i, item in enumerate(inputs):
            trace = traces[i] if traces else None
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise BadRequest("each upsert input needs id (the idProperty value) as a string")
            if "associations" in item:
                raise BadRequest("upsert inputs take no associations (id, idProperty, properties)")
            name = self._unique_property(request, item.get("idProperty"))
            row = self._resolve(request, [item["id"]], name).get(item["id"])
            problems = self._check(request, item, creating=row is None, associations=False)
            if problems and traces is None:
                raise BadRequest(_not_valid(problems), problems)
            if problems:
                errors.append(
                    standard_error(
                        "VALIDATION_ERROR", _not_valid(problems), _trace(trace), problems
                    )
                )
                continue
            props = {**item["properties"], name: item["id"]}
            writes.append((trace, Write(props, object_id=None if row is None else row["id"])))
        return self._store(request, writes, errors, started, 200, upsert=True)

    async def read(self, request: Request) -> Response:
        """POST .../batch/read by id or idProperty (read-your-writes, A15); 200 or 207 (A14)."""
        started = utc_now_iso()
        body, _ = await read_json(request)
        inputs = batch_inputs(body)
        for key in ("properties", "propertiesWithHistory"):  # required, note 2
            if not isinstance(body.get(key), list):
                raise BadRequest(f"{key} is required: a list of property names (may be empty)")
        if not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in inputs):
            raise BadRequest('each input must be {"id": "<id or idProperty value>"}')
        ids: list[str] = [i["id"] for i in inputs]
        id_property = body.get("idProperty")
        if id_property is not None:
            id_property = self._unique_property(request, id_property)
        found = self._resolve(request, ids, id_property)
        names = {str(n) for n in body["properties"]}
        history = {str(n) for n in body["propertiesWithHistory"]}
        results = []
        for row in {r["id"]: r for r in found.values()}.values():
            result = self.ctx.object_json(request.state.object_type, row, names, None)
            if history:
                result["propertiesWithHistory"] = _history(request.state.object_type, row, history)
            results.append(result)
        missing = [i for i in ids if i not in found]
        errors = [_not_found(request.state.object_type, [i]) for i in dict.fromkeys(missing)]
        return self.ctx.batch_response(results, errors, started, 200)


def _history(object_type: str, row: dict, names: set[str]) -> dict[str, list[dict[str, str]]]:
    """The current value of each requested property as its only history entry."""
    when = iso_ms(row["last_updated"])
    return {
        n: [{"value": v, "timestamp": when, "sourceType": "API"}]
        for n, v in properties_of(object_type, row).items()
        if n in names
    }
