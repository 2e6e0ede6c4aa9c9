"""The browser tests' harness: the report (index.md, screenshots, axe-core results), a
Chromium driven by selenium, and the suite that runs the scenarios (see pages.py)."""

import base64
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

# selenium would otherwise try to download a browser or driver it cannot find.
os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from support import CHROMIUM_FLAGS, Mailbox, Mismatch, ScenarioFailed, check  # noqa: E402


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
