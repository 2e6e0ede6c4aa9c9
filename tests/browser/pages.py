#!/usr/bin/env python3
"""The hosted pages in a real Chromium: the scenarios of a person using them, with axe-core
checking every page the browser shows and a screenshot of each distinct one.

Run by services/user-service/tests/api/browser.rs against the real application (and the mail
service sending to the SMTP capture server); the contract it tests is the markup convention of
the pages (data-page, data-state, form ids and field names, field errors).

    pages.py --base-url http://localhost:PORT --maildir DIR --report-dir DIR --axe axe.min.js \
        --return-to-origin http://127.0.0.1:PORT2

Each argument also has an environment variable (see `parse_args`). CHROMIUM and CHROMEDRIVER
name the browser and its driver (default: Debian's /usr/bin/chromium and /usr/bin/chromedriver).
Writes index.md and the screenshots into the report directory; exits 1 when a scenario failed
or axe found a violation on any page, with both listed on stderr.
"""

import argparse
import base64
import email
import email.policy
import hashlib
import hmac
import html
import http.server
import os
import re
import secrets
import shutil
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# selenium would otherwise try to download a browser or driver it cannot find.
os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
    "--lang=en-US",
]


class ScenarioFailed(AssertionError):
    pass


class Mismatch:
    """Checks that record a departure from the contract and let the scenario go on (so that one
    run shows every one); each still fails the run."""

    def __init__(self, suite):
        self.suite = suite

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if isinstance(error, ScenarioFailed):
            self.suite.report.mismatches.append((self.suite.scenario, str(error)))
            print(f"    MISMATCH: {error}", file=sys.stderr, flush=True)
            return True
        return False


def check(condition, message):
    if not condition:
        raise ScenarioFailed(message)


def new_password():
    """A password our policy accepts: 15+ characters, random, unrelated to the address."""
    return f"Quartz-lantern-{secrets.token_hex(6)}"


def unique_email(tag):
    return f"browser-{tag}-{secrets.token_hex(8)}@example.com"


# ------------------------------------------------------------------------------ TOTP (RFC 6238)
def totp(secret_b32, counter, digits=6):
    secret = re.sub(r"\s+", "", secret_b32).upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


class Authenticator:
    """An authenticator app: a code of the current 30 s step, never one it already gave (a
    server refuses a code used twice), and not in the last seconds of its step."""

    def __init__(self, secret):
        self.secret = secret
        self.last = -1

    def code(self):
        while True:
            now = time.time()
            counter = int(now // 30)
            if counter > self.last and now - counter * 30 < 27:
                self.last = counter
                return totp(self.secret, counter)
            time.sleep(0.5)


# ------------------------------------------------------------------------------------ mailbox
class Mailbox:
    """The SMTP capture server's Maildir: each message a file in new/."""

    def __init__(self, maildir):
        self.new = Path(maildir) / "new"
        self.seen = {}

    def messages_for(self, recipient):
        found = []
        if not self.new.is_dir():
            return found
        for path in self.new.iterdir():
            try:
                raw = path.read_bytes()
                mtime = path.stat().st_mtime
            except OSError:
                continue
            message = email.message_from_bytes(raw, policy=email.policy.default)
            to = message.get("To")
            addresses = getattr(to, "addresses", ()) if to is not None else ()
            if any(a.addr_spec.lower() == recipient.lower() for a in addresses):
                found.append((mtime, path.name, message))
        found.sort(key=lambda m: (m[0], m[1]))
        return [m[2] for m in found]

    def next_link(self, recipient, path, timeout=30):
        """The link to `path` in the text part of the next message for `recipient`."""
        want = self.seen.get(recipient, 0) + 1
        deadline = time.time() + timeout
        while True:
            messages = self.messages_for(recipient)
            if len(messages) >= want:
                break
            check(time.time() < deadline, f"no email number {want} for {recipient} within {timeout}s")
            time.sleep(0.2)
        self.seen[recipient] = want
        message = messages[want - 1]
        text = message.get_body(preferencelist=("plain",))
        check(text is not None, f"the email to {recipient} has no text part")
        links = re.findall(r"https?://[^\s<>\"']+", text.get_content())
        matching = [link for link in links if urllib.parse.urlsplit(link).path == path]
        check(matching, f"no link to {path} in the email to {recipient}: {links}")
        return matching[0]


# ---------------------------------------------------------------------------- small servers
class Site:
    """Another origin's pages, served by http.server on 127.0.0.1 in a thread."""

    def __init__(self, port, pages):
        site_pages = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = site_pages.get(urllib.parse.urlsplit(self.path).path)
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def plain_page(title, body, head=""):
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head}'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        f"{body}</main></body></html>"
    )


