// Tracking with no code from the merchant: GA4 e-commerce events pushed to
// `dataLayer` (by gtag or a tag manager) and Segment's `analytics.track`, turned
// into Tarry's events.
import { S } from "./state.js";
import { track } from "./track.js";
import { W, D, guard, on } from "./util.js";

// Segment's e-commerce events, as GA4 names them.
const SEGMENT = {
  "Product Viewed": "view_item",
  "Product Added": "add_to_cart",
  "Product Removed": "remove_from_cart",
  "Cart Viewed": "view_cart",
  "Checkout Started": "begin_checkout",
  "Order Completed": "purchase",
  "Product List Viewed": "view_item_list",
};
// GA4's e-commerce events: the same ones.
const GA4 = Object.values(SEGMENT);
const PAGES = { view_item: "product", view_cart: "cart", begin_checkout: "checkout", purchase: "thank_you", view_item_list: "category" };

// The page type the GA4 events already on the page imply (a product page that
// only has a dataLayer `view_item`, say).
export const layerHint = () => {
  for (const x of W.dataLayer || []) {
    const t = x && PAGES[x[0] == "event" ? x[1] : x.event];
    if (t) return t;
  }
};

const ga = (name, p) => {
  if (GA4.indexOf(name) < 0 || !p) return;
  const e = p.ecommerce || p;
  if (!e || typeof e != "object") return;
  track(name, { items: e.items, value: e.value, currency: e.currency, transaction_id: e.transaction_id, coupon: e.coupon });
};

// gtag pushes its `arguments` (["event", name, params]); tag managers push objects.
const fromLayer = (x) => {
  if (!x) return;
  if (x[0] == "event") ga(x[1], x[2]);
  else if (x.event) ga(x.event, x);
};


const segment = (name, p) => {
  const type = SEGMENT[name];
  if (!type) return;
  p = p || {};
  const items = (p.products || [p]).map((x) => ({
    item_id: x.product_id || x.sku || x.id,
    item_name: x.name,
    item_category: x.category,
    item_brand: x.brand,
    price: x.price,
    quantity: x.quantity,
    url: x.url,
    image: x.image_url,
  }));
  const value = p.total != null ? p.total : p.revenue != null ? p.revenue : p.value;
  track(type, { items, value, currency: p.currency, transaction_id: p.order_id, coupon: p.coupon });
};

const wrapSegment = (a) => {
  if (!a || !a.track || a.track._ty) return;
  const real = a.track;
  a.track = function (n, p) {
    guard(segment)(n, p);
    return real.apply(this, arguments);
  };
  a.track._ty = 1;
};

// Idempotent: called at start and again a little later, for a dataLayer or
// analytics that a tag manager creates after this script ran (creating them here
// would add globals to the page).
export const hook = () => {
  const dl = W.dataLayer;
  if (Array.isArray(dl) && !dl._ty) {
    dl._ty = 1;
    dl.forEach(guard(fromLayer));
    const push = dl.push;
    dl.push = function () {
      for (const x of arguments) guard(fromLayer)(x);
      return push.apply(this, arguments);
    };
  }
  const a = W.analytics;
  if (a && !a._ty) {
    a._ty = 1;
    // Calls queued before analytics.js loaded, then the stub's and the real track.
    if (Array.isArray(a)) a.forEach(guard((c) => c[0] == "track" && segment(c[1], c[2])));
    wrapSegment(a);
    if (a.ready) a.ready(guard(() => wrapSegment(W.analytics)));
  }
};

// A theme's own add-to-cart form (Shopify /cart/add, WooCommerce add-to-cart,
// Magento /checkout/cart/add) on a product page, for stores with no dataLayer
// events: seen in the capture phase, before the theme's script takes it over.
export const watchCartForms = () =>
  on(D, "submit", (e) => {
    const f = e.target;
    const item = S.page.item;
    if (!item || !/cart\/add|add-to-cart/.test(f.getAttribute("action") + (f.querySelector("[name=add-to-cart]") ? "add-to-cart" : ""))) return;
    const qty = f.querySelector("[name=quantity],[name=qty]");
    const quantity = +(qty && qty.value) || 1;
    track("add_to_cart", {
      items: [{ ...item, quantity }],
      value: item.price * quantity || undefined,
      currency: item.currency,
    });
  }, true);
