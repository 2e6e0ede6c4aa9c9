"""Passkeys on the hosted pages, with selenium's virtual authenticator in Chromium: a platform
authenticator (CTAP2, internal transport) with resident keys and user verification, whose user
always consents and is always verified. The scenarios are in pages.py's SCENARIOS.

Adding a passkey on /account (the page passkey-enrol and its button), signing in with it on
/login (the button with or without the address typed, and autofill), a browser without it, a
removed one, the second step of a two-factor login, and a copy of the credential whose signature
counter went back.

Autofill (conditional mediation): passkeys.js asks for a passkey as soon as /login loads; a
person picks it from the address field's suggestions, but the virtual authenticator answers such
a request at once. So every /login would sign in (or, with a refused passkey, be refused, shown
again and asked again, without end) before a test could press anything. The browsers here
therefore tell the script that autofill is not available (a script run before the page's own,
`passkey_browser`), as a browser without it would; `autofill_sign_in` lets one /login use it.
"""

import base64
import time
import urllib.parse

from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import (
    Credential,
    Protocol,
    Transport,
    VirtualAuthenticatorOptions,
)
from selenium.webdriver.support.ui import WebDriverWait

from support import Authenticator, check, new_password, unique_email

# The relying party id: the host of the service's PUBLIC_URL (http://localhost:PORT).
RP_ID = "localhost"

NO_AUTOFILL = (
    "if (window.PublicKeyCredential) {"
    "  PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); };"
    "}"
)

# The subjects of the notices the mail service sends (services/mail-service/templates).
ADDED_SUBJECT = "A passkey was added to your account"
REMOVED_SUBJECT = "A passkey was removed from your account"


# ------------------------------------------------------------------------------------ helpers
def passkey_browser(suite, name):
    """A browser with its own virtual authenticator (no credential yet), autofill off."""
    browser = suite.browser(name)
    browser.driver.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            protocol=Protocol.CTAP2,
            transport=Transport.INTERNAL,
            has_resident_key=True,
            has_user_verification=True,
            is_user_consenting=True,
            is_user_verified=True,
        )
    )
    browser.no_autofill = browser.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": NO_AUTOFILL}
    )["identifier"]
    return browser


def credentials(browser):
    return browser.driver.get_credentials()


def only_credential(browser):
    found = credentials(browser)
    check(len(found) == 1, f"{browser.name}: the authenticator holds {len(found)} credentials, not 1")
    return found[0]


def passkey_id(credential):
    """The credential id as the account page shows it: base64url without padding."""
    return credential.id.rstrip("=")


def signed_up_and_in(suite, browser, tag, name):
    """A verified account, signed in with its password on /account."""
    email_address, password = unique_email(tag), new_password()
    suite.sign_up(browser, email_address, password, name=name)
    suite.verify(browser, email_address)
    suite.log_in(browser, email_address, password).expect("account", status=200)
    return email_address, password


def passkey_rows(browser):
    return browser.driver.find_elements(By.CSS_SELECTOR, "table#passkeys tr[data-passkey-id]")


def add_passkey(suite, browser, email_address, password, name, totp_code=None):
    """/account → passkey-add-form → passkey-enrol → "Create passkey" → back on /account with
    the new row; the authenticator holds the credential, the owner gets a notice."""
    browser.open("/account").expect("account", status=200)
    before = len(credentials(browser))
    fields = {"name": name, "password": password}
    if totp_code is not None:
        fields["totp_code"] = totp_code
    browser.submit("passkey-add-form", **fields).expect("passkey-enrol", status=200)
    button = browser.one("form#passkey-create-form button[type=submit]")
    check(button.is_displayed(), "passkey-create-form is still hidden: passkeys.js found no WebAuthn")
    check(
        not browser.one("[data-needs-passkey-support]").is_displayed(),
        "the page says this browser cannot create passkeys",
    )
    browser.submit("passkey-create-form").expect("account", "passkey_added", status=200)
    found = credentials(browser)
    check(len(found) == before + 1, f"the authenticator holds {len(found)} credentials after adding one")
    credential = found[-1]
    check(credential.rp_id == RP_ID, f"the credential is for rp_id={credential.rp_id!r}, not {RP_ID!r}")
    check(credential.is_resident_credential, "the passkey is not a discoverable (resident) credential")
    check(credential.user_handle, "the passkey has no user handle")
    rows = [r for r in passkey_rows(browser) if r.get_attribute("data-passkey-id") == passkey_id(credential)]
    check(rows, f"table#passkeys has no row data-passkey-id={passkey_id(credential)}")
    check(rows[0].text.startswith(name), f"the new passkey's row reads {rows[0].text!r}, not {name!r} first")
    check(not browser.driver.find_elements(By.CSS_SELECTOR, "#no-passkeys"), "#no-passkeys with a passkey")
    notice(suite, email_address, ADDED_SUBJECT, name)
    return credential