# ------------------------------------------------------------------------------------- report
class Report:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.visits = []
        self.shots = {}
        self.scenarios = []
        self.mismatches = []
        self.about = {}

    def shot_name(self, page, state, lang):
        name = page + (f"--{state}" if state else "") + (f"--{lang}" if lang and lang != "en" else "")
        return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"

    def write(self):
        lines = ["# Hosted pages in Chromium: axe-core and screenshots", ""]
        lines += [f"{name}: {value}" + "  " for name, value in self.about.items()] + [""]
        failed = [s for s in self.scenarios if s[1] != "passed"]
        violations = sum(len(v["violations"]) for v in self.visits)
        lines += [
            f"{len(self.scenarios) - len(failed)} of {len(self.scenarios)} scenarios passed; "
            f"{len(self.visits)} page views checked with axe-core, {violations} violations.",
            "",
            "## Scenarios",
            "",
            "| scenario | result |",
            "|---|---|",
        ]
        for name, result in self.scenarios:
            lines.append(f"| {name} | {result.splitlines()[0] if result else ''} |")
        if self.mismatches:
            lines += ["", "## Departures from the contract (the scenarios went on)", ""]
            lines += [f"- {name}: {what}" for name, what in self.mismatches]
        lines += [
            "",
            "## Pages",
            "",
            "| # | scenario | browser | path | HTTP | data-page | data-state | lang | axe | screenshot |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i, v in enumerate(self.visits, 1):
            axe = "0 violations" if not v["violations"] else ", ".join(x["id"] for x in v["violations"])
            shot = f"[{v['shot']}]({v['shot']})" if v["shot"] else ""
            lines.append(
                f"| {i} | {v['scenario']} | {v['browser']} | `{v['path']}` | {v['status']} | "
                f"{v['page']} | {v['state'] or ''} | {v['lang']} | {axe} | {shot} |"
            )
        if violations:
            lines += ["", "## axe-core violations", ""]
            for v in self.visits:
                for x in v["violations"]:
                    lines.append(f"- `{v['path']}` ({v['page']}): **{x['id']}** ({x['impact']}) {x['help']}")
                    for node in x["nodes"]:
                        lines.append(f"  - `{node}`")
        (self.dir / "index.md").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------ browser
class Browser:
    def __init__(self, suite, name):
        self.suite = suite
        self.name = name
        self.profile = tempfile.mkdtemp(prefix="pages-profile-")
        options = webdriver.ChromeOptions()
        options.binary_location = suite.chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
        self.driver = webdriver.Chrome(service=Service(suite.chromedriver), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(60)
        about = suite.report.about
        about.setdefault("Browser", f"{self.driver.capabilities.get('browserName')} {self.driver.capabilities.get('browserVersion')}")
        about.setdefault("axe-core", self.driver.execute_script(suite.axe_source + "\n;return axe.version;"))
        self.page = None
        self.state = None

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- navigation
    def open(self, path_or_url):
        url = path_or_url if "://" in path_or_url else self.suite.base + path_or_url
        self.driver.get(url)
        return self.loaded()

    def submit(self, form_id, **fields):
        """Fills the form's fields (hidden ones too) and clicks its submit button."""
        form = self.form(form_id)
        for name, value in fields.items():
            self.fill(form, name, value)
        return self.click(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    def submit_form(self, form):
        """Submits a form found otherwise than by id (e.g. one of several of a class)."""
        return self.click(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    def click(self, element):
        """Clicks and waits for the next document: the old one carries a mark the next lacks."""
        mark = secrets.token_hex(8)
        self.driver.execute_script("window.__pagesTestMark = arguments[0];", mark)
        element.click()

        def next_document(driver):
            try:
                return driver.execute_script(
                    "return window.__pagesTestMark !== arguments[0] && document.readyState === 'complete';",
                    mark,
                )
            except WebDriverException:  # the old document going away under the script
                return False

        WebDriverWait(self.driver, 30).until(next_document)
        return self.loaded()

    def form(self, form_id):
        forms = self.driver.find_elements(By.CSS_SELECTOR, f"form#{form_id}")
        check(forms, f"no form#{form_id} on {self.where()}")
        form = forms[0]
        check(form.get_attribute("method").lower() == "post", f"form#{form_id} is not method=post")
        check(
            form.find_elements(By.CSS_SELECTOR, "input[type=hidden][name=csrf_token]"),
            f"form#{form_id} has no hidden csrf_token",
        )
        check(
            len(form.find_elements(By.CSS_SELECTOR, "button[type=submit]")) == 1,
            f"form#{form_id} does not have exactly one submit button",
        )
        return form

    def fill(self, form, name, value):
        inputs = form.find_elements(By.CSS_SELECTOR, f"[name='{name}']")
        check(inputs, f"form#{form.get_attribute('id')} has no field {name} on {self.where()}")
        element = inputs[0]
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif element.get_attribute("type") == "hidden":
            self.driver.execute_script("arguments[0].value = arguments[1];", element, value)
        else:
            check(
                self.driver.find_elements(By.CSS_SELECTOR, f"label[for='{element.get_attribute('id')}']"),
                f"field {name} has no <label for=...>",
            )
            if not element.is_displayed():
                # Behind a disclosure (<details>): opened as a person would, by its summary.
                summary = self.driver.execute_script(
                    "const d = arguments[0].closest('details'); return d && d.querySelector('summary');", element
                )
                check(summary is not None, f"field {name} is hidden on {self.where()}")
                summary.click()
            element.clear()
            element.send_keys(value)

    def loaded(self):
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        if self.origin() != self.suite.base:
            self.page, self.state = None, None
            return self
        mains = self.driver.find_elements(By.CSS_SELECTOR, "main[data-page]")
        self.page = mains[0].get_attribute("data-page") if mains else None
        statuses = self.driver.find_elements(By.CSS_SELECTOR, "#status[data-state]")
        self.state = statuses[0].get_attribute("data-state") if statuses else None
        self.suite.inspect(self)
        check(self.page, f"no main[data-page] at {self.where()}")
        return self

    # -- reading
    def url(self):
        return self.driver.current_url

    def origin(self):
        parts = urllib.parse.urlsplit(self.url())
        return f"{parts.scheme}://{parts.netloc}"

    def path(self):
        return urllib.parse.urlsplit(self.url()).path

    def query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.url()).query)

    def status(self):
        """The HTTP status of the document's (final) response."""
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n ? n.responseStatus : null;"
        )

    def lang(self):
        return self.driver.find_element(By.TAG_NAME, "html").get_attribute("lang")

    def where(self):
        return f"{self.url()} (data-page={self.page}, data-state={self.state})"

    def one(self, css):
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        check(found, f"nothing matches {css} on {self.where()}")
        return found[0]

    def text(self, css):
        return self.one(css).text.strip()

    def expect(self, page, state=None, status=None):
        check(self.page == page, f"expected data-page={page}, got {self.where()}")
        if state is not None:
            check(self.state == state, f"expected data-state={state}, got {self.where()}")
            role = self.one("#status").get_attribute("role")
            check(role in ("status", "alert"), f"#status has role={role!r}, not status or alert")
        if status is not None:
            got = self.status()
            check(got == status, f"expected HTTP {status}, got {got} at {self.where()}")
        return self

    def cookie(self, name):
        return self.driver.get_cookie(name)


# -------------------------------------------------------------------------------------- suite
class Suite:
    def __init__(self, args):
        self.base = args.base_url.rstrip("/")
        self.mail = Mailbox(args.maildir)
        self.report = Report(args.report_dir)
        self.report.about["Service"] = args.base_url
        self.axe_source = Path(args.axe).read_text()
        self.chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        self.chromedriver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
        self.return_to_origin = args.return_to_origin
        self.browsers = []
        self.scenario = None
        self.mismatch = Mismatch(self)

    def browser(self, name):
        b = Browser(self, name)
        self.browsers.append(b)
        return b

    def close(self):
        for b in self.browsers:
            try:
                b.close()
            except Exception:  # noqa: BLE001 (closing is best effort)
                pass
        self.browsers = []

    def inspect(self, browser):
        """axe-core on the page the browser shows; a screenshot of each distinct page."""
        driver = browser.driver
        driver.execute_script(self.axe_source)
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, { resultTypes: ['violations'] })"
            "  .then(r => done({ passes: r.passes.length, violations: r.violations.map(v => ({"
            "    id: v.id, impact: v.impact, help: v.help,"
            "    nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary) })) }))"
            "  .catch(e => done({ error: String(e) }));"
        )
        check("error" not in result, f"axe-core failed on {browser.where()}: {result.get('error')}")
        check(result["passes"] > 0, f"axe-core checked nothing on {browser.where()}")
        lang = browser.lang()
        name = self.report.shot_name(browser.page or "no-page", browser.state, lang)
        shot = None
        if name not in self.report.shots:
            self.report.shots[name] = True
            self.screenshot(driver, self.report.dir / name)
            shot = name
        parts = urllib.parse.urlsplit(browser.url())
        path = parts.path + (f"?{re.sub(r'token=[^&]+', 'token=…', parts.query)}" if parts.query else "")
        self.report.visits.append(
            {
                "scenario": self.scenario,
                "browser": browser.name,
                "path": path,
                "status": browser.status(),
                "page": browser.page,
                "state": browser.state,
                "lang": lang,
                "violations": result["violations"],
                "shot": shot,
            }
        )
        for v in result["violations"]:
            print(f"axe: {path} ({browser.page}): {v['id']} ({v['impact']}) {v['help']}", file=sys.stderr)
            for node in v["nodes"]:
                print(f"      {node}", file=sys.stderr)

    @staticmethod
    def screenshot(driver, path):
        try:
            shot = driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
            )
            path.write_bytes(base64.b64decode(shot["data"]))
        except Exception:  # noqa: BLE001 (the viewport is enough when CDP refuses)
            driver.save_screenshot(str(path))

    def run(self, scenarios):
        for scenario in scenarios:
            name = scenario.__name__.replace("_", " ")
            self.scenario = name
            print(f"--- {name}", flush=True)
            started = time.time()
            try:
                scenario(self)
                self.report.scenarios.append((name, "passed"))
                print(f"    passed in {time.time() - started:.1f}s", flush=True)
            except Exception as e:  # noqa: BLE001 (every scenario runs; each failure reported)
                detail = f"FAILED: {e}"
                self.report.scenarios.append((name, detail))
                print(f"    {detail}", file=sys.stderr, flush=True)
                if isinstance(e, ScenarioFailed):
                    for frame in traceback.extract_tb(e.__traceback__)[1:]:
                        if frame.filename == __file__ and frame.name != "check":
                            print(f"    line {frame.lineno} in {frame.name}: {frame.line}", file=sys.stderr)
                else:
                    traceback.print_exc(file=sys.stderr)
                for b in self.browsers:
                    try:
                        failed = re.sub(r"[^A-Za-z0-9]+", "-", name) + f"--{b.name}.png"
                        b.driver.save_screenshot(str(self.report.dir / f"FAILED-{failed}"))
                        main = b.driver.find_elements(By.TAG_NAME, "main")
                        print(f"    {b.name} at {b.url()}:", file=sys.stderr)
                        if main:
                            print("      " + main[0].text.replace("\n", "\n      "), file=sys.stderr)
                    except Exception:  # noqa: BLE001
                        pass
            finally:
                self.close()
        self.report.write()
        failed = [s for s in self.report.scenarios if s[1] != "passed"]
        violations = [(v["path"], x["id"]) for v in self.report.visits for x in v["violations"]]
        mismatches = self.report.mismatches
        print(
            f"{len(self.report.scenarios) - len(failed)} passed, {len(failed)} failed "
            f"({len(self.report.visits)} page views, {len(violations)} axe violations, "
            f"{len(mismatches)} other departures from the contract); "
            f"report: {self.report.dir / 'index.md'}",
            flush=True,
        )
        for name, result in failed:
            print(f"scenario {name}: {result}", file=sys.stderr)
        for path, rule in violations:
            print(f"axe violation on {path}: {rule}", file=sys.stderr)
        for name, what in mismatches:
            print(f"scenario {name}: departure from the contract: {what}", file=sys.stderr)
        return not failed and not violations and not mismatches

    # -- steps shared by scenarios
    def sign_up(self, browser, email_address, password, name="Ada Lovelace"):
        browser.open("/signup").expect("signup", status=200)
        browser.submit("signup-form", email=email_address, display_name=name, password=password)
        browser.expect("signup-done", "pending_verification")

    def verify(self, browser, email_address, link=None):
        link = link or self.mail.next_link(email_address, "/verify-email")
        check(link.startswith(self.base + "/"), f"the verification link {link} is not on {self.base}")
        check("lang" in urllib.parse.parse_qs(urllib.parse.urlsplit(link).query), f"no lang in {link}")
        browser.open(link).expect("verify-email", status=200)
        browser.submit("verify-form").expect("verify-email", "verified")
        check(
            urllib.parse.urlsplit(browser.one("a#login-link").get_attribute("href")).path == "/login",
            "a#login-link does not lead to /login",
        )
        return link

    def log_in(self, browser, email_address, password, return_to=None):
        browser.open("/login" + (f"?return_to={urllib.parse.quote(return_to, safe='')}" if return_to else ""))
        browser.expect("login", status=200)
        return browser.submit("login-form", email=email_address, password=password)

    def log_out(self, browser):
        browser.open("/logout").expect("logout", status=200)
        browser.submit("logout-form").expect("login")
        check(browser.cookie("__Host-session") is None, "the session cookie is still set after logout")


# ---------------------------------------------------------------------------------- scenarios
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
