"""The built site, opened page by page in headless Chromium with the network unavailable.

Run after `make book` (the Makefile's `test` target builds first). Needs Debian's chromium and
chromium-driver: `make test` installs them, and this test fails (never skips) without them.
"""
import html.parser
import os
import pathlib
import re
import shutil
import urllib.parse

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
PAGES = sorted(p for p in SITE.rglob("*.html")
               if not {"_static", "_sources", "_images"} & set(p.relative_to(SITE).parts)
               and p.name not in {"genindex.html", "search.html"})
CONTENT_PAGES = [p for p in PAGES if p.name != "index.html"]
IDS = [str(p.relative_to(SITE)) for p in CONTENT_PAGES]


def test_site_was_built():
    assert (SITE / "index.html").exists(), "run `make book` first"
    assert CONTENT_PAGES, "the site has no pages"


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name) and tag in {"a", "img", "script", "link", "source"}:
                self.refs.append((tag, name, attrs[name]))


def parse(path):
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("page", CONTENT_PAGES, ids=IDS)
def test_internal_links_resolve_and_nothing_loads_from_the_network(page):
    parsed = parse(page)
    for tag, attr, ref in parsed.refs:
        url = urllib.parse.urlparse(ref)
        if url.scheme in {"http", "https"} or ref.startswith("//"):
            assert tag == "a", f"{page.name}: <{tag} {attr}={ref}> would load from the network"
            continue
        if url.scheme in {"mailto", "data", "javascript"}:
            continue
        target = (page.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page
        assert target.exists(), f"{page.name}: broken link {ref}"
        if url.fragment and target.suffix == ".html":
            assert url.fragment in parse(target).ids, f"{page.name}: missing anchor {ref}"


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("Chromium/ChromeDriver missing: run `make browser` "
                    "(or apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,2400",
                 # No network even outside a network namespace: every host fails to resolve
                 # and every proxied request goes to a closed port.
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup) { done('no-mathjax'); return; }
MathJax.startup.promise.then(() => done('ok')).catch(e => done('error: ' + e));
"""

PAGE_REPORT = """
return {
  typeset: document.querySelectorAll('mjx-container').length,
  errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent),
  // prose only: code cells and their outputs may legitimately show TeX (matplotlib labels)
  raw: (() => { const m = (document.querySelector('main') || document.body).cloneNode(true);
                m.querySelectorAll('pre, code, .highlight, .cell_output').forEach(e => e.remove());
                return m.innerText; })(),
  images: Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
};
"""


# Console errors the themes log on every page opened from file:// (no storage, no Thebe server).
HARMLESS = ("'THEBE_JS_URL' has already been declared", "Got invalid theme mode")


def has_math(page):
    text = page.read_text(encoding="utf-8")
    return 'class="math' in text or "\\(" in text


@pytest.mark.parametrize("page", CONTENT_PAGES, ids=IDS)
def test_page_renders_offline(browser, page):
    browser.get(page.as_uri())
    status = browser.execute_async_script(WAIT_FOR_MATHJAX)
    report = browser.execute_script(PAGE_REPORT)
    if has_math(page):
        assert status == "ok", f"MathJax did not start: {status}"
        assert report["typeset"] > 0, "the page has math but none was typeset"
    assert not report["errors"], f"MathJax errors: {report['errors'][:3]}"
    leftovers = re.findall(r"\\\(|\\\[|\$\$|\\frac|\\log", report["raw"])
    assert not leftovers, f"raw TeX left in the rendered text: {leftovers[:5]}"
    broken = [src for src, ok in report["images"] if not ok]
    assert not broken, f"images that did not load: {broken}"
    failures = [e["message"] for e in browser.get_log("browser")
                if e["level"] == "SEVERE" and not any(h in e["message"] for h in HARMLESS)]
    assert not failures, f"browser errors: {failures[:3]}"


def test_browser_is_really_offline(browser):
    """The check above means something only if the network is unreachable from the browser."""
    try:
        browser.get("https://www.example.com/")
    except WebDriverException as err:
        assert "net::ERR_" in err.msg
    else:
        assert "example domain" not in browser.page_source.lower()
    print("network isolation:", os.environ.get("XENT_NETWORK", "chromium flags only"))
