"""The published status site in real headless Chromium (Debian's `chromium` + `chromium-driver`, driven by selenium),
served by the local host next to the app's API, with JavaScript on and off, in every locale.

An incident is opened through the admin API, the site is published, and each locale's page must show the banner,
the badges and the incident's own words; then a PATCH through the admin API, a publish and a refresh must show the new
status; each front page shows every component's 90 daily uptime bars, and their text on the history page. axe-core
(npm) finds no accessibility violation on any page at desktop and phone widths, and Atlassian's
status widget (npm @statuspage/status-widget), served from another origin, shows our api/v2/summary.json.
Screenshots go to test-output/screenshots/ (gitignored). Without Chromium the tests are skipped locally and FAIL in
CI (CI=true): `make test` installs it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from incidents.domain.policy import load_policy
from incidents.site.view import BAR_COLOURS, platform_components, translations

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDGET = ROOT / "node_modules" / "@statuspage" / "status-widget" / "dist" / "index.js"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
PREFIX = {"en": "", "fr": "fr/", "es": "es/", "sv": "sv/"}
TITLE = {"en": "Card payments are failing", "fr": "Les paiements par carte échouent",
         "es": "Los pagos con tarjeta fallan", "sv": "Kortbetalningar misslyckas"}
MESSAGE = {
    "en": "Some card payments for tournament entries fail. We are investigating.",
    "fr": "Certains paiements par carte des inscriptions aux tournois échouent. Nous enquêtons.",
    "es": "Algunos pagos con tarjeta de inscripciones a torneos fallan. Lo estamos investigando.",
    "sv": "Vissa kortbetalningar för turneringsanmälningar misslyckas. Vi undersöker saken.",
}
FOUND = {
    "en": "The payment provider's webhook was misconfigured; a fix is being deployed.",
    "fr": "Le webhook du prestataire de paiement était mal configuré. Un correctif est en cours de déploiement.",
    "es": "El webhook del proveedor de pagos estaba mal configurado. Se está desplegando una corrección.",
    "sv": "Betalleverantörens webhook var felkonfigurerad. En rättning håller på att driftsättas.",
}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def chromium_installed() -> None:
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    missing = "Debian's chromium and chromium-driver are not installed (`make test` installs them)"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{missing}; in CI the browser test must run", pytrace=False)
    pytest.skip(missing)


@contextmanager
def chromium(javascript: bool, profile: Path, width: int = 1280) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", f"--window-size={width},1400", "--lang=en-US"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def words(locale: str) -> dict[str, str]:
    """What the page must say, in its own language (from the catalogs the site is rendered with)."""
    _ = translations(locale).gettext
    severity = load_policy().severities
    return {"banner": _("Minor service outage"), "sev2": _(severity["sev2"].name),  # a Sev2 on one component
            "investigating": _("Investigating"), "identified": _("Identified"), "Payments": _("Payments")}


def open_page(driver: webdriver.Chrome, url: str | None, javascript: bool) -> None:
    """Load `url`, or reload the current page when None, and wait for the script when it runs."""
    if url:
        driver.get(url)
    else:
        driver.refresh()
    checked = driver.find_element(By.CSS_SELECTOR, '[data-f="checked"]')  # "Last checked", shown by the script
    if javascript:
        WebDriverWait(driver, 10).until(lambda _: checked.is_displayed())
    else:
        assert not checked.is_displayed()


def check_incident(driver, locale: str, incident_id: str, status: str, latest: str, javascript: bool) -> None:
    said = words(locale)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    banner = driver.find_element(By.CSS_SELECTOR, '[data-f="overall"]')
    assert banner.text == said["banner"] and "s-partial_outage" in banner.get_attribute("class")
    card = driver.find_element(By.ID, incident_id)
    assert card.find_element(By.CSS_SELECTOR, '[data-f="title"]').text == TITLE[locale]
    assert card.find_element(By.CSS_SELECTOR, '[data-f="message"]').text == latest
    severity = card.find_element(By.CSS_SELECTOR, '[data-b="severity"]')
    assert "b-sev2" in severity.get_attribute("class") and said["sev2"] in severity.text
    badge = card.find_element(By.CSS_SELECTOR, '[data-b="status"]')
    assert f"b-{status}" in badge.get_attribute("class") and said[status] in badge.text
    assert card.find_element(By.CSS_SELECTOR, '[data-f="components"]').text == said["Payments"]
    assert not driver.find_element(By.CSS_SELECTOR, '[data-f="stale"]').is_displayed()
    started = card.find_element(By.CSS_SELECTOR, 'time[data-f="started"]')
    assert bool(started.get_attribute("title")) is javascript  # the script shows local time, UTC on hover
    if locale != "en":
        assert said[status] != words("en")[status], f"{locale}: the status label is not translated"


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_the_status_page_shows_an_incident_in_every_locale_and_follows_a_change(status_site, tmp_path, javascript):
    mode = "js-on" if javascript else "js-off"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    incident = status_site.api.create(title=TITLE, public_message=MESSAGE, severity="sev2", components=["Payments"])
    status_site.publish()
    with chromium(javascript, tmp_path / "profile") as driver:
        for locale, prefix in PREFIX.items():
            open_page(driver, f"{status_site.url}/{prefix}", javascript)
            check_incident(driver, locale, incident["id"], "investigating", MESSAGE[locale], javascript)
            driver.save_screenshot(str(SCREENSHOTS / f"status-{locale}-{mode}.png"))

        changed = status_site.api.request("PATCH", f"v1/admin/incidents/{incident['id']}",
                                          json={"status": "identified", "public_message": FOUND})
        assert changed.status_code == 200, changed.text
        report = status_site.publish()
        assert "index.html" in report.uploaded and "status/en.json" in report.uploaded
        for n, (locale, prefix) in enumerate(reversed(PREFIX.items())):  # first: a refresh of the Swedish page
            open_page(driver, f"{status_site.url}/{prefix}" if n else None, javascript)
            check_incident(driver, locale, incident["id"], "identified", FOUND[locale], javascript)
            timeline = driver.find_element(By.ID, incident["id"]).find_element(By.CSS_SELECTOR, ".timeline").text
            assert FOUND[locale] in timeline and words(locale)["identified"] in timeline
            driver.save_screenshot(str(SCREENSHOTS / f"status-{locale}-{mode}-after-change.png"))


def axe_violations(driver: webdriver.Chrome) -> list[str]:
    driver.execute_script(AXE.read_text())
    found = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document).then(r => done(r.violations.map(v => v.id + ": " + v.help + " at "
            + v.nodes.map(n => n.target.join(" ")).join(", "))), e => done(["axe failed: " + e]));""")
    return found


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_axe_core_finds_no_accessibility_violation_on_any_page(status_site, tmp_path, width):
    assert AXE.is_file(), "node_modules/axe-core is missing (`make test` runs npm ci)"
    status_site.api.create(title=TITLE, public_message=MESSAGE, severity="sev2", components=["Payments"])
    done = status_site.api.create(title="Slow club reports", public_message="Reports were slow.", severity="sev3")
    changed = status_site.api.request("PATCH", f"v1/admin/incidents/{done['id']}",
                                      json={"status": "resolved", "public_message": "Reports are fast again."})
    assert changed.status_code == 200, changed.text
    status_site.publish()
    pages = [f"{prefix}{page}" for prefix in PREFIX.values() for page in ("", "history.html")]
    problems = {}
    with chromium(True, tmp_path / "profile", width) as driver:
        driver.set_script_timeout(30)
        for path in [*pages, "no-such-page"]:
            driver.get(f"{status_site.url}/{path}")
            if path != "no-such-page":  # the 404 page has no script
                WebDriverWait(driver, 10).until(
                    lambda d: d.find_element(By.CSS_SELECTOR, '[data-f="checked"]').is_displayed())
            if found := axe_violations(driver):
                problems[path or "/"] = found
    assert problems == {}


