#!/usr/bin/env python3
"""The hosted pages in a real Chromium: the scenarios of a person using them, with axe-core
checking every page the browser shows and a screenshot of each distinct one.

Run by services/user-service/tests/api/browser.rs against the real application (and the mail
service sending to the SMTP capture server); the contract it tests is the markup convention of
the pages (data-page, data-state, form ids and field names, field errors).
The passkey scenarios are in passkeys.py.

    pages.py --base-url http://localhost:PORT --maildir DIR --report-dir DIR --axe axe.min.js \
        --return-to-origin http://127.0.0.1:PORT2

Each argument also has an environment variable (see `parse_args`). CHROMIUM and CHROMEDRIVER
name the browser and its driver (default: Debian's /usr/bin/chromium and /usr/bin/chromedriver).
Writes index.md and the screenshots into the report directory; exits 1 when a scenario failed
or axe found a violation on any page, with both listed on stderr.
"""


import argparse
import html
import os
import sys
import urllib.request

# selenium would otherwise try to download a browser or driver it cannot find.
os.environ.setdefault("SE_OFFLINE", "true")

from selenium.webdriver.common.by import By  # noqa: E402

from support import Authenticator, Site, check, new_password, plain_page, unique_email  # noqa: E402
from harness import Suite  # noqa: E402
import passkeys  # noqa: E402


def security_headers(suite):
    """Every page response carries the contract's headers; the stylesheet is served."""
    for path in ["/signup", "/login", "/forgot-password", "/logout"]:
        with urllib.request.urlopen(suite.base + path) as response:
            headers = response.headers
            csp = headers.get("Content-Security-Policy", "")
            for directive in [
                "default-src 'none'",
                "style-src 'self'",
                "frame-ancestors 'none'",
                "base-uri 'none'",
                "form-action 'self'",
            ]:
                check(directive in csp, f"{path}: CSP lacks {directive!r}: {csp!r}")
            check(headers.get("Referrer-Policy") == "no-referrer", f"{path}: Referrer-Policy")
            check("no-store" in headers.get("Cache-Control", ""), f"{path}: Cache-Control")
            check(headers.get("X-Content-Type-Options") == "nosniff", f"{path}: X-Content-Type-Options")
            check(headers.get_content_type() == "text/html", f"{path}: {headers.get('Content-Type')}")
    with urllib.request.urlopen(suite.base + "/assets/pages.css") as response:
        check(response.headers.get_content_type() == "text/css", "/assets/pages.css is not text/css")


