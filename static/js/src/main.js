// Tarry's snippet. A store pastes
//   <script async src="https://TARRY_HOST/t.js" data-key="pk_..."></script>
// and this records what shoppers do, asks Tarry what to show on each page, and
// shows it. Everything runs in this closure behind guards; the only global is
// `window.tarry`, whose queue (`tarry('track', ...)` before this file loaded) is
// replayed. If Tarry's server is unreachable the page stays exactly as it was.
import * as carousel from "./carousel.js";
import { hook, layerHint, watchCartForms } from "./integrations.js";
import { detect, utm } from "./page.js";
import * as popups from "./popups.js";
import { S, session, sessionUtm, visitor, forget } from "./state.js";
import { track, cart, history, newPage } from "./track.js";
import { flush, resend } from "./transport.js";
import { pageStart } from "./triggers.js";
import { W, D, guard, get, set, getJSON, setJSON, on, now } from "./util.js";

const script = D.currentScript || D.querySelector("script[data-key]");
const consentNeeded = script && script.getAttribute("data-consent") == "required";
let started = 0;
let lastUrl = "";
let engagedSent = 0;
let visibleMs = 0;
let visibleSince = 0;

// Consent: denied by the shopper, not given where the store requires it, or
// Global Privacy Control where the store honours it.
const allowed = () => {
  const c = get("_ty_c");
  if (c == "0" || (consentNeeded && c != "1")) return false;
  return !(S.cfg.respect_gpc && W.navigator.globalPrivacyControl);
};

const stop = () => {
  S.off = 1;
  popups.reset();
  forget();
};

const engaged = () => visibleMs + (visibleSince ? now() - visibleSince : 0);

const decide = () => {
  const q = new URLSearchParams({ k: S.key, vid: visitor(), sid: session(), page_type: S.page.type, url: location.href.slice(0, 2000) });
  const put = (k, v) => v && q.set(k, v);
  const c = cart();
  put("item_id", S.page.item && S.page.item.item_id);
  put("cart", c.i.join());
  put("cart_value", c.i.length && c.v);
  put("ref", D.referrer);
  put("history", history().join());
  put("slots", carousel.slots().join());
  const u = sessionUtm();
  put("utm_source", u.utm_source);
  put("utm_campaign", u.utm_campaign);
  fetch(S.base + "/v1/decide?" + q, { credentials: "omit" })
    .then((r) => (r.ok ? r.json() : null))
    .then(guard((d) => {
      if (!d) return;
      S.cfg = d.config || {};
      setJSON("_ty_cfg", S.cfg);
      if (!allowed()) return stop();
      popups.setup(d.popups);
      carousel.render(d.showcases);
    }), () => {});
};

const pageView = () => {
  if (S.off) return;
  lastUrl = location.href;
  newPage();
  pageStart();
  S.page = detect(layerHint());
  const u = utm();
  if (u.utm_source || u.utm_campaign) sessionUtm(u);
  S.utm = u;
  track("page_view");
  const item = S.page.item;
  if (item) track("view_item", { items: [item], value: item.price, currency: item.currency });
  engagedSent = 0;
  visibleMs = 0;
  visibleSince = D.hidden ? 0 : now();
  decide();
};

// Single-page apps: a history change to a new address is a new page; a
// replaceState on the same path is the page itself changing (Shopify themes write
// the chosen variant as ?variant=): its product is read again, no page is counted.
const watchNavigation = () => {
  const h = W.history;
  for (const m of ["pushState", "replaceState"]) {
    const real = h[m];
    h[m] = function () {
      const path = location.pathname;
      const r = real.apply(this, arguments);
      guard(() => location.href != lastUrl && !(arguments[0] || 0).tarry &&
        (m < "r" || path != location.pathname ? pageView() : (S.page = detect(layerHint()))))();
      return r;
    };
  }
  on(W, "popstate", () => location.href != lastUrl && pageView());
};

const leaving = () => {
  if (S.off) return;
  const ms = engaged();
  if (ms > 0) track("engagement", { engaged_ms: ms });
  flush(1);
};

const start = () => {
  if (started || !allowed()) return;
  started = 1;
  S.off = 0;
  hook();
  pageView();
  setTimeout(guard(hook), 1500);
  setTimeout(guard(hook), 5e3);
  watchNavigation();
  watchCartForms();
  resend(); // what earlier pages could not deliver
  on(D, "visibilitychange", () => {
    if (D.hidden) {
      visibleMs = engaged();
      visibleSince = 0;
      leaving();
    } else visibleSince = now();
  });
  on(W, "pagehide", leaving);
  // An engaged view: ten seconds of the page actually being seen.
  setInterval(guard(() => {
    if (!engagedSent && engaged() >= 1e4 && !S.off) {
      engagedSent = 1;
      track("engagement", { engaged_ms: engaged() });
    }
  }), 1e3);
};

const api = {
  track: (type, data) => started && track(type, data),
  consent: (yes) => {
    set("_ty_c", yes ? "1" : "0", 1);
    if (yes) {
      S.off = 0;
      start();
    } else stop();
  },
  page: () => started && pageView(),
};

guard(() => {
  if (W.tarry && W.tarry._ty) return; // the tag pasted twice
  const key = script && script.getAttribute("data-key");
  if (!key) return;
  S.key = key;
  S.home = script.getAttribute("data-home");
  S.base = new URL(script.src, location.href).origin;
  S.cfg = getJSON("_ty_cfg", {});
  const queued = (W.tarry && W.tarry.q) || [];
  const tarry = guard((cmd, a, b) => api[cmd] && api[cmd](a, b));
  tarry._ty = 1;
  W.tarry = tarry;
  const run = () => {
    // Consent given or refused in the queue applies before anything is recorded.
    for (const c of queued) if (c[0] == "consent") tarry.apply(null, c);
    start();
    for (const c of queued) if (c[0] != "consent") tarry.apply(null, c);
  };
  if (D.readyState == "loading") on(D, "DOMContentLoaded", run);
  else run();
})();
