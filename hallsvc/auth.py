"""Who may do what. No secret is stored in clear.

- People (clerk, window lead, manager) have a scrypt password hash in the hall
  file. They log in and get a random bearer token; only its sha256 is kept
  (PostgreSQL, so a restart does not log the hall out).
- Devices (kiosk, SMS gateway) carry a long random API key; the hall file
  keeps its sha256. A fast hash is right for a 256-bit random key and keeps
  the kiosk's hot path cheap; a slow hash is right for a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from hallsvc.config import Role

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return (f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}$"
            f"{b64(salt).decode()}${b64(digest).decode()}")


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.urlsafe_b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.urlsafe_b64decode(salt),
                             n=int(n), r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hash_api_key(key: str) -> str:
    return "sha256$" + hashlib.sha256(key.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Right(StrEnum):
    ISSUE_TICKET = "issue_ticket"
    SMS_INBOUND = "sms_inbound"
    WINDOW_VERBS = "window_verbs"  # call-next, recall, skip, finish, transfer, pause, resume
    RESTORE = "restore"
    READ_QUEUE = "read_queue"
    READ_HALL = "read_hall"
    READ_CASES = "read_cases"  # cases, their documents (C7)
    CASE_WORK = "case_work"  # accept and advance cases (C1, C3, C3a, C6)
    EXTEND_CASE = "extend_case"  # C4: an authorised person extends a limit
    READ_REPORTS = "read_reports"  # C9


RIGHTS: dict[Role, frozenset[Right]] = {
    Role.KIOSK: frozenset({Right.ISSUE_TICKET, Right.READ_QUEUE}),
    Role.SMS_GATEWAY: frozenset({Right.SMS_INBOUND}),
    Role.CLERK: frozenset({Right.WINDOW_VERBS, Right.RESTORE, Right.READ_QUEUE,
                           Right.READ_CASES, Right.CASE_WORK}),
    Role.LEAD: frozenset({Right.RESTORE, Right.READ_QUEUE, Right.READ_HALL, Right.READ_CASES,
                          Right.CASE_WORK, Right.EXTEND_CASE, Right.READ_REPORTS}),
    Role.MANAGER: frozenset({Right.RESTORE, Right.READ_QUEUE, Right.READ_HALL, Right.READ_CASES,
                             Right.EXTEND_CASE, Right.READ_REPORTS}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: Role
    window: str | None = None  # the window a clerk is logged in to

    def may(self, right: Right) -> bool:
        return right in RIGHTS[self.role]


# Verified against when the user is unknown, so a login takes as long either way.
DUMMY_HASH = hash_password("not a password", salt=b"hallsvc-dummy-salt")
