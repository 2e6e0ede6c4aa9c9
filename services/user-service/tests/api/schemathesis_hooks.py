"""Schemathesis hooks of tests/api/openapi.rs and admin_openapi.rs (loaded through
SCHEMATHESIS_HOOKS by `run_schemathesis`).

`positive_data_acceptance` judges by status only, and a few operations must allow a 400 or a
422 for schema-valid data (schemathesis.toml and schemathesis-admin.toml say why). A status
cannot tell a business outcome from a body the server could not read: the email confirmation
documented with the TOTP confirmation's body got a 400 `invalid_body` for every request
schemathesis sent, and passed, since an unknown token is a 400 too. This check reads the
problem document's `code`: a request generated as valid by the schema may only be refused
with the codes listed here for its operation and status, and never as an unreadable body.
"""

import schemathesis

# The server could not read the request: never an answer to schema-valid data.
UNREADABLE = {"invalid_body", "malformed_json", "invalid_query", "unsupported_media_type", "payload_too_large"}

# What the password policy refuses and no schema can state (`NewPasswordRefused` in the docs).
PASSWORD_POLICY = {"password_too_common", "password_too_predictable", "password_contains_email", "password_breached"}

# Per operation, the problem codes (400) and field codes (422, `errors[].code`) that a
# schema-valid request may get, by design.
# A passkey answer (a ceremony and a credential): only the server knows which ceremonies are
# live, and a credential's bytes are the authenticator's, so only decoding them tells a WebAuthn
# credential from any object.
PASSKEY_ANSWER = {400: {"invalid_passkey_ceremony"}, 422: {"invalid_credential"}}

BUSINESS_OUTCOMES = {
    # Only the server knows which emailed tokens are live.
    "POST /v1/email-verifications/confirm": {400: {"invalid_token"}},
    "POST /v1/password-resets/confirm": {400: {"invalid_token"}, 422: PASSWORD_POLICY},
    # `format: email` allows addresses the address rules refuse (quoted local parts, IP
    # literals...); and the new password's policy.
    "POST /v1/users": {422: PASSWORD_POLICY | {"invalid_email"}},
    # The owner's sensitive changes take a passkey answer as their step-up (`passkey`).
    "PUT /v1/users/me/password": {400: PASSKEY_ANSWER[400], 422: PASSWORD_POLICY | PASSKEY_ANSWER[422]},
    "PATCH /v1/users/me": PASSKEY_ANSWER,
    "DELETE /v1/users/me": PASSKEY_ANSWER,
    "POST /v1/users/me/passkeys/options": PASSKEY_ANSWER,
    "POST /v1/users/me/passkeys": PASSKEY_ANSWER,
    "POST /v1/sessions/passkey": PASSKEY_ANSWER,
    "POST /v1/sessions/mfa/passkey": PASSKEY_ANSWER,
    "POST /v1/sessions/passkey/options": {422: {"invalid_email"}},
    # The cursor is opaque, and `date-time` allows instants RFC 3339 does not: `invalid_query`
    # is the documented answer there.
    "GET /admin/v1/users": {400: {"invalid_query"}},
    "POST /admin/v1/users": {422: {"invalid_email"}},
}


def _problem(response):
    try:
        body = response.json()
    except Exception:
        return None
    return body if isinstance(body, dict) else None


@schemathesis.check
def positive_data_refused_only_by_design(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in (401, 403, 404, 409, 429):
        # Not a refusal of the request's shape: credentials, a missing resource, a conflict,
        # a limit (the defaults of positive_data_acceptance).
        return None
    label = f"{case.method.upper()} {case.operation.path}"
    problem = _problem(response) or {}
    code = problem.get("code")
    allowed = BUSINESS_OUTCOMES.get(label, {}).get(status, set())
    if status == 422 and code == "validation_failed":
        fields = {e.get("code") for e in problem.get("errors") or []}
        unexpected = sorted(str(f) for f in fields - allowed)
        if fields and not unexpected:
            return None
        raise AssertionError(
            f"Schema-valid data refused: {status} validation_failed with field codes "
            f"{unexpected or '(none)'} that the schema should have ruled out; by design only "
            f"{sorted(allowed) or 'none'}. Detail: {problem.get('detail')}"
        )
    if code in allowed:
        return None
    reason = "the server could not read it" if code in UNREADABLE else "not a documented business outcome"
    raise AssertionError(
        f"Schema-valid data refused: {status} `{code}` ({reason}); by design only "
        f"{sorted(allowed) or 'none'} at {status}. Detail: {problem.get('detail')}"
    )
