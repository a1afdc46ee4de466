// What page this is, and the product on it: schema.org JSON-LD first, Open Graph
// as a fallback, URL patterns and a `data-tarry-page` attribute for the page type.
import { S } from "./state.js";
import { D, W, guard } from "./util.js";

const meta = (p) => {
  const m = D.querySelector('meta[property="' + p + '"],meta[name="' + p + '"]');
  return m && m.content;
};

// "1,299.00", "1.299,00", "19,90 €": the last separator followed by one or two
// digits is the decimal point; the others group thousands.
const amount = (v) => {
  if (typeof v != "string") return v;
  v = v.replace(/[^\d.,]/g, "");
  const m = v.match(/^(.*)[.,](\d{1,2})$/);
  return m ? m[1].replace(/[.,]/g, "") + "." + m[2] : v.replace(/[.,]/g, "");
};

const first = (x) => (Array.isArray(x) ? x[0] : x);
const text = (x) => (x == null ? undefined : String(first(x) && first(x).name ? first(x).name : first(x)));

const products = (node, out) => {
  if (!node || typeof node != "object") return out;
  if (Array.isArray(node)) node.forEach((n) => products(n, out));
  else {
    const t = node["@type"];
    // ProductGroup: a product with variants (Shopify, Google's structured data).
    if (/^Product(Group)?$/.test(t) || (Array.isArray(t) && t.indexOf("Product") >= 0)) out.push(node);
    products(node["@graph"], out);
  }
  return out;
};

// A ProductGroup's variants (Shopify's `structured_data` on every product with
// variants, Google's variant markup) are under hasVariant, each with its SKU, name
// and offer: the one the address selects (`?variant=123` in its @id or offer url),
// else the first on sale, as the page shows it; else the first.
const variantOf = (p) => {
  const all = [].concat(p.hasVariant).filter((v) => v);
  const id = location.search.match(/variant=(\d+)/);
  return (
    all.find((v) => id && RegExp("variant=" + id[1] + "\\D").test(JSON.stringify(v))) ||
    all.find((v) => !/OutOf|Sold/i.test((first(v.offers) || {}).availability)) ||
    all[0] ||
    {}
  );
};

const fromLd = () => {
  for (const s of D.querySelectorAll('script[type="application/ld+json"]')) {
    let p;
    try {
      p = products(JSON.parse(s.textContent), [])[0];
    } catch (e) {}
    if (!p) continue;
    const v = variantOf(p);
    const o = first(v.offers) || first(p.offers) || {};
    const img = first(v.image) || first(p.image);
    return {
      item_id: text(v.sku || p.sku || o.sku || p.productID || p.productGroupID || p.mpn || p.gtin13 || p["@id"] || p.url),
      item_name: text(v.name || p.name),
      item_category: text(p.category),
      item_brand: text(p.brand),
      price: amount(o.price != null ? o.price : o.lowPrice),
      currency: o.priceCurrency,
      availability: o.availability,
      image: img && (img.url || img),
      url: p.url || o.url || location.href,
    };
  }
};

// Open Graph, with the SKU of the page's microdata where it has none of its own
// (Magento's and PrestaShop's themes: `<div itemprop="sku">24-MB01</div>`), the id
// their order exports carry, rather than the page's address.
const fromOg = () => {
  if (!/product/.test(meta("og:type"))) return;
  const sku = D.querySelector("[itemprop=sku]");
  const url = meta("og:url") || location.href;
  return {
    item_id: meta("product:retailer_item_id") || meta("product:sku") || (sku && (sku.content || sku.textContent.trim())) || url,
    item_name: meta("og:title"),
    price: amount(meta("product:price:amount") || meta("og:price:amount")),
    currency: meta("product:price:currency") || meta("og:price:currency"),
    availability: meta("product:availability") || meta("og:availability"),
    image: meta("og:image"),
    url,
  };
};

// The folder of an address: "/shop/index.php", "/shop/home", "/shop" are "/shop/".
const folder = (u) => new URL(u, location).pathname.toLowerCase().replace(/(\/(index|home)(\.\w+)?)?\/?$/, "/");

// An address of the shop's home: its root, with no parameters but campaign ones
// (`/?p=12`, `/index.php?route=...` are other pages).
const atRoot = guard((u, root) =>
  folder(u) == root && [...new URL(u, location).searchParams.keys()].every((k) => /^utm_|clk?id$|^(_gl|ref)$/.test(k)));

// The address, or what the page says it is: its canonical link, or Open Graph's url
// where og:type is website (on other pages that names the page itself); else the
// platform's own mark: WordPress's body class for the front page (WooCommerce's
// too), Magento's home controller, Shopify themes' template, OpenCart's route,
// PrestaShop's page name, Shopify's analytics (guarded: not there elsewhere).
const home = guard((root) => {
  const link = D.querySelector("link[rel=canonical]");
  return [location.href, link && link.href, meta("og:type") == "website" && meta("og:url")].some((u) => atRoot(u, root)) ||
    D.querySelector("body.home,body.cms-index-index,body.template-index,body.common-home,body#index") ||
    W.ShopifyAnalytics.meta.page.pageType == "home";
});

// In this order: Magento's cart is /checkout/cart/, its confirmation
// /checkout/onepage/success/; WooCommerce's /checkout/order-received/. A search
// from the home page (`/?s=lamp`) is a search; a home at /shop/ is no category.
const PATTERNS = [
  [/thank|order-received|order-confirm|confirmation|\/success/, "thank_you"],
  [/\/(cart|basket|bag)(\/|\.|\?|$)/, "cart"],
  [/checkout/, "checkout"],
  [/\/search|[?&](q|s|query)=/, "search"],
  [0, "home"], // home()
  [/\/products?\/[^/]+/, "product"],
  [/\/(collections?|(product-)?categor(y|ies)|c|shop|department)\//, "category"],
];

// `hint`: a page type the GA4 events on the page implied (view_item: product...).
export const detect = (hint) => {
  const item = fromLd() || fromOg();
  const forced = D.querySelector("[data-tarry-page]");
  let type = forced && forced.getAttribute("data-tarry-page");
  const loc = location;
  // The shop's root folder: where `data-home` puts it (a shop under /shop/), else
  // the site's; a mistyped `data-home` is ignored rather than stop the snippet.
  const root = guard(folder)(S.home || "/") || "/";
  let path = (loc.pathname + loc.search).toLowerCase();
  // Under the shop's root the platform's addresses start again: /shop/cart is /cart.
  if (!path.indexOf(root)) path = path.slice(root.length - 1);
  if (!type && item) type = "product";
  if (!type) for (const [re, t] of PATTERNS) if (re ? re.test(path) : home(root)) { type = t; break; }
  return { type: type || hint || "other", item, title: D.title };
};

export const utm = () => {
  const q = new URLSearchParams(location.search);
  const u = {};
  for (const k of ["source", "medium", "campaign", "term", "content"]) {
    const v = q.get("utm_" + k);
    if (v) u["utm_" + k] = v.slice(0, 200);
  }
  return u;
};
