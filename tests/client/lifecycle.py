#!/usr/bin/env python3
"""Generates Python clients from the published OpenAPI documents with openapi-python-client
(pinned in scripts/requirements-client.txt) and drives the whole public account lifecycle and
an admin flow through them, against a running user-service.

Every request to the service goes through the generated clients; the emailed tokens are read
from the SMTP capture server's Maildir, and TOTP codes are computed here (RFC 6238). Run by
services/user-service/tests/api/generated_client.rs, which starts the service and the mail
service and fetches the two documents:

    lifecycle.py --public-doc P --admin-doc A --base URL --admin-base URL --admin-token T \
        --maildir DIR --work DIR
"""

import argparse
import email
import email.policy
import importlib
import pathlib
import subprocess
import sys
import time
import uuid

import pyotp

PASSWORD = "correct horse battery staple"


def generate(doc: pathlib.Path, work: pathlib.Path, package: str) -> None:
    """`openapi-python-client generate` into work/<package>; fails on a generator warning, as
    a warning means a piece of the document did not make it into the client."""
    config = work / f"{package}.yaml"
    # No post hooks: formatting the generated code (ruff) changes nothing a test needs.
    config.write_text(f"post_hooks: []\npackage_name_override: {package}\n")
    generator = pathlib.Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [str(generator), "generate", "--path", str(doc), "--output-path", str(work / package),
         "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, check=False,
    )
    print(f"generated {package} from {doc.name}", flush=True)
    # The forward-auth check is one operation documented under every method with one id: the
    # client gets it once (its GET), the generator says so. Any other warning fails.
    warnings = (run.stdout + run.stderr).split("WARNING parsing ")[1:]
    other = [w for w in warnings if not w.split(" within ")[0].endswith(" /v1/auth/check")]
    if run.returncode != 0 or other:
        sys.exit(f"openapi-python-client could not generate all of {doc.name}:\n{run.stdout}\n{run.stderr}")


class Mailbox:
    """The Maildir of the SMTP capture server: the newest token sent to an address."""

    def __init__(self, maildir: str):
        self.new = pathlib.Path(maildir) / "new"
        self.seen: set[str] = set()

    def token_for(self, address: str, wait: float = 20.0) -> str:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for path in sorted(self.new.glob("*")) if self.new.is_dir() else []:
                if path.name in self.seen:
                    continue
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address.lower() not in str(message.get("To", "")).lower():
                    continue
                self.seen.add(path.name)
                text = message.get_body(preferencelist=("plain",)).get_content()
                for line in text.splitlines():
                    if line.strip().startswith("Token: "):
                        return line.strip().removeprefix("Token: ").strip()
            time.sleep(0.1)
        sys.exit(f"no email with a token reached {address}")