@contextmanager
def another_origin(directory: Path) -> Iterator[str]:
    """A second web server on loopback: another port is another origin for the browser."""
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_atlassians_status_widget_on_another_origin_shows_our_summary(status_site, tmp_path):
    assert WIDGET.is_file(), "node_modules/@statuspage/status-widget is missing (`make test` runs npm ci)"
    status_site.api.create(title=TITLE, public_message=MESSAGE, severity="sev2", components=["Payments"])
    status_site.publish()
    embed = tmp_path / "embed"
    embed.mkdir()
    (embed / "widget.js").write_bytes(WIDGET.read_bytes())
    (embed / "index.html").write_text(  # the embed snippet of docs/status-site.md
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site</title>'
        '<script src="widget.js"></script></head><body>'
        f'<statuspage-widget src="{status_site.url}"></statuspage-widget></body></html>')
    with another_origin(embed) as origin, chromium(True, tmp_path / "profile") as driver:
        assert origin != status_site.url
        driver.get(f"{origin}/index.html")
        shown = """const root = document.querySelector('statuspage-widget').shadowRoot;
            const text = root && root.querySelector('.status-text');
            const dot = root && root.querySelector('.status-indicator');
            return text && dot ? [text.textContent.trim(), dot.className] : null;"""
        text, indicator = WebDriverWait(driver, 10).until(lambda d: d.execute_script(shown))
        assert text == "Minor Service Outage" and "major" in indicator.split()  # a Sev2 on one component of five
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "statuspage-widget.png"))


