// Showcase carousels: product cards from the decision, in slots the theme marks
// with `data-tarry-showcase="similar"` or after a selector the store configured;
// titled by `data-tarry-title`, else the title the decision gives.
// Each lives in a shadow root; a view is recorded once half of it is on screen, a
// click with its rec_id, which later carts and orders of that item carry.
import { track, clicked } from "./track.js";
import { flush } from "./transport.js";
import { W, D, esc, web, guard, on } from "./util.js";

const CSS =
  ":host{display:block;margin:24px 0}h2{font-size:1.25em;margin:0 0 12px}.w{display:flex;align-items:center;gap:8px}" +
  ".r{flex:1;display:flex;gap:16px;overflow-x:auto;scroll-snap-type:x mandatory;scrollbar-width:none;padding:0;margin:0;list-style:none}" +
  "li{flex:none;width:clamp(140px,22vw,200px);scroll-snap-align:start}" +
  "a{display:flex;flex-direction:column;gap:4px;color:inherit;text-decoration:none}" +
  "img{width:100%;aspect-ratio:1;object-fit:cover;border-radius:6px;background:#eee}.p{font-weight:600}.y{opacity:.7;font-size:.85em}" +
  // The arrows sit beside the row (it shrinks first: a scroll container's minimum
  // width is 0), never over a card; one that leads nowhere keeps its place.
  "button{width:44px;height:44px;border-radius:50%;border:1px solid #ccc;background:#fff;font-size:22px}" +
  "button:disabled{visibility:hidden}";

// Calls fn once when `share` of el is on screen (at once without the API).
const seen = (el, share, fn) => {
  if (!W.IntersectionObserver) return fn();
  const io = new IntersectionObserver((es) => {
    if (es.some((e) => e.isIntersecting && e.intersectionRatio >= share)) {
      io.disconnect();
      guard(fn)();
    }
  }, { threshold: share || 0 });
  io.observe(el);
};

const price = (p, c) => {
  if (p == null) return "";
  try {
    return new Intl.NumberFormat(D.documentElement.lang || undefined, { style: "currency", currency: c || "USD" }).format(p);
  } catch (e) {
    return p + " " + (c || "");
  }
};

export const slots = () => [...D.querySelectorAll("[data-tarry-showcase]")].map((e) => e.getAttribute("data-tarry-showcase"));

export const render = (showcases) => {
  for (const slot in showcases || {}) guard(fill)(slot, showcases[slot]);
};

const fill = (slot, sc) => {
  let el = [...D.querySelectorAll("[data-tarry-showcase]")].find((e) => e.getAttribute("data-tarry-showcase") == slot);
  if (!el && sc.selector) {
    const anchor = D.querySelector(sc.selector);
    if (!anchor) return;
    el = D.createElement("div");
    el.setAttribute("data-tarry-showcase", slot);
    anchor.after(el);
  }
  if (!el || el._ty) return;
  el._ty = 1;
  if (sc.holdout) return seen(el, 0, () => track("showcase_suppressed", { placement: slot }));
  const items = (sc.items || []).filter((i) => web(i.url) && web(i.image));
  if (!items.length) return;
  const reasons = /^en|^$/.test(D.documentElement.lang || "");
  const title = el.getAttribute("data-tarry-title") || sc.title || "";
  const root = el.shadowRoot || el.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style><section aria-label='" + esc(title) + "'>" +
    (title ? "<h2>" + esc(title) + "</h2>" : "") +
    // "‹" is mirrored on a right-to-left page, where the row starts on the right. No
    // type=button: a button in a shadow root submits no form of the page.
    "<div class=w><button>‹</button><ul class=r>" +
    items.map((i) =>
      "<li><a href='" + esc(i.url) + "' data-i='" + esc(i.item_id) + "'><img loading=lazy alt='' src='" + esc(i.image) +
      "'><span>" + esc(i.name) + "</span><span class=p>" + esc(price(i.price, i.currency)) + "</span>" +
      (reasons && i.reason ? "<span class=y>" + esc(i.reason) + "</span>" : "") + "</a></li>").join("") +
    "</ul><button>›</button></div></section>";
  const wrap = root.querySelector(".w");
  const row = root.querySelector(".r");
  const [back, next] = root.querySelectorAll("button");
  // scrollLeft runs negative from the start of a right-to-left row.
  const ahead = getComputedStyle(el).direction == "rtl" ? -1 : 1;
  const step = (by) => guard(() => row.scrollBy({ left: by * ahead * row.clientWidth, behavior: "smooth" }));
  back.onclick = step(-0.8);
  next.onclick = step(0.8);
  // No arrows while every card fits; measured against the wrapper, as the row itself
  // narrows when the arrows show.
  const arrows = guard(() => {
    back.hidden = next.hidden = row.scrollWidth <= wrap.clientWidth + 1;
    const x = Math.abs(row.scrollLeft);
    back.disabled = x < 1;
    next.disabled = x >= row.scrollWidth - row.clientWidth - 1;
  });
  arrows();
  on(row, "scroll", arrows, { passive: true });
  if (W.ResizeObserver) new ResizeObserver(arrows).observe(wrap);
  const ids = items.map((i) => ({ item_id: i.item_id }));
  seen(el, 0.5, () => track("showcase_view", { placement: slot, rec_id: sc.rec_id, items: ids }));
  root.addEventListener("click", guard((e) => {
    const a = e.target.closest("a[data-i]");
    if (!a) return;
    const id = a.getAttribute("data-i");
    clicked(id, sc.rec_id);
    track("showcase_click", { placement: slot, rec_id: sc.rec_id, items: [{ item_id: id }] });
    flush(1);
  }));
};
