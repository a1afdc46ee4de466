// Turning what happened into Tarry's events: the schema's fields only (the server
// refuses unknown ones), ids made here so a retry is counted once, and the
// visitor's cart, recent items and carousel clicks remembered for later pages.
import { S, session, visitor } from "./state.js";
import { enqueue } from "./transport.js";
import { W, D, getJSON, setJSON, rid, now } from "./util.js";

const ITEM = ["item_id", "item_name", "item_category", "item_brand", "price", "quantity", "image", "url", "availability"];
const EVENT = ["value", "currency", "transaction_id", "coupon", "engaged_ms", "popup_id", "variant", "placement", "rec_id", "trigger"];
const DAY = 864e5;

const str = (v, n) => (v == null || v === "" ? undefined : String(v).slice(0, n || 512));
const num = (v) => {
  const x = parseFloat(v);
  return x >= 0 && x < 1e9 ? x : undefined;
};

export const item = (x) => {
  if (!x || x.item_id == null) return;
  const out = {};
  for (const k of ITEM) {
    let v = x[k];
    if (k == "price") v = num(v);
    else if (k == "quantity") v = v == null ? undefined : Math.max(0, Math.round(num(v) || 0));
    else v = str(v, k == "item_id" ? 128 : k == "image" || k == "url" ? 2048 : 512);
    if (v !== undefined) out[k] = v;
  }
  return out;
};

// Remembers what later pages need: the cart, recent items, clicked carousel items.
const remember = (type, items, ev) => {
  const ids = items.map((i) => i.item_id);
  let cart = getJSON("_ty_cart", { i: [], v: 0 });
  if (type == "add_to_cart") cart.i = cart.i.filter((i) => ids.indexOf(i) < 0).concat(ids);
  if (type == "remove_from_cart") cart.i = cart.i.filter((i) => ids.indexOf(i) < 0);
  if (type == "view_cart") cart.i = ids;
  if (type == "purchase") cart = { i: [], v: 0 };
  if (/cart/.test(type)) cart.v = ev.value != null ? ev.value : items.reduce((s, i) => s + (i.price || 0) * (i.quantity || 1), 0);
  setJSON("_ty_cart", { i: cart.i.slice(-50), v: cart.v });
  if (type == "view_item") setJSON("_ty_h", getJSON("_ty_h", []).filter((i) => ids.indexOf(i) < 0).concat(ids).slice(-20));
  if (/add_to_cart|purchase/.test(type) && !ev.rec_id) {
    // A product clicked in a carousel in the last 24 h: carry its rec_id along.
    const recs = getJSON("_ty_r", {});
    for (const i of ids) if (recs[i] && now() - recs[i][1] < DAY) ev.rec_id = recs[i][0];
  }
};

export const cart = () => getJSON("_ty_cart", { i: [], v: 0 });
export const history = () => getJSON("_ty_h", []);
export const clicked = (id, rec) => {
  const recs = getJSON("_ty_r", {});
  recs[id] = [rec, now()];
  const keys = Object.keys(recs);
  if (keys.length > 50) delete recs[keys[0]];
  setJSON("_ty_r", recs);
};

let seen = {};
export const newPage = () => (seen = {});

export const track = (type, data) => {
  if (S.off) return;
  data = data || {};
  const items = (data.items || []).map(item).filter(Boolean).slice(0, 200);
  // The same product event from two sources (JSON-LD and dataLayer, say) counts once.
  const sig = type + items.map((i) => i.item_id).join();
  if (items.length && /view_item|add|remove|purchase|cart|checkout/.test(type)) {
    if (seen[sig] && (type == "view_item" || now() - seen[sig] < 1500)) return;
    seen[sig] = now();
  }
  const ev = {
    id: rid(),
    type,
    ts: now(),
    vid: visitor(),
    sid: session(1),
    url: str(location.href, 2048),
    page_type: S.page.type,
  };
  for (const k of EVENT) {
    let v = data[k];
    if (k == "value") v = num(v);
    else if (k == "engaged_ms") v = v == null ? undefined : Math.round(v);
    else if (k == "currency") v = /^[A-Za-z]{3}$/.test(v || "") ? v.toUpperCase() : undefined;
    else v = str(v, 64);
    if (v !== undefined) ev[k] = v;
  }
  if (items.length) ev.items = items;
  if (type == "page_view") {
    ev.title = str(D.title);
    ev.ref = str(D.referrer, 2048);
    Object.assign(ev, S.utm);
  }
  remember(type, items, ev);
  enqueue(ev);
};
