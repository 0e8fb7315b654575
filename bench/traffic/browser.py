"""Real-browser traffic: a tiny demo shop served on 127.0.0.1 that uses `files/tracker/clickstream.js`,
driven by headless Debian chromium through Playwright. Used by the tracker tests and by the end-to-end test.

    with DemoShop(endpoint="http://127.0.0.1:8080/clickstream", port=3000) as shop, chromium() as browser:
        journey = run_browser_journey(browser, shop)
    events = wait_for_events(s3, bucket, journey.event_ids)     # then run the ETL and look in the warehouse

The shop's origin must be allowed by the ingest endpoint's CORS origins (the local inventory allows
http://127.0.0.1:3000 and http://localhost:3000, hence the default port 3000).
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .catalog import Product, load_catalog_csv

TRACKER_JS = Path(__file__).resolve().parents[2] / "files" / "tracker" / "clickstream.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Compushop</title>
<script>
window.__tracked = [];
window.clickstreamConfig = Object.assign({config}, {{onEvent: function (e) {{ window.__tracked.push(e); }}}});
</script>
<script src="/clickstream.js"></script>
</head><body>
<nav><a id="home" href="/">Home</a> <a id="cart" href="/cart">Cart</a>
<a id="login" href="/account/login">Sign in</a></nav>
<h1>{title}</h1>
{content}
<script>
var PRODUCT = {product};
function cart() {{
  try {{ return JSON.parse(sessionStorage.getItem('demo_cart') || '[]'); }} catch (e) {{ return []; }}
}}
{script}
</script>
</body></html>
"""


def _product_json(p: Product) -> dict[str, Any]:
    return p.as_event_product()


def render_page(path: str, products: Sequence[Product], config: dict[str, Any]) -> tuple[int, str]:
    """(status, html) of one demo shop page; its inline script records the e-commerce events of that page."""
    by_path = {p.url_path: p for p in products}
    product: Product | None = by_path.get(path)
    content, script, title, status = "", "", "Not found", 404
    if path == "/":
        title, status = "Home", 200
        links = "".join(
            f'<li><a class="product" href="{html.escape(p.url_path)}">{html.escape(p.name)}</a></li>' for p in products
        )
        content = f"<ul>{links}</ul>"
    elif product is not None:
        title, status = product.name, 200
        content = (
            f"<p class='price'>{product.effective_price}</p>"
            '<button id="add" onclick="var c = cart(); c.push({product: PRODUCT, quantity: 1});'
            " sessionStorage.setItem('demo_cart', JSON.stringify(c));"
            " clickstream.track('add_to_cart', {product: PRODUCT, quantity: 1});"
            " document.getElementById('added').textContent = 'added';\">Add to cart</button>"
            '<span id="added"></span> <a id="checkout" href="/checkout">Checkout</a>'
        )
        script = "clickstream.track('view_item', {product: PRODUCT});"
    elif path == "/cart":
        title, status = "Cart", 200
        content = '<a id="checkout" href="/checkout">Checkout</a>'
    elif path == "/checkout":
        title, status = "Checkout", 200
        content = '<a id="pay" href="/checkout/confirmation">Pay</a>'
        script = "cart().forEach(function (l) { clickstream.track('begin_checkout', l); });"
    elif path == "/checkout/confirmation":
        title, status = "Thank you for your order", 200
        script = (
            "var order = 'ord-' + Date.now();"
            " cart().forEach(function (l) { clickstream.track('purchase',"
            " {product: l.product, quantity: l.quantity, order_id: order}); });"
            " sessionStorage.removeItem('demo_cart');"
        )
    elif path == "/account/login":
        title, status = "Sign in", 200
        content = (
            "<button id=\"signin\" onclick=\"clickstream.setUser('demo-user-1', 'cognito');"
            " clickstream.track('login'); document.getElementById('done').textContent = 'signed in';\">"
            'Sign in</button><span id="done"></span>'
        )
    elif path == "/blank":
        title, status = "Blank", 200
    elif path == "/tag":  # configured only by the script tag's data-* attributes, as the README shows
        endpoint = html.escape(str(config.get("endpoint", "")))
        return 200, (
            '<!doctype html><html><head><meta charset="utf-8"><title>Tag | Compushop</title>'
            f'<script src="/clickstream.js" data-endpoint="{endpoint}" data-flush-interval="200"></script>'
            "</head><body><h1>Tag</h1></body></html>"
        )
    page = PAGE.format(
        title=html.escape(title),
        config=json.dumps(config),
        content=content,
        product=json.dumps(_product_json(product) if product else None),
        script=script,
    )
    return status, page