def sign_up_verify_sessions_password_change_two_factor_logout(suite):
    email_address = unique_email("ada")
    password = new_password()
    first = suite.browser("first")
    suite.sign_up(first, email_address, password)

    # The verification link, in German first (its GET changes nothing), then as sent.
    link = suite.mail.next_link(email_address, "/verify-email")
    parts = urllib.parse.urlsplit(link)
    query = urllib.parse.parse_qs(parts.query)
    check(query.get("token") and query.get("lang"), f"the link {link} lacks token or lang")
    query["lang"] = ["de"]
    german = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))
    first.open(german).expect("verify-email", status=200)
    check(first.lang() == "de", f'the link with lang=de renders <html lang="{first.lang()}">')
    suite.verify(first, email_address, link)
    check(first.lang() == "en", f'the link as sent renders <html lang="{first.lang()}">')
    first.click(first.one("a#login-link")).expect("login")

    # A used link: invalid_token, and the resend form.
    first.open(link).expect("verify-email")
    if first.state != "invalid_token":
        first.submit("verify-form")
    first.expect("verify-email", "invalid_token")
    first.submit("resend-form", email=email_address).expect("verify-email", "link_sent")

    # Logged in twice, in two separate browsers.
    suite.log_in(first, email_address, password).expect("account", status=200)
    check(first.path() == "/account", f"login lands on {first.url()}, not /account")
    session = first.cookie("__Host-session")
    check(session is not None, "no __Host-session cookie after login")
    check(session.get("httpOnly") and session.get("secure"), f"session cookie flags: {session}")
    check(session.get("sameSite") == "Lax" and session.get("path") == "/", f"session cookie: {session}")
    check(first.cookie("__Host-csrf") is not None, "no __Host-csrf cookie")
    second = suite.browser("second")
    suite.log_in(second, email_address, password).expect("account")

    def sessions(browser):
        browser.open("/account").expect("account", status=200)
        rows = browser.driver.find_elements(By.CSS_SELECTOR, "table#sessions tr[data-session-id]")
        current = [r.get_attribute("data-session-id") for r in rows if r.get_attribute("data-current") == "true"]
        check(len(rows) == 2, f"{browser.name}: /account lists {len(rows)} sessions, not 2")
        check(len(current) == 1, f"{browser.name}: {len(current)} sessions marked current")
        for row in rows:
            # Every other session can be signed out; the current one ends by logging out.
            has_form = bool(row.find_elements(By.CSS_SELECTOR, "form.revoke-form"))
            with suite.mismatch:
                check(
                    has_form == (row.get_attribute("data-current") == "false"),
                    f"{browser.name}: the session row data-current={row.get_attribute('data-current')} "
                    f"{'has' if has_form else 'has no'} form.revoke-form",
                )
        return current[0], {r.get_attribute("data-session-id") for r in rows}

    first_current, first_ids = sessions(first)
    second_current, second_ids = sessions(second)
    check(first_ids == second_ids, "the two browsers list different sessions")
    check(first_current != second_current, "both browsers mark the same session as current")

    # A password change in the first browser ends the second one's session.
    changed = new_password()
    first.submit("password-form", current_password=password, new_password=changed)
    first.expect("account", "password_changed")
    password = changed
    second.open("/account")
    check(second.path() == "/login", f"the other browser's /account shows {second.where()}, not /login")
    second.expect("login")
    first.open("/account")
    if first.path() == "/login":
        print("    note: the password change ended the browser's own session too", flush=True)
        first.submit("login-form", email=email_address, password=password)
    first.expect("account")

    # Two-factor: enrol on /account, log out, log in with a code.
    first.submit("mfa-enrol-form", password=password).expect("mfa-enrol")
    first.one("img#mfa-qr")
    authenticator = Authenticator(first.text("code#mfa-secret"))
    first.submit("mfa-confirm-form", code=authenticator.code()).expect("mfa-recovery-codes")
    codes = first.driver.find_elements(By.CSS_SELECTOR, "ul#recovery-codes li")
    check(len(codes) >= 5, f"{len(codes)} recovery codes listed")
    first.open("/account").expect("account")
    first.one("form#mfa-disable-form")
    check(not first.driver.find_elements(By.CSS_SELECTOR, "form#mfa-enrol-form"), "enrol form with 2FA on")
    suite.log_out(first)
    suite.log_in(first, email_address, password).expect("login-mfa")
    check(first.cookie("__Host-session") is None, "a session cookie before the second factor")
    first.submit("mfa-form", code=authenticator.code()).expect("account")
    check(first.path() == "/account", f"the second factor lands on {first.url()}")

    # Logout ends the session: /account sends the browser to the login page.
    suite.log_out(first)
    first.open("/account").expect("login")
    check(first.query().get("return_to") == ["/account"], f"/account without session: {first.url()}")


def password_reset_by_email_link(suite):
    email_address = unique_email("grace")
    browser = suite.browser("reset")
    suite.sign_up(browser, email_address, new_password(), name="Grace Hopper")
    suite.verify(browser, email_address)

    browser.open("/forgot-password").expect("forgot-password", status=200)
    browser.submit("forgot-form", email=email_address).expect("forgot-password", "link_sent")
    link = suite.mail.next_link(email_address, "/reset-password")
    check(link.startswith(suite.base + "/"), f"the reset link {link} is not on {suite.base}")
    check("lang" in urllib.parse.parse_qs(urllib.parse.urlsplit(link).query), f"no lang in {link}")
    browser.open(link).expect("reset-password", status=200)

    # Too short: the error at the field, in words, the page shown again with 422.
    browser.submit("reset-form", new_password="short-one").expect("reset-password", status=422)
    error = browser.one("form#reset-form p.field-error[data-field=new_password]")
    words = error.text.strip()
    check(len(words.split()) >= 3, f"the field error is not in words: {words!r}")
    check(error.get_attribute("data-code") == "password_too_short", f"data-code={error.get_attribute('data-code')}")
    field = browser.one("form#reset-form [name=new_password]")
    check(field.get_attribute("aria-invalid") == "true", "new_password lacks aria-invalid=true")
    described = (field.get_attribute("aria-describedby") or "").split()
    check(error.get_attribute("id") in described, f"aria-describedby={described} misses the error's id")

    password = new_password()
    browser.submit("reset-form", new_password=password).expect("reset-password", "password_reset")
    browser.click(browser.one("a#login-link")).expect("login")
    browser.submit("login-form", email=email_address, password=password).expect("account")

    # The used link: invalid_token with the form to ask for another.
    browser.open(link).expect("reset-password")
    if browser.state != "invalid_token":
        browser.submit("reset-form", new_password=new_password())
    browser.expect("reset-password", "invalid_token")
    browser.one("form#forgot-form")
    suite.log_out(browser)

    # A wrong password.
    suite.log_in(browser, email_address, password + "x").expect("login", "invalid_credentials")

    # return_to to an allowed origin: after login the browser lands there.
    landing = Site(int(urllib.parse.urlsplit(suite.return_to_origin).port), {
        "/landed": plain_page("Landed", "<p>The application this login was for.</p>"),
    })
    try:
        target = landing.origin + "/landed?from=pages"
        suite.log_in(browser, email_address, password, return_to=target)
        check(browser.url() == target, f"login with return_to={target} lands on {browser.url()}")
    finally:
        landing.close()


