"""The web page in headless Chromium with JavaScript off, at 320 px (run by tests/browser/run.sh).

    python web_page.py BASE_URL ARTIFACT_DIR

Fails (exit 1, with the reason) when a step does not do what a citizen expects.
"""

import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE, OUT = sys.argv[1].rstrip("/"), Path(sys.argv[2])
MAX_PAGE_BYTES = 30 * 1024
WIDTH = 320
CODE = re.compile(r"^[2-9A-HJKMNP-Z]{7}$")


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok  {what}")


def weigh(page, what):
    """The HTML of the page just loaded, under the budget (photos aside: the page has none)."""
    size = len(page.content().encode("utf-8"))
    check(size < MAX_PAGE_BYTES, f"{what} is {size} bytes (< {MAX_PAGE_BYTES})")


def labelled(page, what):
    """Every visible field has a label naming it (for=id), or sits inside one."""
    fields = page.locator("input:not([type=hidden]):not([type=submit]), select, textarea")
    n = fields.count()
    for i in range(n):
        f = fields.nth(i)
        fid = f.get_attribute("id")
        check(bool(fid) and page.locator(f'label[for="{fid}"]').count() == 1, f"{what}: field {fid or i} has a label")
    return n


def report_and_look_up(browser, locale, service_label, expect):
    ctx = browser.new_context(
        java_script_enabled=False,
        viewport={"width": WIDTH, "height": 640},
        locale=locale,
        extra_http_headers={"Accept-Language": locale},
    )
    page = ctx.new_page()
    tag = locale.split("-")[0]

    resp = page.goto(f"{BASE}/")
    check(resp.status == 200, f"[{tag}] the home page answers 200")
    check(page.locator("h2").first.inner_text() == expect["heading"], f"[{tag}] the home page is in {tag}")
    weigh(page, f"[{tag}] the home page")
    labelled(page, f"[{tag}] home")
    page.screenshot(path=str(OUT / f"{tag}-1-home.png"), full_page=True)

    # Choose the flood service and go to its form (a plain GET form, no script).
    page.select_option("#service", label=service_label)
    page.locator("form[action='/report'] button[type=submit]").click()
    page.wait_for_load_state()
    check(page.url.startswith(f"{BASE}/report?"), f"[{tag}] the service form opens")
    weigh(page, f"[{tag}] the report form")
    n = labelled(page, f"[{tag}] report form")
    check(n >= 8, f"[{tag}] the form has the service's questions ({n} fields)")
    page.screenshot(path=str(OUT / f"{tag}-2-form.png"), full_page=True)

    # Fill it in as a resident would: an area from the list, the water depth, the radio and a checkbox.
    options = page.locator("#place option")
    check(options.count() > 100, f"[{tag}] the kelurahan list is there ({options.count()} options)")
    page.select_option("#place", index=1)
    page.fill("#address", "Jl. Kebon Sirih, depan sekolah")
    page.fill("#description", expect["description"])
    page.fill("#attr-DEPTH", "40")
    page.check("#attr-PASSABLE-1")
    page.check("#attr-HAZARDS-2")
    page.fill("#phone", "+62 812 0000 1111")
    page.screenshot(path=str(OUT / f"{tag}-3-filled.png"), full_page=True)
    page.locator("form[action='/report'] button[type=submit]").click()
    page.wait_for_load_state()

    # The reference code, after the redirect that keeps a reload from sending twice.
    check("/lookup?" in page.url and "sent=1" in page.url, f"[{tag}] sending leads to the code page")
    code = page.locator("#reference-code").inner_text().strip()
    check(bool(CODE.match(code)), f"[{tag}] a reference code is shown: {code}")
    check(page.locator("#service").inner_text() == service_label, f"[{tag}] the code page names the service")
    check(page.locator("#status").inner_text() == expect["status"], f"[{tag}] the code page shows the status")
    weigh(page, f"[{tag}] the code page")
    page.screenshot(path=str(OUT / f"{tag}-4-sent.png"), full_page=True)

    # Look it up again from the home page, typed in lower case with a dash, as people do.
    page.goto(f"{BASE}/")
    page.fill("#code", f"{code[:3]}-{code[3:]}".lower())
    page.locator("form[action='/lookup'] button[type=submit]").click()
    page.wait_for_load_state()
    check(page.locator("#reference-code").inner_text().strip() == code, f"[{tag}] the lookup finds {code}")
    check(page.locator("#status").inner_text() == expect["status"], f"[{tag}] the lookup shows the status")
    page.screenshot(path=str(OUT / f"{tag}-5-lookup.png"), full_page=True)

    # A mistyped code says so.
    swapped = code[:2] + code[3] + code[2] + code[4:]
    if swapped != code:
        resp = page.goto(f"{BASE}/lookup?code={swapped}")
        check(resp.status == 400, f"[{tag}] a swapped character is caught")
    ctx.close()
    return code


def nothing_wider_than_the_screen(browser):
    """Measured with script on (the page has none; the measuring needs it), at 320 px."""
    ctx = browser.new_context(viewport={"width": WIDTH, "height": 640})
    page = ctx.new_page()
    for path in ["/", "/report?service=FLOOD", "/report?service=LIGHT", "/lookup"]:
        page.goto(f"{BASE}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        check(width <= WIDTH, f"{path} fits {WIDTH} px (scrollWidth {width})")
    ctx.close()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        en = report_and_look_up(
            browser,
            "en-GB",
            "Flooded street",
            {"heading": "Report a problem in a public place", "status": "Received", "description": "Knee-deep"},
        )
        id_ = report_and_look_up(
            browser,
            "id-ID",
            "Jalan banjir",
            {"heading": "Laporkan masalah di tempat umum", "status": "Diterima", "description": "Setinggi lutut"},
        )
        check(en != id_, "two reports, two codes")
        nothing_wider_than_the_screen(browser)
        browser.close()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