def test_every_front_page_shows_90_daily_bars_per_component_and_their_text_without_javascript(status_site, tmp_path):
    """A Sev1 of 30 minutes on Payments: 1 - 30 / (90 × 1440) = 99.98 % over the 90 days (incidents/site/uptime.py)."""
    now = status_site.api.clock.now
    incident = status_site.api.create(title=TITLE, public_message=MESSAGE, severity="sev1", components=["Payments"],
                                      started_at=(now - timedelta(minutes=30)).isoformat())
    resolved = status_site.api.request("PATCH", f"v1/admin/incidents/{incident['id']}",
                                       json={"status": "resolved", "public_message": FOUND})
    assert resolved.status_code == 200, resolved.text
    status_site.publish()
    last_pixels = """const img = arguments[0], canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = 1;
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        const at = x => '#' + Array.from(context.getImageData(x, 0, 1, 1).data.slice(0, 3))
            .map(c => c.toString(16).padStart(2, '0')).join('');
        return [img.naturalWidth, at(img.naturalWidth - 2), at(img.naturalWidth - 1)];"""
    with chromium(False, tmp_path / "profile") as driver:
        for locale, prefix in PREFIX.items():
            _ = translations(locale).gettext
            driver.get(f"{status_site.url}/{prefix}")
            rows = driver.find_elements(By.CSS_SELECTOR, ".uptimes li")
            assert len(rows) == len(platform_components(load_policy())), locale
            payments = next(r for r in rows if r.text.startswith(_("Payments")))
            assert (_("%(percentage)s uptime") % {"percentage": ""}).strip() in payments.text
            assert ("99.98" if locale == "en" else "99,98") in payments.text, payments.text
            bars = payments.find_element(By.CSS_SELECTOR, ".bars img")
            assert bars.is_displayed() and bars.size["width"] > 600 and bars.size["height"] >= 20
            width, day_before, today = driver.execute_script(last_pixels, bars)
            assert width == 90 and BAR_COLOURS["major_outage"] in (day_before, today)  # before 00:30 UTC: both
            driver.save_screenshot(str(SCREENSHOTS / f"uptime-{locale}.png"))
            payments.find_element(By.TAG_NAME, "a").click()  # "Day by day", to the history page
            record = driver.find_element(By.ID, driver.current_url.split("#")[1])
            assert record.text == _("Payments")
            text = record.find_element(By.XPATH, "following-sibling::ul[1]").text
            assert _("%(status)s for %(duration)s") % {"status": _("Major outage"), "duration": ""} in text + " "


def test_the_maintenance_banner_shows_in_every_locale_and_axe_finds_nothing(status_site, tmp_path):
    """A window in progress on Payments (announced through the admin API) and one tomorrow on the website: every
    front page shows both in the maintenance banner, Payments as under maintenance, in its own language."""
    now = status_site.api.clock.now
    windows = [{"title": {"en": "Payments upgrade", "fr": "Mise à jour des paiements"},
                "message": "Card payments are paused during the upgrade.", "components": ["Payments"],
                "starts_at": now.isoformat(), "ends_at": (now + timedelta(minutes=30)).isoformat()},
               {"title": "Website move", "message": "The website moves to a new host.", "components": ["Website"],
                "starts_at": (now + timedelta(days=1)).isoformat(),
                "ends_at": (now + timedelta(days=1, hours=1)).isoformat()}]
    for body in windows:
        announced = status_site.api.request("POST", "v1/admin/maintenances", json=body)
        assert announced.status_code == 201, announced.text
    status_site.publish()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium(True, tmp_path / "profile") as driver:
        driver.set_script_timeout(30)
        for locale, prefix in PREFIX.items():
            _ = translations(locale).gettext
            open_page(driver, f"{status_site.url}/{prefix}", True)
            banner = driver.find_element(By.CSS_SELECTOR, '[data-f="maintenance"]')
            assert banner.is_displayed() and _("Planned maintenance") in banner.text
            cards = banner.find_elements(By.CSS_SELECTOR, "article.mnt")
            assert [c.find_element(By.TAG_NAME, "h3").text for c in cards] == [
                "Mise à jour des paiements" if locale == "fr" else "Payments upgrade", "Website move"]
            assert _("In progress") in cards[0].text and _("Scheduled") in cards[1].text
            overall = driver.find_element(By.CSS_SELECTOR, '[data-f="overall"]')
            assert overall.text == _("Service under maintenance")
            assert "s-under_maintenance" in overall.get_attribute("class")  # also after the script's refresh
            payments = next(c for c in driver.find_elements(By.CSS_SELECTOR, ".component")
                            if c.text.startswith(_("Payments")))
            assert _("Under maintenance") in payments.text
            if locale == "en":
                assert axe_violations(driver) == []
            driver.save_screenshot(str(SCREENSHOTS / f"maintenance-{locale}.png"))