class Totp:
    """Current codes of a secret, never one of a time step already used (the server refuses
    a replayed step)."""

    def __init__(self, secret: str):
        self.totp = pyotp.TOTP(secret)
        self.used: set[int] = set()

    def code(self) -> str:
        while (step := int(time.time()) // 30) in self.used:
            time.sleep(0.5)
        self.used.add(step)
        return self.totp.at(step * 30)


def expect(response, status: int, what: str):
    """The parsed body of a generated client's `sync_detailed` answer, if it has `status`."""
    print(f"- {what}: {response.status_code}", flush=True)
    if response.status_code != status:
        sys.exit(f"{what}: expected {status}, got {response.status_code}: {response.content!r}")
    return response.parsed


def public_lifecycle(base: str, mailbox: Mailbox) -> None:
    c = importlib.import_module("user_platform_client")
    m = importlib.import_module("user_platform_client.models")
    from user_platform_client.api.email_verifications import confirm_email
    from user_platform_client.api.mfa import confirm_totp, enrol
    from user_platform_client.api.sessions import list_, login, login_mfa, logout
    from user_platform_client.api.users import change_password, delete_me, me, register, update_me

    anonymous = c.Client(base_url=base, raise_on_unexpected_status=True)
    address = f"client-{uuid.uuid4().hex}@example.com"
    print(f"public lifecycle of {address}", flush=True)

    accepted = expect(register.sync_detailed(client=anonymous, body=m.RegisterBody(
        email=address, password=PASSWORD, display_name="Ada", locale="en")), 202, "signup")
    assert accepted.status == "pending_verification", accepted
    verified = expect(confirm_email.sync_detailed(client=anonymous, body=m.EmailConfirmBody(
        token=mailbox.token_for(address))), 200, "confirm email")
    assert verified.email_verified and verified.email == address, verified

    session = expect(login.sync_detailed(client=anonymous, body=m.LoginBody(
        email=address, password=PASSWORD)), 201, "login")
    assert isinstance(session, m.NewSession), session
    user = c.AuthenticatedClient(base_url=base, token=session.token, raise_on_unexpected_status=True)
    profile = expect(me.sync_detailed(client=user), 200, "me")
    assert profile.email == address and profile.display_name == "Ada", profile

    updated = expect(update_me.sync_detailed(client=user, body=m.PatchBody(
        display_name="Ada Lovelace", locale="fr")), 200, "profile")
    assert updated.display_name == "Ada Lovelace", updated

    new_address = f"client-{uuid.uuid4().hex}@example.com"
    change = expect(update_me.sync_detailed(client=user, body=m.PatchBody(
        email=new_address, current_password=PASSWORD)), 200, "email change")
    assert change.email == address and change.email_change.new_email == new_address, change
    expect(confirm_email.sync_detailed(client=anonymous, body=m.EmailConfirmBody(
        token=mailbox.token_for(new_address))), 200, "confirm new email")
    # Confirming the change ends the account's sessions: log in again, with the new address.
    expect(me.sync_detailed(client=user), 401, "me with the session of before the change")
    session = expect(login.sync_detailed(client=anonymous, body=m.LoginBody(
        email=new_address, password=PASSWORD)), 201, "login with the new address")
    user = c.AuthenticatedClient(base_url=base, token=session.token, raise_on_unexpected_status=True)
    assert expect(me.sync_detailed(client=user), 200, "me").email == new_address

    new_password = "a completely different passphrase"
    expect(change_password.sync_detailed(client=user, body=m.ChangePasswordBody(
        current_password=PASSWORD, new_password=new_password)), 204, "password change")

    enrolment = expect(enrol.sync_detailed(client=user, body=m.EnrolBody(password=new_password)),
                       201, "two-factor enrol")
    totp = Totp(enrolment.secret)
    codes = expect(confirm_totp.sync_detailed(client=user, body=m.TotpConfirmBody(
        code=totp.code())), 200, "two-factor confirm")
    assert len(codes.recovery_codes) == 10, codes
    expect(logout.sync_detailed(client=user), 204, "logout")

    challenge = expect(login.sync_detailed(client=anonymous, body=m.LoginBody(
        email=new_address, password=new_password)), 200, "login (password step)")
    assert isinstance(challenge, m.MfaRequired), challenge
    session = expect(login_mfa.sync_detailed(client=anonymous, body={
        "challenge": challenge.challenge, "code": totp.code()}), 201, "login (two-factor step)")
    user = c.AuthenticatedClient(base_url=base, token=session.token, raise_on_unexpected_status=True)
    assert expect(me.sync_detailed(client=user), 200, "me").mfa_enabled is True
    sessions = expect(list_.sync_detailed(client=user), 200, "sessions")
    assert len(sessions.sessions) == 1, sessions

    expect(delete_me.sync_detailed(client=user, body=m.DeleteBody(
        password=new_password, totp_code=totp.code())), 204, "delete account")
    expect(me.sync_detailed(client=user), 401, "me after deletion")
    print("public lifecycle: ok", flush=True)


def admin_flow(admin_base: str, admin_token: str, base: str, mailbox: Mailbox) -> None:
    a = importlib.import_module("user_platform_admin_client")
    m = importlib.import_module("user_platform_admin_client.models")
    from user_platform_admin_client.api.sessions import list_sessions, revoke_all
    from user_platform_admin_client.api.users import delete, disable, enable, get, invite, list_, update
    c = importlib.import_module("user_platform_client")
    pm = importlib.import_module("user_platform_client.models")
    from user_platform_client.api.email_verifications import confirm_email
    from user_platform_client.api.sessions import login
    from user_platform_client.api.users import register

    admin = a.AuthenticatedClient(base_url=admin_base, token=admin_token, raise_on_unexpected_status=True)
    print("admin flow", flush=True)
    invited = f"client-{uuid.uuid4().hex}@example.com"
    expect(invite.sync_detailed(client=admin, body=m.InviteBody(
        email=invited, display_name="Grace")), 201, "invite")

    # A user with a session, through the public client.
    anonymous = c.Client(base_url=base, raise_on_unexpected_status=True)
    address = f"client-{uuid.uuid4().hex}@example.com"
    expect(register.sync_detailed(client=anonymous, body=pm.RegisterBody(
        email=address, password=PASSWORD)), 202, "signup")
    expect(confirm_email.sync_detailed(client=anonymous, body=pm.EmailConfirmBody(
        token=mailbox.token_for(address))), 200, "confirm email")
    expect(login.sync_detailed(client=anonymous, body=pm.LoginBody(
        email=address, password=PASSWORD)), 201, "login")

    found = expect(list_.sync_detailed(client=admin, email_prefix=address), 200, "find by address")
    assert [u.email for u in found.users] == [address], found
    user_id = found.users[0].id
    got = expect(get.sync_detailed(client=admin, id=user_id), 200, "get")
    assert got.email_verified and got.active_sessions == 1, got
    patched = expect(update.sync_detailed(client=admin, id=user_id, body=m.AdminPatch(
        display_name="Renamed")), 200, "update")
    assert patched.display_name == "Renamed", patched
    sessions = expect(list_sessions.sync_detailed(client=admin, id=user_id), 200, "sessions")
    assert len(sessions.sessions) == 1, sessions
    expect(revoke_all.sync_detailed(client=admin, id=user_id), 200, "end sessions")
    expect(disable.sync_detailed(client=admin, id=user_id), 200, "disable")
    expect(login.sync_detailed(client=anonymous, body=pm.LoginBody(
        email=address, password=PASSWORD)), 403, "login while disabled")
    expect(enable.sync_detailed(client=admin, id=user_id), 200, "enable")
    expect(login.sync_detailed(client=anonymous, body=pm.LoginBody(
        email=address, password=PASSWORD)), 201, "login again")
    expect(delete.sync_detailed(client=admin, id=user_id), 204, "delete")
    expect(get.sync_detailed(client=admin, id=user_id), 404, "get after deletion")
    print("admin flow: ok", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for arg in ("--public-doc", "--admin-doc", "--base", "--admin-base", "--admin-token",
                "--maildir", "--work"):
        parser.add_argument(arg, required=True)
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    generate(pathlib.Path(args.public_doc), work, "user_platform_client")
    generate(pathlib.Path(args.admin_doc), work, "user_platform_admin_client")
    sys.path.insert(0, str(work))
    mailbox = Mailbox(args.maildir)
    public_lifecycle(args.base, mailbox)
    admin_flow(args.admin_base, args.admin_token, args.base, mailbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
