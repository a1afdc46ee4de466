// What the snippet knows about this visitor, session and page.
import { get, set, getJSON, setJSON, rid, now } from "./util.js";

export const S = {
  key: "",
  base: "", // Tarry's origin, where t.js came from
  home: "", // `data-home`: the shop's home page where it is not the site's root
  page: {}, // type, item, title
  utm: {},
  cfg: {}, // store settings from decide, kept for the next page
};

const IDLE = 18e5; // 30 minutes

export const visitor = () => {
  let v = get("_ty_v");
  if (!v) set("_ty_v", (v = rid()), 1);
  return v;
};

// The session id, rotated after 30 idle minutes; `touch` marks activity.
export const session = (touch) => {
  const s = getJSON("_ty_s", null);
  const t = now();
  const fresh = !s || !s.i || !(t - s.t < IDLE);
  const i = fresh ? rid() : s.i;
  if (touch || fresh) setJSON("_ty_s", { i, t, u: fresh ? null : s.u }, 1);
  return i;
};

// UTM parameters of the visit's landing page, kept for the session.
export const sessionUtm = (u) => {
  session();
  const s = getJSON("_ty_s", {});
  if (u) setJSON("_ty_s", Object.assign(s, { u }), 1);
  return s.u || {};
};

export const KEYS = ["_ty_v", "_ty_s", "_ty_o", "_ty_d", "_ty_cart", "_ty_h", "_ty_r"];
export const forget = () => KEYS.forEach((k) => set(k, null, 1));
