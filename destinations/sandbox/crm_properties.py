"""HubSpot properties API emulation for calls and meetings, and the daily API usage endpoint.

GET/POST /crm/properties/{version}/{calls|meetings}[/{name}] and .../groups[/{name}]
(docs/hubspot_objects.md 2, 3.6): PropertyCreate needs fieldType, groupName, label, name, type;
at most ten unique-value properties per object; an existing name answers 409
OBJECT_ALREADY_EXISTS (A10); `refuse_unique_on_activities` makes hasUniqueValue a 400 (A9).
GET /account-info/{version}/api-usage/daily/private-apps reports the token's daily usage (3.7).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .crm_http import BadRequest, CrmContext, crm_error, read_json, utc_now_iso
from .crm_schema import BUILTIN_GROUPS, MAX_UNIQUE_PROPERTIES, PROPERTY_TYPES
from .responses import bearer_token, missing_scopes

PROPERTY_REQUIRED = ("fieldType", "groupName", "label", "name", "type")  # note 3.6
GROUP_REQUIRED = ("label", "name")  # note 3.6
DEFS, GROUPS = "crm_property_defs", "crm_property_groups"


def _required(body: Any, fields: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"{what} body must be a JSON object with {', '.join(fields)}")
    missing = [f for f in fields if not isinstance(body.get(f), str) or not body[f]]
    if missing:
        raise BadRequest(f"{what} needs {', '.join(missing)} (non-empty strings)")
    return body


def _exists(what: str, name: str) -> Response:
    """A10: the sandbox's answer to creating a property or group that exists."""
    return crm_error(409, f"{what} named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")


class CrmPropertiesApi:
    """The properties, groups and API-usage routes bound to one sandbox's CrmContext."""

    def __init__(self, ctx: CrmContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[Route]:
        base = f"/crm/properties/{self.ctx.config.crm_version}/{{object_type}}"
        g = self.ctx.guarded
        return [
            Route(f"{base}/groups", g(self.groups, "schema_read"), methods=["GET"]),
            Route(f"{base}/groups", g(self.create_group, "schema_write"), methods=["POST"]),
            Route(f"{base}/groups/{{name}}", g(self.group, "schema_read"), methods=["GET"]),
            Route(base, g(self.properties, "schema_read"), methods=["GET"]),
            Route(base, g(self.create_property, "schema_write"), methods=["POST"]),
            Route(f"{base}/{{name}}", g(self.property, "schema_read"), methods=["GET"]),
            Route(
                "/account-info/{version}/api-usage/daily/private-apps",
                g(self.usage, "account"),
                methods=["GET"],
            ),
        ]

    def _groups(self, request: Request) -> list[dict[str, Any]]:
        portal, object_type = request.state.portal, request.state.object_type
        custom = self.ctx.store.crm_definitions(GROUPS, portal, object_type)
        return [{**BUILTIN_GROUPS[object_type], "archived": False}, *custom]

    async def properties(self, request: Request) -> Response:
        """GET .../{objectType}: every property, built-in and custom."""
        defs = self.ctx.definitions(request.state.portal, request.state.object_type)
        return JSONResponse({"results": list(defs.values())})

    async def property(self, request: Request) -> Response:
        """GET .../{objectType}/{propertyName}: 200 Property or 404."""
        name = request.path_params["name"]
        defs = self.ctx.definitions(request.state.portal, request.state.object_type)
        if name not in defs:
            return crm_error(404, f"Unable to find property {name!r}", "OBJECT_NOT_FOUND")
        return JSONResponse(defs[name])

    async def create_property(self, request: Request) -> Response:
        """POST .../{objectType}: 201 Property; 409 when the name exists (A10)."""
        body = _required((await read_json(request))[0], PROPERTY_REQUIRED, "PropertyCreate")
        portal, object_type = request.state.portal, request.state.object_type
        if body["type"] not in PROPERTY_TYPES:
            raise BadRequest(
                f"type must be one of {', '.join(PROPERTY_TYPES)}, got {body['type']!r}"
            )
        unique = body.get("hasUniqueValue", False)
        if not isinstance(unique, bool):
            raise BadRequest(f"hasUniqueValue must be true or false, got {unique!r}")
        defs = self.ctx.definitions(portal, object_type)
        if body["name"] in defs:
            return _exists("Property", body["name"])
        if unique and self.ctx.config.refuse_unique_on_activities:  # A9
            raise BadRequest(f"hasUniqueValue is not supported on {object_type} properties")
        if unique and len(self.ctx.unique_names(portal, object_type)) >= MAX_UNIQUE_PROPERTIES:
            raise BadRequest(f"{object_type} already has {MAX_UNIQUE_PROPERTIES} unique properties")
        now = utc_now_iso()
        definition = {
            "name": body["name"], "label": body["label"], "type": body["type"],
            "fieldType": body["fieldType"], "groupName": body["groupName"],
            "hasUniqueValue": unique, "hidden": bool(body.get("hidden", False)),
            "description": str(body.get("description", "")),
            "displayOrder": body.get("displayOrder", -1),
            "formField": bool(body.get("formField", False)), "options": body.get("options", []),
            "calculated": False, "externalOptions": False, "archived": False,
            "createdAt": now, "updatedAt": now,
            "modificationMetadata": {
                "archivable": True, "readOnlyDefinition": False, "readOnlyValue": False,
            },
        }  # fmt: skip
        if not self.ctx.store.crm_define(DEFS, portal, object_type, definition):
            return _exists("Property", body["name"])
        return JSONResponse(definition, 201)

    async def groups(self, request: Request) -> Response:
        """GET .../{objectType}/groups."""
        return JSONResponse({"results": self._groups(request)})

    async def group(self, request: Request) -> Response:
        """GET .../{objectType}/groups/{groupName}: 200 PropertyGroup or 404."""
        name = request.path_params["name"]
        for group in self._groups(request):
            if group["name"] == name:
                return JSONResponse(group)
        return crm_error(404, f"Unable to find property group {name!r}", "OBJECT_NOT_FOUND")

    async def create_group(self, request: Request) -> Response:
        """POST .../{objectType}/groups: 201 PropertyGroup; 409 when the name exists (A10)."""
        body = _required((await read_json(request))[0], GROUP_REQUIRED, "PropertyGroupCreate")
        portal, object_type = request.state.portal, request.state.object_type
        group = {
            "name": body["name"],
            "label": body["label"],
            "displayOrder": body.get("displayOrder", -1),
            "archived": False,
        }
        taken = any(g["name"] == body["name"] for g in self._groups(request))
        if taken or not self.ctx.store.crm_define(GROUPS, portal, object_type, group):
            return _exists("Property group", body["name"])
        return JSONResponse(group, 201)

    async def usage(self, request: Request) -> Response:
        """GET /account-info/{version}/api-usage/daily/private-apps (scope `oauth`, 3.7)."""
        config = self.ctx.config
        if request.path_params["version"] not in config.account_info_versions:
            return crm_error(404, f"{request.url.path} is not served", "OBJECT_NOT_FOUND")
        token = bearer_token(request.headers.get("authorization")) or ""
        if token in config.no_account_scope:
            return missing_scopes(["oauth"])
        usage = {
            "name": "private-apps-api-calls-daily",
            "usageLimit": self.ctx.limiter.daily,
            "currentUsage": self.ctx.limiter.used_today(token),
            "collectedAt": utc_now_iso(),
            "fetchStatus": "SUCCESS",
        }
        return JSONResponse({"results": [usage]})