def notice(suite, email_address, subject, text, timeout=30):
    """A notice to `email_address` with this subject whose text part names `text`."""
    deadline = time.time() + timeout
    while True:
        for message in suite.mail.messages_for(email_address):
            body = message.get_body(preferencelist=("plain",))
            if message.get("Subject") == subject and body is not None and text in body.get_content():
                return message
        check(time.time() < deadline, f"no email {subject!r} naming {text!r} to {email_address} within {timeout}s")
        time.sleep(0.2)


def sign_in_with_passkey(browser, email_address=None):
    """/login, the address typed first (or nothing), then "Sign in with a passkey"."""
    browser.open("/login").expect("login", status=200)
    button = browser.one("form#passkey-login-form button[type=submit]")
    check(button.is_displayed(), "the passkey button on /login is hidden: passkeys.js found no WebAuthn")
    if email_address:
        browser.fill(browser.one("form#login-form"), "email", email_address)
    return browser.submit("passkey-login-form")


def signed_in_on_account(browser, how):
    browser.expect("account", status=200)
    check(browser.path() == "/account", f"{how} lands on {browser.url()}, not /account")
    check(browser.cookie("__Host-session") is not None, f"no __Host-session cookie after {how}")
    return browser


def refused(browser, how, code="passkey_rejected", status=403):
    """Back on /login with the problem's code, no session."""
    browser.expect("login", code, status=status)
    check(browser.path().startswith("/login"), f"{how}: the refusal is shown at {browser.url()}")
    check(browser.cookie("__Host-session") is None, f"{how}: a session cookie although refused")
    return browser


def autofill_sign_in(browser):
    """/login with autofill on: the script's conditional request, which the virtual
    authenticator answers at once (a person would pick the passkey under the address field),
    signs in and the browser goes on to /account by itself."""
    browser.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": browser.no_autofill})
    try:
        browser.driver.get(browser.suite.base + "/login")
        WebDriverWait(browser.driver, 30).until(
            lambda d: urllib.parse.urlsplit(d.current_url).path != "/login"
            and d.execute_script("return document.readyState") == "complete"
        )
        return browser.loaded()
    finally:
        browser.no_autofill = browser.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": NO_AUTOFILL}
        )["identifier"]


def copy_of(credential, sign_count):
    """The same key pair and user handle, as another authenticator would hold a clone."""
    return Credential.create_resident_credential(
        base64.urlsafe_b64decode(credential.id),
        credential.rp_id,
        base64.urlsafe_b64decode(credential.user_handle),
        base64.urlsafe_b64decode(credential.private_key),
        sign_count,
    )


def enrol_two_factor(browser, password):
    """Two-factor login on, as on /account (the flow of pages.py's scenarios); its app."""
    browser.open("/account").expect("account")
    browser.submit("mfa-enrol-form", password=password).expect("mfa-enrol")
    authenticator = Authenticator(browser.text("code#mfa-secret"))
    browser.submit("mfa-confirm-form", code=authenticator.code()).expect("mfa-recovery-codes")
    browser.open("/account").expect("account")
    browser.one("form#mfa-disable-form")
    return authenticator


# ---------------------------------------------------------------------------------- scenarios
def passkey_added_on_the_account_page_signs_in(suite):
    browser = passkey_browser(suite, "passkey")
    email_address, password = signed_up_and_in(suite, browser, "ada-passkey", "Ada Passkey")
    browser.one("#no-passkeys")
    credential = add_passkey(suite, browser, email_address, password, "Work laptop")
    row = browser.one(f"table#passkeys tr[data-passkey-id='{passkey_id(credential)}']")
    check(not row.find_elements(By.CSS_SELECTOR, "td:nth-child(3) time"), "a passkey not yet used has a last use")

    # The button, nothing typed: any discoverable passkey of this site; the account is the
    # passkey's (its user handle).
    suite.log_out(browser)
    signed_in_on_account(sign_in_with_passkey(browser), "the passkey button")
    row = browser.one(f"table#passkeys tr[data-passkey-id='{passkey_id(credential)}']")
    check(row.find_elements(By.CSS_SELECTOR, "td:nth-child(3) time"), "the passkey's last use is not shown")

    # The address first: only that account's passkeys are asked for.
    suite.log_out(browser)
    signed_in_on_account(sign_in_with_passkey(browser, email_address), "the address, then the passkey button")

    # Autofill: /login asks for a passkey by itself.
    suite.log_out(browser)
    signed_in_on_account(autofill_sign_in(browser), "autofill on /login")
    check(credentials(browser)[0].sign_count > credential.sign_count, "the signature counter did not move")


def a_browser_without_the_passkey_is_refused(suite):
    first = passkey_browser(suite, "first")
    email_address, password = signed_up_and_in(suite, first, "alan-passkey", "Alan Passkey")
    add_passkey(suite, first, email_address, password, "Phone")

    # Its own authenticator, empty: the browser finds no passkey (NotAllowedError), the
    # server is told so and refuses; the page says it, no session.
    other = passkey_browser(suite, "other")
    refused(sign_in_with_passkey(other), "the passkey button in a browser without the passkey")
    refused(sign_in_with_passkey(other, email_address), "the address, then the passkey button, without it")
    check(not credentials(other), "the other browser's authenticator got a credential")
    # The password still works there.
    other.submit("login-form", email=email_address, password=password)
    signed_in_on_account(other, "the password after a refused passkey")


