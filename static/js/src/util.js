// Small helpers shared by every part of the snippet. Nothing here may throw into
// the store's page: storage can be disabled, cookies blocked, APIs missing.
export const W = window;
export const D = document;
export const now = () => Date.now();

// Runs `fn`, swallowing any error: a failure of Tarry must never reach the page.
export const guard = (fn) =>
  function () {
    try {
      return fn.apply(this, arguments);
    } catch (e) {
      return undefined;
    }
  };

// 128 random bits, URL-safe: visitor, session, event and batch ids.
export const rid = () => {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode.apply(null, b)).replace(/[+/=]/g, (c) => (c == "+" ? "-" : c == "/" ? "_" : ""));
};

let ls = null;
try {
  ls = W.localStorage;
  ls.setItem("_ty", "1");
  ls.removeItem("_ty");
} catch (e) {
  ls = null;
}

// First-party storage: localStorage, else a cookie for the small things (`small`).
export const get = (k) => {
  try {
    if (ls) return ls.getItem(k);
  } catch (e) {}
  const m = D.cookie.match(new RegExp("(?:^|; )" + k + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : null;
};

export const set = (k, v, small) => {
  try {
    if (ls) return v == null ? ls.removeItem(k) : ls.setItem(k, v);
  } catch (e) {}
  if (small)
    D.cookie =
      k + "=" + (v == null ? ";max-age=0" : encodeURIComponent(v) + ";max-age=34560000") + ";path=/;SameSite=Lax";
};

export const getJSON = (k, d) => {
  try {
    return JSON.parse(get(k)) || d;
  } catch (e) {
    return d;
  }
};
export const setJSON = (k, v, small) => set(k, JSON.stringify(v), small);

export const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
export const web = (u) => (/^https?:\/\//.test(u || "") ? u : "");
export const on = (t, e, f, o) => t.addEventListener(e, guard(f), o);
