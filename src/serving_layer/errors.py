"""The error hierarchy, each error carrying its HTTP status and RFC 9457 problem type.

Every failure a client can cause is one of these, raised with a message that says what was
wrong and what would be right; the handlers turn them into `application/problem+json`. Anything
else is an internal error, answered as a generic 500 without its text.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://serving-layer.dev/problems/"


class ServingError(Exception):
    """Base of every error the API answers with a problem document."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def problem(self, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        body.update(self.extensions)
        return body


class BadRequestError(ServingError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class UnknownEndpointError(ServingError):
    status = 404
    slug = "unknown-endpoint"
    title = "Unknown endpoint"


class UnknownFieldError(BadRequestError):
    slug = "unknown-field"
    title = "Unknown field"


class InvalidRangeError(BadRequestError):
    slug = "invalid-range"
    title = "Invalid date range"


class InvalidScopeError(BadRequestError):
    slug = "invalid-scope"
    title = "Invalid scope"


class InvalidPolicyError(BadRequestError):
    slug = "invalid-policy"
    title = "Invalid policy"


class ValidationFailedError(BadRequestError):
    slug = "validation-failed"
    title = "Validation failed"


class UnauthorizedError(ServingError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class ForbiddenError(ServingError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFoundError(ServingError):
    status = 404
    slug = "not-found"
    title = "Not found"


class ConflictError(ServingError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class EngineFailedError(ServingError):
    status = 502
    slug = "engine-failed"
    title = "The query engine failed"


class EngineTimeoutError(ServingError):
    status = 504
    slug = "engine-timeout"
    title = "The query took too long"


class EngineUnavailableError(ServingError):
    status = 503
    slug = "engine-unavailable"
    title = "The query engine is unavailable"


class PolicyStoreError(ServingError):
    """The store of client records could not be read or written; the authorizer then denies."""

    status = 503
    slug = "policy-store-unavailable"
    title = "The policy store is unavailable"


class NoSuchClientError(NotFoundError):
    slug = "no-such-client"
    title = "No such client"


class PayloadTooLargeError(ServingError):
    status = 413
    slug = "payload-too-large"
    title = "Request too large"


class NotGrantedError(ForbiddenError):
    slug = "not-granted"
    title = "Operation not granted"


class OutsideScopeError(ForbiddenError):
    slug = "outside-scope"
    title = "Rows outside the scope"


class RowsExistError(ConflictError):
    slug = "rows-exist"
    title = "Rows already exist"


class RequestInProgressError(ConflictError):
    slug = "request-in-progress"
    title = "A request with this idempotency key is in progress"


class IdempotencyKeyReusedError(ServingError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused with another request"


class WriteFailedError(ServingError):
    """The table could not be changed (storage failure, or other writers kept committing first)."""

    status = 503
    slug = "write-failed"
    title = "The table could not be written"
