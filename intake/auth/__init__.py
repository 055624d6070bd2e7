"""Users, roles, API tokens, sessions and the audit log.

Roles: ``clerk`` uploads and sees their own batches; ``supervisor`` also reads every batch and the
records and reviews them (``records:review``: correct, confirm, approve, reject); ``admin`` can do
everything, and manages users and tokens (and reopens approved or rejected records).
Downstream systems use API tokens (``Authorization: Bearer ...``) that carry scopes such as
``records:read`` (``records:export``: whole templates as files; ``families:read``: records linked
into families, 家庭歸戶); a user's role implies a set of scopes (`ROLE_SCOPES`), so every endpoint asks for
a scope and works the same for a person and a token.
"""

from __future__ import annotations

SCOPES = ("batches:write", "batches:read", "batches:read_all", "records:read", "records:review", "records:export",
          "families:read", "templates:read", "admin")
TOKEN_SCOPES = ("batches:write", "batches:read", "records:read", "records:review", "records:export", "families:read",
                "templates:read")

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "clerk": frozenset({"batches:write", "batches:read", "templates:read"}),
    "supervisor": frozenset({"batches:write", "batches:read", "batches:read_all", "records:read",
                             "records:review", "records:export", "families:read", "templates:read"}),
    "admin": frozenset(SCOPES),
}
