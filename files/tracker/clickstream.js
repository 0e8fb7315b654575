/*! clickstream.js — dependency-free browser tracker for POST /clickstream (docs/event-contract.md). */
/*
 * Usage (see README.md):
 *   <script src="/clickstream.js" data-endpoint="https://api.example.com/clickstream" defer></script>
 *   clickstream.track('add_to_cart', {product: {id: 42, name: '...', price: 19.99}, quantity: 1});
 * or clickstream.init({endpoint: '...', autoPageView: false}) from the app.
 *
 * Guarantees: never throws into the page (every entry point is guarded), never blocks it (no synchronous
 * requests; work happens in timers and fetch/sendBeacon), bounded memory (the queue drops its oldest events
 * past maxQueue and counts them).
 */
(function (global) {
  'use strict';

  var VERSION = '1.0.0';
  var NAME_RE = /^[a-z][a-z0-9_]{0,39}$/;
  var CLIENT_KEY = 'cs_client_id';
  var SESSION_KEY = 'cs_session';
  var USER_KEY = 'cs_user';
  var PENDING_KEY = 'cs_pending';
  var COOKIE_DAYS = 730;

  var defaults = {
    endpoint: null,          // required: URL of POST /clickstream
    batchSize: 10,           // events per request (the ingest accepts up to 100)
    flushInterval: 5000,     // ms between timer flushes
    maxQueue: 500,           // events kept while the endpoint is unreachable; the oldest are dropped beyond
    retryBase: 1000,         // ms, first retry delay (doubles per consecutive failure, with jitter)
    retryMax: 60000,         // ms, longest retry delay
    sessionTimeout: 30 * 60 * 1000, // ms of inactivity that starts a new frontend session (informational)
    sessions: true,          // keep a frontend session_id (the server sessionizes anyway)
    autoPageView: true,      // send a page_view when initialised
    persist: true,           // keep unsent events in localStorage across page loads
    onEvent: null,           // optional callback(event) for each tracked event (debugging, tests)
    debug: false
  };

  var cfg = null;
  var queue = [];
  var inFlight = false;
  var inFlightBatch = null;  // the events of the request in flight
  var leaving = false;       // set on pagehide: in-flight keepalive requests are finished by the browser
  var failures = 0;
  var retryAt = 0;
  var timer = null;
  var memory = {};           // last-resort storage when neither localStorage nor cookies work
  var counters = {tracked: 0, sent: 0, requests: 0, beacons: 0, failedRequests: 0, retries: 0,
                  dropped: 0, rejected: 0, invalid: 0, errors: 0};

  function log() {
    if (cfg && cfg.debug && global.console) {
      try { global.console.log.apply(global.console, ['[clickstream]'].concat([].slice.call(arguments))); } catch (e) { /* ignore */ }
    }
  }

  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        counters.errors += 1;
        log('internal error', e);
        return undefined;
      }
    };
  }

  // ---------- first-party storage: localStorage, then a cookie, then memory ----------
  function lsGet(key) {
    try { return global.localStorage.getItem(key); } catch (e) { return null; }
  }
  function lsSet(key, value) {
    try {
      if (value === null) { global.localStorage.removeItem(key); } else { global.localStorage.setItem(key, value); }
      return true;
    } catch (e) { return false; }
  }
  function cookieGet(key) {
    try {
      var parts = global.document.cookie ? global.document.cookie.split('; ') : [];
      for (var i = 0; i < parts.length; i++) {
        var eq = parts[i].indexOf('=');
        if (parts[i].slice(0, eq) === key) { return decodeURIComponent(parts[i].slice(eq + 1)); }
      }
    } catch (e) { /* cookies disabled */ }
    return null;
  }
  function cookieSet(key, value) {
    try {
      var age = value === null ? 0 : COOKIE_DAYS * 86400;
      var secure = global.location && global.location.protocol === 'https:' ? '; Secure' : '';
      global.document.cookie = key + '=' + encodeURIComponent(value === null ? '' : value) +
        '; Max-Age=' + age + '; Path=/; SameSite=Lax' + secure;
      return cookieGet(key) === value || value === null;
    } catch (e) { return false; }
  }
  function storeGet(key) {
    var v = lsGet(key);
    if (v === null) { v = cookieGet(key); }
    if (v === null && Object.prototype.hasOwnProperty.call(memory, key)) { v = memory[key]; }
    return v;
  }
  function storeSet(key, value) {
    if (lsSet(key, value)) { return 'localStorage'; }
    if (cookieSet(key, value)) { return 'cookie'; }
    if (value === null) { delete memory[key]; } else { memory[key] = value; }
    return 'memory';
  }

  // ---------- ids and time ----------
  function uuid4() {
    var c = global.crypto;
    if (c && typeof c.randomUUID === 'function') { return c.randomUUID(); }
    var b = new Array(16);
    if (c && typeof c.getRandomValues === 'function') {
      var a = new Uint8Array(16);
      c.getRandomValues(a);
      for (var i = 0; i < 16; i++) { b[i] = a[i]; }
    } else {
      for (var j = 0; j < 16; j++) { b[j] = Math.floor(Math.random() * 256); }
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = b.map(function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function clientId() {
    var id = storeGet(CLIENT_KEY);
    if (!id || id.length > 128) {
      id = uuid4();
      storeSet(CLIENT_KEY, id);
    }
    return id;
  }

  function sessionId(now) {
    if (!cfg.sessions) { return null; }
    var raw = storeGet(SESSION_KEY);
    var parts = raw ? raw.split('.') : [];
    var id = parts[0];
    var last = parseInt(parts[1], 10);
    if (!id || !(now - last <= cfg.sessionTimeout)) { id = uuid4(); }
    storeSet(SESSION_KEY, id + '.' + now);
    return id;
  }

  function currentUser() {
    var raw = storeGet(USER_KEY);
    if (!raw) { return null; }
    try { return JSON.parse(raw); } catch (e) { return null; }
  }

  // The referrer when the visitor came from another site; null for a navigation within this one, so that a
  // session that starts on one (after the inactivity timeout) is not a referral from the shop itself.
  function externalReferrer(referrer, loc) {
    if (!referrer) { return null; }
    var m = /^[a-z][a-z0-9+.-]*:\/\/([^\/?#]*)/i.exec(referrer);
    return m && loc.host && m[1].toLowerCase() === String(loc.host).toLowerCase() ? null : referrer;
  }

  function pageInfo(override) {
    var loc = global.location || {};
    var doc = global.document || {};
    var page = {
      url_path: (loc.pathname || '/') + (loc.search || ''),
      referrer: externalReferrer(doc.referrer, loc),
      title: doc.title || null
    };
    if (override && typeof override === 'object') {
      for (var k in override) { if (Object.prototype.hasOwnProperty.call(override, k)) { page[k] = override[k]; } }
    }
    if (typeof page.url_path !== 'string' || page.url_path.charAt(0) !== '/') { page.url_path = '/'; }
    page.url_path = page.url_path.slice(0, 1024);  // the contract's urlPath maxLength (docs/event-contract.md)
    if (typeof page.title === 'string') { page.title = page.title.slice(0, 512); }
    if (typeof page.referrer === 'string') { page.referrer = page.referrer.slice(0, 2048); }
    return page;
  }

  var OPTIONAL = ['search_term', 'order_id', 'quantity', 'params', 'is_first_visit'];
  var PRODUCT_FIELDS = ['id', 'name', 'category', 'brand', 'price', 'discount_price', 'url_path'];

  function product(p) {
    if (!p || typeof p !== 'object') { return undefined; }
    var out = {};
    for (var i = 0; i < PRODUCT_FIELDS.length; i++) {
      var f = PRODUCT_FIELDS[i];
      if (p[f] !== undefined) { out[f] = p[f]; }
    }
    return out;
  }

  function buildEvent(name, props) {
    props = props || {};
    var now = Date.now();
    var user = currentUser();
    var ev = {
      event_name: name,
      event_id: uuid4(),
      client_id: clientId(),
      event_timestamp: new Date(now).toISOString(),
      session_id: sessionId(now),
      user_id: user ? user.id : null,
      user_login_state: user ? 'logged_in' : 'logged_out',
      identity_source: user ? (user.source || null) : null,
      page: pageInfo(props.page)
    };
    var prod = product(props.product);
    if (prod) { ev.product = prod; }
    for (var i = 0; i < OPTIONAL.length; i++) {
      if (props[OPTIONAL[i]] !== undefined) { ev[OPTIONAL[i]] = props[OPTIONAL[i]]; }
    }
    return ev;
  }

  // ---------- queue and delivery ----------
  function enqueue(ev) {
    queue.push(ev);
    while (queue.length > cfg.maxQueue) {
      queue.shift();
      counters.dropped += 1;
    }
  }

  function schedule(delay) {
    if (timer !== null) { global.clearTimeout(timer); }
    timer = global.setTimeout(guard(tick), Math.max(0, delay));
  }

  function tick() {
    timer = null;
    flush();
    var wait = retryAt - Date.now();
    schedule(wait > 0 ? wait : cfg.flushInterval);
  }

  function backoffDelay() {
    var d = Math.min(cfg.retryMax, cfg.retryBase * Math.pow(2, Math.max(0, failures - 1)));
    return Math.round(d * (0.5 + Math.random() * 0.5));
  }

  function body(events) {
    return JSON.stringify({events: events});
  }

  function onAnswer(batch, status, answer) {
    inFlight = false;
    inFlightBatch = null;
    if (status >= 200 && status < 300) {
      failures = 0;
      retryAt = 0;
      counters.sent += batch.length;
      if (answer && typeof answer.rejected === 'number') { counters.rejected += answer.rejected; }
      savePending();
      if (queue.length >= cfg.batchSize) { schedule(0); }
      return;
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      counters.dropped += batch.length;    // the request itself is wrong: a retry cannot succeed
      log('request refused with', status, answer);
      savePending();
      return;
    }
    if (status === 0 && leaving) {
      // the page is being unloaded: a keepalive fetch outlives the document and the browser still delivers it,
      // but its promise fails here. Re-queueing it would persist a copy and send every event twice.
      return;
    }
    // network error (status 0), 408, 429, 5xx: put the batch back in front and retry later
    failures += 1;
    counters.failedRequests += 1;
    queue = batch.concat(queue);
    while (queue.length > cfg.maxQueue) { queue.shift(); counters.dropped += 1; }
    var delay = backoffDelay();
    retryAt = Date.now() + delay;
    counters.retries += 1;
    savePending();
    schedule(delay);
  }

  function send(batch) {
    inFlight = true;
    inFlightBatch = batch;
    counters.requests += 1;
    var done = false;
    function finish(status, answer) {
      if (done) { return; }
      done = true;
      guard(onAnswer)(batch, status, answer);
    }
    try {
      global.fetch(cfg.endpoint, {
        method: 'POST',
        // text/plain is a CORS-safelisted type: no preflight, and the ingest accepts it (event contract)
        headers: {'Content-Type': 'text/plain;charset=UTF-8'},
        body: body(batch),
        keepalive: true,
        credentials: 'omit',
        mode: 'cors'
      }).then(function (res) {
        return res.json().then(function (doc) { finish(res.status, doc); }, function () { finish(res.status, null); });
      }, function () { finish(0, null); });
    } catch (e) {
      finish(0, null);
    }
  }

  function flush() {
    if (!cfg || inFlight || queue.length === 0) { return false; }
    if (Date.now() < retryAt) { return false; }
    send(queue.splice(0, cfg.batchSize));
    return true;
  }

  function beaconAll() {
    // The page is going away: hand what is queued to the browser. While the endpoint is failing,
    // keep the events for the next page load instead (a beacon's answer cannot be seen, so a 503 would lose them).
    if (!cfg || queue.length === 0) { return; }
    if (failures > 0 || typeof global.navigator.sendBeacon !== 'function') {
      // the request in flight will probably fail too, and its answer will not be seen: keep a copy as well
      // (if it does succeed, the next page re-sends it and the warehouse drops the copy by event_id)
      savePending(failures > 0 ? inFlightBatch : null);
      return;
    }
    while (queue.length > 0) {
      var batch = queue.slice(0, cfg.batchSize);
      var ok = false;
      try {
        ok = global.navigator.sendBeacon(cfg.endpoint, new Blob([body(batch)], {type: 'text/plain;charset=UTF-8'}));
      } catch (e) { ok = false; }
      if (!ok) { break; }
      queue.splice(0, batch.length);
      counters.beacons += 1;
      counters.sent += batch.length;
    }
    savePending();
  }

  function savePending(extra) {
    if (!cfg || !cfg.persist) { return; }
    var keep = extra ? extra.concat(queue) : queue;
    if (keep.length === 0) { lsSet(PENDING_KEY, null); return; }
    lsSet(PENDING_KEY, JSON.stringify(keep.slice(-cfg.maxQueue)));
  }

  function loadPending() {
    if (!cfg.persist) { return; }
    var raw = lsGet(PENDING_KEY);
    if (!raw) { return; }
    lsSet(PENDING_KEY, null);
    try {
      var saved = JSON.parse(raw);
      if (Object.prototype.toString.call(saved) === '[object Array]') {
        for (var i = 0; i < saved.length; i++) {
          if (saved[i] && typeof saved[i] === 'object' && saved[i].event_id) { enqueue(saved[i]); }
        }
      }
    } catch (e) { /* corrupt: forget it */ }
  }

  function onHide() {
    if (global.document.visibilityState === undefined || global.document.visibilityState === 'hidden') {
      beaconAll();
    }
  }

  // ---------- public API ----------
  var api = {
    version: VERSION,

    init: guard(function (options) {
      if (cfg) { return api; }
      var c = {};
      var k;
      for (k in defaults) { if (Object.prototype.hasOwnProperty.call(defaults, k)) { c[k] = defaults[k]; } }
      options = options || {};
      for (k in options) { if (Object.prototype.hasOwnProperty.call(options, k)) { c[k] = options[k]; } }
      if (!c.endpoint || typeof c.endpoint !== 'string') { log('no endpoint: tracker disabled'); return api; }
      c.batchSize = Math.max(1, Math.min(100, c.batchSize | 0));
      c.maxQueue = Math.max(c.batchSize, c.maxQueue | 0);
      cfg = c;
      loadPending();
      var restored = queue.length;
      global.document.addEventListener('visibilitychange', guard(onHide));
      global.addEventListener('pagehide', guard(function () { leaving = true; beaconAll(); }));
      global.addEventListener('pageshow', guard(function () { leaving = false; }));
      schedule(cfg.flushInterval);
      if (cfg.autoPageView) { api.pageView(); }
      if (restored > 0) { schedule(0); }   // events left over from the previous page go out now
      return api;
    }),

    track: guard(function (name, props) {
      if (!cfg) { return false; }
      if (typeof name !== 'string' || !NAME_RE.test(name)) {
        counters.invalid += 1;
        log('invalid event name', name);
        return false;
      }
      var ev = buildEvent(name, props);
      try { JSON.stringify(ev); } catch (e) { counters.invalid += 1; return false; }
      enqueue(ev);
      counters.tracked += 1;
      if (typeof cfg.onEvent === 'function') {
        try { cfg.onEvent(ev); } catch (e) { /* the page's callback must not break tracking */ }
      }
      if (queue.length >= cfg.batchSize && !inFlight) { schedule(0); }
      return ev.event_id;
    }),

    pageView: guard(function (props) {
      return api.track('page_view', props);
    }),

    setUser: guard(function (userId, identitySource) {
      if (userId === null || userId === undefined || userId === '') { storeSet(USER_KEY, null); return; }
      storeSet(USER_KEY, JSON.stringify({id: String(userId).slice(0, 128), source: identitySource || 'cognito'}));
    }),

    clearUser: guard(function () { storeSet(USER_KEY, null); }),

    flush: guard(function () { return flush(); }),

    clientId: guard(function () { return clientId(); }),

    stats: guard(function () {
      var s = {queued: queue.length, inFlight: inFlight, failures: failures};
      for (var k in counters) { if (Object.prototype.hasOwnProperty.call(counters, k)) { s[k] = counters[k]; } }
      return s;
    })
  };

  global.clickstream = api;

  // auto-init from <script data-endpoint="..."> or window.clickstreamConfig
  guard(function () {
    var options = global.clickstreamConfig || null;
    var script = global.document && global.document.currentScript;
    if (!options && script && script.getAttribute('data-endpoint')) {
      options = {endpoint: script.getAttribute('data-endpoint')};
      var bs = script.getAttribute('data-batch-size');
      var fi = script.getAttribute('data-flush-interval');
      if (bs) { options.batchSize = parseInt(bs, 10); }
      if (fi) { options.flushInterval = parseInt(fi, 10); }
      if (script.getAttribute('data-auto-page-view') === 'false') { options.autoPageView = false; }
    }
    if (options) { api.init(options); }
  })();
}(typeof window !== 'undefined' ? window : this));