def every_account_form(suite):
    """The account page's other forms: profile, email change, revoking sessions, a recovery code
    at login, turning two-factor off, deleting the account."""
    email_address = unique_email("ines")
    password = new_password()
    first = suite.browser("first")
    suite.sign_up(first, email_address, password, name="Ines")
    suite.verify(first, email_address)
    suite.log_in(first, email_address, password).expect("account")

    first.submit("profile-form", display_name="Ines Mendes", locale="de").expect("account", "profile_saved")
    check(first.one("form#profile-form [name=display_name]").get_attribute("value") == "Ines Mendes",
          "the saved name is not shown")
    first.submit("profile-form", locale="en").expect("account", "profile_saved")
    first.submit("email-form", new_email=unique_email("ines-new"), current_password=password)
    first.expect("account", "email_change_pending")

    # One other session revoked by its row, then all others at once.
    second, third = suite.browser("second"), suite.browser("third")
    for other in (second, third):
        suite.log_in(other, email_address, password).expect("account")
    first.open("/account").expect("account")
    others = first.driver.find_elements(By.CSS_SELECTOR, "table#sessions tr[data-current=false] form.revoke-form")
    check(len(others) == 2, f"{len(others)} revoke forms for the 2 other sessions")
    first.submit_form(others[0]).expect("account", "session_revoked")
    rows = first.driver.find_elements(By.CSS_SELECTOR, "table#sessions tr[data-session-id]")
    check(len(rows) == 2, f"{len(rows)} sessions listed after revoking one of 3")
    first.submit("revoke-others-form").expect("account")
    rows = first.driver.find_elements(By.CSS_SELECTOR, "table#sessions tr[data-session-id]")
    check(len(rows) == 1, f"{len(rows)} sessions listed after revoking the others")
    for other in (second, third):
        other.open("/account").expect("login")

    # Two-factor on; a recovery code instead of a code at login; two-factor off.
    first.submit("mfa-enrol-form", password=password).expect("mfa-enrol")
    authenticator = Authenticator(first.text("code#mfa-secret"))
    first.submit("mfa-confirm-form", code=authenticator.code()).expect("mfa-recovery-codes")
    recovery = first.text("ul#recovery-codes li")
    suite.log_out(first)
    suite.log_in(first, email_address, password).expect("login-mfa", status=200)
    first.submit("mfa-form", recovery_code=recovery).expect("account")
    suite.log_out(first)
    suite.log_in(first, email_address, password).expect("login-mfa")
    first.submit("mfa-form", recovery_code=recovery)
    check(first.page in ("login-mfa", "login") and first.state, f"a used recovery code: {first.where()}")
    if first.page == "login":
        first.submit("login-form", email=email_address, password=password).expect("login-mfa")
    first.submit("mfa-form", code=authenticator.code()).expect("account")
    first.submit("mfa-disable-form", password=password, code=authenticator.code()).expect("account")
    first.one("form#mfa-enrol-form")

    # Deleting the account ends it: the session is gone, the password no longer logs in.
    first.submit("delete-form", password=password).expect("account-deleted")
    first.open("/account").expect("login")
    suite.log_in(first, email_address, password).expect("login", "invalid_credentials")


def csrf_token_missing_or_wrong(suite):
    browser = suite.browser("csrf")
    for change in ["arguments[0].remove();", "arguments[0].value = 'not-the-token';"]:
        browser.open("/login").expect("login")
        token = browser.one("form#login-form input[name=csrf_token]")
        browser.driver.execute_script(change, token)
        browser.fill(browser.one("form#login-form"), "email", unique_email("csrf"))
        browser.fill(browser.one("form#login-form"), "password", new_password())
        browser.click(browser.one("form#login-form button[type=submit]"))
        browser.expect("error", "csrf_failed", status=403)
    # Another form: signing up.
    browser.open("/signup").expect("signup")
    browser.driver.execute_script("arguments[0].remove();", browser.one("form#signup-form input[name=csrf_token]"))
    form = browser.one("form#signup-form")
    browser.fill(form, "email", unique_email("csrf"))
    browser.fill(form, "display_name", "Mallory")
    browser.fill(form, "password", new_password())
    browser.click(browser.one("form#signup-form button[type=submit]")).expect("error", "csrf_failed", status=403)


