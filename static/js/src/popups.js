// Showing a popup the server rendered: inside a shadow root (the store's CSS cannot
// reach it, and its CSS cannot reach the store), in the top layer where the browser
// has one, at most one per page, as an accessible modal dialog.
import { S, visitor } from "./state.js";
import { track, clicked } from "./track.js";
import { flush } from "./transport.js";
import { arm } from "./triggers.js";
import { W, D, guard, now } from "./util.js";

// `all:initial` undoes whatever the page's CSS (or the popover defaults) set on
// the host; inline and important, it wins over any stylesheet rule.
const HOST =
  "all:initial!important;display:block!important;position:fixed!important;inset:0!important;z-index:2147483647!important";
const FOCUSABLE = "a[href],button,input,select,textarea,[tabindex]";
let disarms = [];
let shown = 0;

export const reset = () => {
  disarms.forEach((d) => d());
  disarms = [];
  shown = 0;
};

export const setup = (popups) => {
  reset();
  for (const p of popups || []) disarms.push(arm(p.trigger || {}, guard((signal) => show(p, signal))));
};

const clock = (ms) => {
  const s = Math.max(0, Math.floor(ms / 1e3));
  const p = (n) => (n < 10 ? "0" : "") + n;
  return (s >= 3600 ? Math.floor(s / 3600) + ":" : "") + p(Math.floor(s / 60) % 60) + ":" + p(s % 60);
};

const show = (p, signal) => {
  if (shown) return; // one popup per page, whatever fires next
  shown = 1;
  disarms.forEach((d) => d());
  const base = { popup_id: p.id, variant: p.variant, trigger: signal };
  if (p.holdout) {
    // The comparison group: the moment is recorded, nothing is shown.
    track("popup_suppressed", base);
    return flush();
  }
  const host = D.createElement("tarry-popup");
  host.setAttribute("style", HOST);
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>:host{" + HOST + "}" + (p.css || "") + "</style>" + (p.html || "");
  (D.body || D.documentElement).appendChild(host);
  if (host.showPopover) {
    host.popover = "manual";
    host.showPopover(); // the top layer: above any z-index of the page
  }
  track("popup_shown", base);
  flush(); // so the next page's decision already knows

  const dialog = root.querySelector("[role=dialog]") || root;
  const before = D.activeElement;
  let ticking = 0;
  const close = (how) => {
    clearInterval(ticking);
    host.remove();
    track("popup_close", { placement: how, ...base });
    if (before && before.focus) before.focus();
  };
  const focusables = () => [...dialog.querySelectorAll(FOCUSABLE)].filter((e) => !e.closest("[hidden]"));
  const first = dialog.querySelector("[data-tarry-close]") || focusables()[0];
  if (first) first.focus();

  root.addEventListener("keydown", guard((e) => {
    if (e.key == "Escape") close("escape");
    if (e.key == "Tab") {
      // Focus stays in the dialog while it is open.
      const f = focusables();
      const i = f.indexOf(root.activeElement);
      const next = e.shiftKey ? (i <= 0 ? f.length - 1 : i - 1) : i + 1 >= f.length ? 0 : i + 1;
      if (f[next]) f[next].focus();
      e.preventDefault();
    }
  }));

  root.addEventListener("click", guard((e) => {
    const t = e.target;
    const product = t.closest("[data-tarry-item]");
    if (product) {
      const rec = product.closest("[data-tarry-rec]");
      const id = product.getAttribute("data-tarry-item");
      track("popup_click", { placement: "product", items: [{ item_id: id }], ...base });
      if (rec) {
        const r = rec.getAttribute("data-tarry-rec");
        clicked(id, r);
        track("showcase_click", { placement: "popup:" + p.id, rec_id: r, items: [{ item_id: id }] });
      }
      return flush(1);
    }
    if (t.closest("[data-tarry-copy]")) {
      const code = root.querySelector("[data-tarry-code]").textContent;
      const n = W.navigator;
      if (n.clipboard) n.clipboard.writeText(code).catch(() => {});
      t.closest("[data-tarry-copy]").textContent = "✓";
      return track("popup_click", { placement: "copy", ...base });
    }
    if (t.closest("[data-tarry-cta]")) {
      track("popup_click", { placement: "cta", ...base });
      flush(1);
    }
    if (t.closest("[data-tarry-close]")) close("button");
    else if (t.hasAttribute("data-tarry-overlay")) close("outside");
  }));

  const form = root.querySelector("[data-tarry-email]");
  if (form)
    form.addEventListener("submit", guard((e) => {
      e.preventDefault();
      const email = form.querySelector("input").value;
      // A wheel's prize is the server's draw: its answer says how far to turn the
      // wheel (CSS spins it) and what to reveal; the page only shows them.
      fetch(S.base + "/v1/subscribe", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ k: S.key, vid: visitor(), popup_id: p.id, email, platform: W.Shopify && "shopify" }),
      }).then((r) => {
        if (!r.ok) return;
        form.hidden = true;
        track("popup_click", { placement: "email", ...base });
        return r.json();
      }).then((d) => {
        const z = d.prize; // a refused address left `d` undefined: on to catch
        const code = root.querySelector("[data-tarry-reveal]") || dialog;
        if (z) {
          dialog.style.setProperty("--tarry-turn", z.turn + "deg");
          code.innerHTML = z.html;
        }
        code.hidden = false;
        // The form had the focus: it goes to what was revealed, else to the dialog.
        (code.querySelector("a,button") || focusables()[0]).focus();
      }).catch(() => {});
    }));

  const countdown = root.querySelector("[data-tarry-countdown]");
  if (countdown) {
    const end = +countdown.getAttribute("data-ends-at") || now() + countdown.getAttribute("data-minutes") * 6e4;
    const face = countdown.querySelector("[data-tarry-clock]");
    const tick = () => {
      face.textContent = clock(end - now());
      if (end <= now()) close("expired");
    };
    tick();
    ticking = setInterval(guard(tick), 1e3);
  }
};