class DemoShop:
    """The demo shop on http://127.0.0.1:<port>; `tracker_config` is rendered into every page (change it freely)."""

    def __init__(
        self,
        endpoint: str,
        port: int = 3000,
        products: Sequence[Product] | None = None,
        **tracker_config: Any,
    ) -> None:
        self.products = tuple(products if products is not None else load_catalog_csv()[:12])
        self.tracker_config: dict[str, Any] = {"endpoint": endpoint, "flushInterval": 1000, **tracker_config}
        self.requests: list[str] = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                shop.requests.append(path)
                if path == "/clickstream.js":
                    body, ctype, status = TRACKER_JS.read_bytes(), "application/javascript", 200
                else:
                    status, text = render_page(path, shop.products, shop.tracker_config)
                    body, ctype = text.encode(), "text/html; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def __enter__(self) -> DemoShop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def chromium(executable: str = CHROMIUM) -> Iterator[Any]:
    """Headless Debian chromium via Playwright (no `playwright install` needed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Journey:
    """What one browser sent: its client_id and every event the tracker recorded (exact objects)."""

    client_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.events]

    @property
    def counts(self) -> Counter[str]:
        return Counter(e["event_name"] for e in self.events)


def tracked(page: Any) -> list[dict[str, Any]]:
    """The events the tracker recorded on the current page (read before leaving it)."""
    return list(page.evaluate("window.__tracked || []"))


def run_browser_journey(browser: Any, shop: DemoShop, *, product_index: int = 0, sign_in: bool = True) -> Journey:
    """home -> product (view_item) -> add to cart -> [sign in] -> checkout -> purchase -> leave (beacon).

    Every page load sends a page_view; the last page's events leave by sendBeacon when the page is hidden.
    """
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    events: list[dict[str, Any]] = []
    product = shop.products[product_index]

    def visit(path: str) -> None:
        if page.url.startswith(shop.origin):
            events.extend(tracked(page))
        page.goto(shop.url(path), wait_until="load")

    visit("/")
    visit(product.url_path)
    page.click("#add")
    page.wait_for_selector("#added:has-text('added')")
    if sign_in:
        visit("/account/login")
        page.click("#signin")
        page.wait_for_selector("#done:has-text('signed in')")
    visit("/cart")
    visit("/checkout")
    visit("/checkout/confirmation")
    client_id = str(page.evaluate("clickstream.clientId()"))
    events.extend(tracked(page))
    page.goto("about:blank")  # pagehide: the tracker hands the rest to navigator.sendBeacon
    context.close()
    return Journey(client_id=client_id, events=events, page_errors=errors)


def read_event_lines(s3: Any, bucket: str, prefix: str = "events/") -> list[dict[str, Any]]:
    """Every stored line under `prefix` (parsed), in key order."""
    lines: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for raw in body.splitlines():
                line = json.loads(raw)
                line["_key"] = obj["Key"]
                lines.append(line)
    return lines


def wait_for_events(
    s3: Any, bucket: str, event_ids: Sequence[str], timeout: float = 30.0, prefix: str = "events/"
) -> list[dict[str, Any]]:
    """Poll the raw bucket until every one of `event_ids` is stored; returns their lines (TimeoutError if not)."""
    wanted = set(event_ids)
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in read_event_lines(s3, bucket, prefix) if line["event_id"] in wanted]
        if {line["event_id"] for line in lines} == wanted:
            return lines
        if time.monotonic() > deadline:
            missing = sorted(wanted - {line["event_id"] for line in lines})
            raise TimeoutError(f"{len(missing)} of {len(wanted)} events never reached s3://{bucket}: {missing[:5]}")
        time.sleep(0.25)