def forms_posted_from_another_origin(suite):
    forms = {
        "login": ("/login", '<input type="hidden" name="email" value="victim@example.com">'
                  '<input type="hidden" name="password" value="Quartz-lantern-000000">'),
        "logout": ("/logout", ""),
        "profile": ("/account/profile", '<input type="hidden" name="display_name" value="Pwned">'),
    }
    body = "".join(
        f'<form id="attack-{name}" method="post" action="{html.escape(suite.base + path)}">{fields}'
        f'<input type="hidden" name="csrf_token" value="guess"><button type="submit">Claim {name}</button></form>'
        for name, (path, fields) in forms.items()
    )
    # The same page hiding where it comes from: its POSTs carry `Origin: null`, with
    # `Sec-Fetch-Site: cross-site`.
    quiet = '<meta name="referrer" content="no-referrer">'
    attacker = Site(0, {
        "/prize": plain_page("You won a prize", body),
        "/quiet-prize": plain_page("You won a prize", body, head=quiet),
    })
    attacks = [(page, name) for page in ("/prize", "/quiet-prize") for name in forms]
    try:
        browser = suite.browser("attacker")
        browser.open("/login").expect("login")  # the browser has the service's cookies
        for page, name in attacks:
            path = forms[name][0]
            browser.open(attacker.origin + page)
            browser.click(browser.one(f"form#attack-{name} button"))
            check(browser.origin() == suite.base, f"the attack on {name} left the browser at {browser.url()}")
            with suite.mismatch:
                check(
                    browser.page == "error" and browser.state == "cross_origin" and browser.status() == 403,
                    f"POST {path} from {attacker.origin}{page}: expected 403 data-page=error "
                    f"data-state=cross_origin, got HTTP {browser.status()} at {browser.where()}",
                )
    finally:
        attacker.close()


def return_to_another_origin_is_refused(suite):
    browser = suite.browser("return-to")
    browser.open("/login?return_to=" + urllib.parse.quote("https://evil.example/", safe=""))
    browser.expect("error", "invalid_return_to", status=400)
    browser.open("/login?return_to=" + urllib.parse.quote("//evil.example/", safe=""))
    browser.expect("error", "invalid_return_to", status=400)
    browser.open("/login?lang=de").expect("login")
    check(browser.lang() == "de", f'/login?lang=de renders <html lang="{browser.lang()}">')


SCENARIOS = [
    security_headers,
    sign_up_verify_sessions_password_change_two_factor_logout,
    password_reset_by_email_link,
    every_account_form,
    csrf_token_missing_or_wrong,
    forms_posted_from_another_origin,
    return_to_another_origin_is_refused,
    # Passkeys, with selenium's virtual authenticator (passkeys.py).
    *passkeys.SCENARIOS,
]


def parse_args():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=env("BROWSER_BASE_URL"), help="env BROWSER_BASE_URL")
    parser.add_argument("--maildir", default=env("SMTP_SINK_MAILDIR"), help="env SMTP_SINK_MAILDIR")
    parser.add_argument("--report-dir", default=env("BROWSER_REPORT_DIR"), help="env BROWSER_REPORT_DIR")
    parser.add_argument("--axe", default=env("AXE_CORE_JS"), help="axe.min.js; env AXE_CORE_JS")
    parser.add_argument(
        "--return-to-origin",
        default=env("BROWSER_RETURN_TO_ORIGIN"),
        help="an origin in the service's RETURN_TO_ORIGINS, http://127.0.0.1:PORT with PORT free; "
        "env BROWSER_RETURN_TO_ORIGIN",
    )
    parser.add_argument(
        "--only", action="append", help="run only the scenario with this name; env BROWSER_ONLY (comma-separated)"
    )
    args = parser.parse_args()
    if not args.only and env("BROWSER_ONLY"):
        args.only = [name.strip() for name in env("BROWSER_ONLY").split(",")]
    missing = [a for a in ["base_url", "maildir", "report_dir", "axe", "return_to_origin"] if not getattr(args, a)]
    if missing:
        parser.error("missing: " + ", ".join("--" + m.replace("_", "-") for m in missing))
    return args


def main():
    args = parse_args()
    scenarios = [s for s in SCENARIOS if not args.only or s.__name__ in args.only]
    suite = Suite(args)
    return 0 if suite.run(scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())
