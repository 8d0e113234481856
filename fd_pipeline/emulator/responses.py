"""What every emulator endpoint answers with: Freshdesk's JSON encoding and error bodies."""

from __future__ import annotations

import json

from starlette.responses import Response


class ApiError(Exception):
    """A Freshdesk error answer: status, description and the `errors` list."""

    def __init__(self, status: int, description: str, errors: list[dict]) -> None:
        super().__init__(description)
        self.status, self.description, self.errors = status, description, errors


def invalid(field: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, "Validation failed", [{"field": field, "message": message, "code": code}])


def not_found() -> ApiError:
    return ApiError(404, "Resource not found",
                    [{"message": "The requested resource does not exist.", "code": "not_found"}])


def dumps(data) -> bytes:
    """UTF-8 JSON like Freshdesk's; a lone surrogate forces the escaped form (`\\ud800`)."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class JsonResponse(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content) -> bytes:
        return dumps(content)


def error_response(e: ApiError) -> JsonResponse:
    return JsonResponse({"description": e.description, "errors": e.errors}, status_code=e.status)
