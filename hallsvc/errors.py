"""Errors a caller can act on: an HTTP status, a stable machine code, the
field at fault if any, and a message for people. Raised by services, turned
into JSON by the HTTP face (never a 500 for a caller's mistake)."""

from __future__ import annotations


class HallError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def bad_request(code: str, message: str, field: str | None = None) -> HallError:
    return HallError(400, code, message, field)


def not_found(code: str, message: str, field: str | None = None) -> HallError:
    return HallError(404, code, message, field)


def conflict(code: str, message: str, field: str | None = None) -> HallError:
    return HallError(409, code, message, field)


class Unavailable(HallError):
    """An outside system (PostgreSQL, Redis, the broker) does not answer."""

    def __init__(self, system: str, message: str) -> None:
        super().__init__(503, "unavailable", message)
        self.system = system