def a_removed_passkey_no_longer_signs_in(suite):
    browser = passkey_browser(suite, "passkey")
    email_address, password = signed_up_and_in(suite, browser, "hedy-passkey", "Hedy Passkey")
    credential = add_passkey(suite, browser, email_address, password, "Security key")
    other = suite.browser("other")
    suite.log_in(other, email_address, password).expect("account")

    # Removed by its row's form: every other session ends, this one stays.
    browser.open("/account").expect("account")
    rows = passkey_rows(browser)
    check(len(rows) == 1, f"{len(rows)} passkeys listed, not 1")
    browser.submit_form(rows[0].find_element(By.CSS_SELECTOR, "form.revoke-form"))
    browser.expect("account", "passkey_removed", status=200)
    check(not passkey_rows(browser), "the removed passkey is still listed")
    browser.one("#no-passkeys")
    notice(suite, email_address, REMOVED_SUBJECT, "Security key")
    other.open("/account").expect("login")

    # The credential is still in the authenticator, but the service no longer knows it.
    suite.log_out(browser)
    check(passkey_id(only_credential(browser)) == passkey_id(credential), "the authenticator lost the credential")
    refused(sign_in_with_passkey(browser), "the passkey button after the passkey was removed")
    refused(sign_in_with_passkey(browser, email_address), "the address, then the removed passkey")


def two_factor_account_uses_a_passkey_as_the_second_step(suite):
    browser = passkey_browser(suite, "two-factor")
    email_address, password = signed_up_and_in(suite, browser, "kat-passkey", "Katherine Passkey")
    app = enrol_two_factor(browser, password)

    # With two-factor login on, adding a passkey takes a code too.
    browser.form("passkey-add-form")
    check(
        browser.driver.find_elements(By.CSS_SELECTOR, "form#passkey-add-form [name=totp_code]"),
        "passkey-add-form has no totp_code field with two-factor login on",
    )
    add_passkey(suite, browser, email_address, password, "Tablet", totp_code=app.code())

    # The password, then the passkey instead of a code.
    suite.log_out(browser)
    suite.log_in(browser, email_address, password).expect("login-mfa", status=200)
    check(browser.cookie("__Host-session") is None, "a session cookie before the second step")
    button = browser.one("form#passkey-mfa-form button[type=submit]")
    check(button.is_displayed(), "the passkey button on /login/mfa is hidden")
    browser.submit("passkey-mfa-form")
    signed_in_on_account(browser, '"Use a passkey instead" on /login/mfa')

    # A passkey (user verification required) is both factors: the button on /login alone.
    suite.log_out(browser)
    signed_in_on_account(sign_in_with_passkey(browser), "the passkey button of a two-factor account")


def a_cloned_passkey_with_an_older_counter_is_refused(suite):
    original = passkey_browser(suite, "original")
    email_address, password = signed_up_and_in(suite, original, "joan-passkey", "Joan Passkey")
    add_passkey(suite, original, email_address, password, "Laptop")
    enrolled = only_credential(original)  # its private key, user handle and signature counter

    # The original is used twice: the service stores the counter of each sign-in.
    for _ in range(2):
        suite.log_out(original)
        signed_in_on_account(sign_in_with_passkey(original), "the original passkey")
    used = only_credential(original)
    check(used.sign_count >= enrolled.sign_count + 2, f"counter {enrolled.sign_count} → {used.sign_count}")

    # A copy with the counter of the enrolment, in another browser: its next signature counts
    # less than the service last saw, as a cloned authenticator's would.
    clone = passkey_browser(suite, "clone")
    clone.driver.add_credential(copy_of(enrolled, enrolled.sign_count))
    check(passkey_id(only_credential(clone)) == passkey_id(enrolled), "the copy has another credential id")
    refused(sign_in_with_passkey(clone), "the copy with an older counter")
    refused(sign_in_with_passkey(clone, email_address), "the address, then the copy with an older counter")

    # The control: the same copy with its counter ahead of the service's is accepted (counters
    # are all a service can tell a clone by), so the refusals above were the counter's.
    clone.driver.remove_all_credentials()
    clone.driver.add_credential(copy_of(enrolled, used.sign_count + 10))
    signed_in_on_account(sign_in_with_passkey(clone), "the copy with its counter ahead")
    # Now the original is the one behind.
    suite.log_out(original)
    refused(sign_in_with_passkey(original), "the original, its counter now behind the copy's")


SCENARIOS = [
    passkey_added_on_the_account_page_signs_in,
    a_browser_without_the_passkey_is_refused,
    a_removed_passkey_no_longer_signs_in,
    two_factor_account_uses_a_passkey_as_the_second_step,
    a_cloned_passkey_with_an_older_counter_is_refused,
]
