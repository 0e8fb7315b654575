"""Helpers of the dashboard browser tests: a real Shiny process, a headless Debian chromium, page probes."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scripts.harness.net import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "files" / "shiny"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TABS = ["overview", "funnel", "products", "journeys", "retention", "acquisition", "pipeline"]


class ShinyApp:
    """`Rscript -e shiny::runApp(<files/shiny>)` on 127.0.0.1:<free port>, as the shiny_server role runs it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self._log = log_path.open("wb")
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DW_")}
        clean_env.pop("CLICKSTREAM_DB_CONFIG", None)
        self.proc = subprocess.Popen(
            ["Rscript", "-e", f"shiny::runApp('{APP_DIR}', host='127.0.0.1', port={self.port}, launch.browser=FALSE)"],
            stdout=self._log, stderr=subprocess.STDOUT, env={**clean_env, **env}, cwd=str(APP_DIR),
        )
        try:
            wait_for_port(self.port, timeout=90)
            self._wait_http()
        except Exception:
            self.close()
            raise RuntimeError(f"Shiny did not start; log:\n{self.log()}") from None

    def _wait_http(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Shiny exited")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError("Shiny does not answer HTTP")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextmanager
def browser_page(url: str, console: list[str]) -> Iterator[Any]:
    """A chromium page on the app, connected to Shiny; console errors and page errors go to `console`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.on("console", lambda m: console.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("response", lambda r: console.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
            page.add_init_script(SETTLE_PROBE)
            page.goto(url)
            page.wait_for_function("() => window.Shiny && Shiny.shinyapp && Shiny.shinyapp.isConnected()",
                                   timeout=60_000)
            page.wait_for_selector("#filter_summary .filter-summary", timeout=60_000)
            wait_idle(page)
            yield page
        finally:
            browser.close()


# Counts Shiny's output/busy events, so a test can wait until the app has been quiet for a while.
SETTLE_PROBE = """
window.__cs = {events: 0, last: Date.now(), busy: false};
document.addEventListener('DOMContentLoaded', function () {
  $(document).on('shiny:value shiny:error shiny:recalculating shiny:outputinvalidated shiny:inputchanged',
                 function () { window.__cs.events++; window.__cs.last = Date.now(); });
  $(document).on('shiny:busy', function () { window.__cs.busy = true; window.__cs.last = Date.now(); });
  $(document).on('shiny:idle', function () { window.__cs.busy = false; window.__cs.last = Date.now(); });
});
"""


def wait_idle(page: Any, quiet_ms: int = 600, timeout_ms: int = 90_000) -> None:
    """Wait until Shiny is idle, no visible output is recalculating and nothing has changed for `quiet_ms` (covers
    the filters' debounce). Outputs of hidden tabs are suspended by Shiny and may keep a stale "recalculating"
    mark (e.g. the pipeline tab's timed refresh fired while it was hidden), so only visible ones count."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """(quiet) => window.__cs && !document.documentElement.classList.contains('shiny-busy')
                 && !Array.from(document.querySelectorAll('.recalculating')).some(e => e.offsetParent !== null)
                 && Date.now() - window.__cs.last > quiet""",
            arg=quiet_ms, timeout=timeout_ms, polling=100,
        )
    except PlaywrightTimeout:
        state = page.evaluate(
            """() => JSON.stringify({probe: window.__cs, now: Date.now(),
                 busy: document.documentElement.classList.contains('shiny-busy'),
                 recalculating: Array.from(document.querySelectorAll('.recalculating')).map(e => e.id),
                 connected: !!(window.Shiny && Shiny.shinyapp && Shiny.shinyapp.isConnected())})""")
        raise AssertionError(f"Shiny did not settle within {timeout_ms} ms: {state}") from None


def current_filters(page: Any) -> dict[str, str]:
    """The filters the server applies now (rendered by the app as JSON in the sidebar)."""
    import json

    raw = page.evaluate("() => { const e = document.querySelector('#filter_summary .filter-summary');"
                        " return e ? e.dataset.filters : null; }")
    return json.loads(raw) if raw else {}


def show_tab(page: Any, tab: str) -> None:
    if page.evaluate(f"() => !!document.querySelector(\"div.tab-pane[data-value='{tab}'].active\")"):
        return
    page.click(f"a[data-value='{tab}']")
    page.wait_for_selector(f"div.tab-pane[data-value='{tab}'].active")
    wait_idle(page)


CHOOSE_JS = """([id, v]) => { const el = document.getElementById(id);
  if (el && el.selectize && Object.prototype.hasOwnProperty.call(el.selectize.options, v)
      && el.selectize.getValue() !== v) {
    el.selectize.setValue(v); return 'selectize'; }
  const radio = Array.from(document.querySelectorAll(`input[type=radio][name="${id}"]`)).find(r => r.value === v);
  if (radio && !radio.checked) { radio.click(); return 'radio'; }
  return null; }"""  # null: the widget already shows v (or does not offer it): fall back to Shiny.setInputValue


def set_input(page: Any, input_id: str, value: Any) -> None:
    """Choose a value the way a user does (the selectize / radio widget); a value the widget does not offer is
    sent with Shiny.setInputValue, as a crafted client would."""
    if page.evaluate(CHOOSE_JS, [input_id, value]) is None:
        page.evaluate("([id, v]) => Shiny.setInputValue(id, v, {priority: 'event'})", [input_id, value])
    wait_idle(page)


def set_dates(page: Any, start: str, end: str) -> None:
    """Type the two dates into the date-range widget (its own change event feeds Shiny)."""
    page.evaluate(
        """([s, e]) => { const el = document.getElementById('filters-dates');
             el.querySelector('input.cs-start').value = s; el.querySelector('input.cs-end').value = e;
             $(el.querySelector('input.cs-start')).trigger('change'); }""",
        [start, end],
    )
    wait_filters(page, start=start, end=end)


def wait_filters(page: Any, timeout_ms: int = 30_000, **expected: str) -> None:
    """Wait until the server applies filters with these values (then for the outputs to settle)."""
    page.wait_for_function(
        """(exp) => { const e = document.querySelector('#filter_summary .filter-summary');
             if (!e) return false; const f = JSON.parse(e.dataset.filters);
             return Object.entries(exp).every(([k, v]) => f[k] === v); }""",
        arg=expected, timeout=timeout_ms,
    )
    wait_idle(page)


def reset_filters(page: Any) -> None:
    """Category, brand, login state, channel, device, segment back to "all" (with the pipeline tab shown, so nothing
    re-renders)."""
    show_tab(page, "pipeline")  # the one dashboard the filters do not touch: resetting them renders nothing
    for input_id in ("filters-category", "filters-brand", "filters-login_state", "filters-channel", "filters-device",
                     "filters-segment"):
        page.evaluate(CHOOSE_JS, [input_id, "(all)"])
        page.evaluate("(id) => Shiny.setInputValue(id, '(all)', {priority: 'event'})", input_id)
    wait_filters(page, category="(all)", brand="(all)", login_state="(all)", channel="(all)", device="(all)",
                 segment="(all)")


def dt_rows(page: Any, output_id: str) -> list[list[Any]]:
    """Rows of a DT table as shown (current sort and search applied, all pages)."""
    return page.evaluate(
        """(id) => $('#' + id + ' table.dataTable').DataTable()
             .rows({order: 'applied', search: 'applied'}).data().toArray()""",
        output_id,
    )


def dt_columns(page: Any, output_id: str) -> list[str]:
    return page.evaluate(
        """(id) => $('#' + id + ' table.dataTable').DataTable().columns().header().toArray().map(h => h.textContent)""",
        output_id,
    )


def kpis(page: Any, scope: str) -> dict[str, str]:
    """data-metric -> data-value of the KPI cards inside `#<scope>`."""
    return page.evaluate(
        """(scope) => Object.fromEntries(Array.from(document.querySelectorAll(`[id^="${scope}-"] .kpi-card`))
             .map(e => [e.dataset.metric, e.dataset.value]))""",
        scope,
    )


def table_rows(page: Any, table_id: str) -> list[dict[str, str]]:
    """Rows of a dashboard html_table: data-col -> data-value."""
    return page.evaluate(
        """(id) => { const t = document.getElementById(id); if (!t) return null;
             return Array.from(t.querySelectorAll('tbody tr')).map(tr => Object.fromEntries(
               Array.from(tr.querySelectorAll('td')).map(td => [td.dataset.col, td.dataset.value]))); }""",
        table_id,
    )


def plot_rendered(page: Any, output_id: str) -> bool:
    """True when a renderPlot output holds a PNG with a real picture (not a validation message, not blank)."""
    info = page.evaluate(
        """(id) => { const el = document.getElementById(id); if (!el) return null;
             const img = el.querySelector('img');
             if (!img || !img.src.startsWith('data:image/png')) return null;
             return {w: img.naturalWidth, n: img.src.length}; }""",
        output_id,
    )
    # A blank 500x280 PNG is well under 2 kB of base64; a chart with axes and marks is several kB.
    return bool(info) and info["w"] > 100 and info["n"] > 3000


def empty_state_visible(page: Any, scope: str) -> bool:
    return page.evaluate(
        """(scope) => { const el = document.querySelector(`#${scope}-empty .empty-state`);
             return !!el && el.offsetParent !== null; }""",
        scope,
    )


# Every visible table of the shown tab against the card (.dash-card) around it: the table's bounding box must lie
# inside the card's (1 px of rounding allowed), and the card must not be wider than the page.
TABLES_IN_CARDS_JS = """(tab) => {
  const pane = document.querySelector(`div.tab-pane[data-value='${tab}']`);
  const out = [];
  for (const t of pane.querySelectorAll('table')) {
    // not rendered: a hidden tab, a folded <details> (its content keeps a layout box but is not shown)
    if (t.offsetParent === null || (t.checkVisibility && !t.checkVisibility({contentVisibilityAuto: true})))
      continue;
    const card = t.closest('.dash-card');
    const tb = t.getBoundingClientRect();
    if (!card) { out.push({table: t.id || t.className, card: null}); continue; }
    const cb = card.getBoundingClientRect();
    out.push({table: t.id || t.className, card: card.querySelector('.dash-card-title')?.textContent || '',
              inside: tb.left >= cb.left - 1 && tb.right <= cb.right + 1 && tb.top >= cb.top - 1
                      && tb.bottom <= cb.bottom + 1 && cb.right <= document.documentElement.clientWidth + 1,
              table_box: [tb.left, tb.top, tb.right, tb.bottom], card_box: [cb.left, cb.top, cb.right, cb.bottom]});
  }
  return out;
}"""


def tables_outside_cards(page: Any, tab: str) -> tuple[int, list[dict[str, Any]]]:
    """(number of visible tables on `tab`, those not inside their card or in none)."""
    boxes = page.evaluate(TABLES_IN_CARDS_JS, tab)
    return len(boxes), [b for b in boxes if not b.get("inside")]
