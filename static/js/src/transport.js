// Delivery that loses nothing. Every batch goes into an outbox in localStorage
// before it is sent and leaves it only when the server has answered; a failed
// send (no network, 429, 5xx) is retried with backoff on this page or a later
// one. Events carry client-made ids, so a batch sent twice is counted once.
import { S } from "./state.js";
import { W, get, set, getJSON, setJSON, rid, now } from "./util.js";

const MAX = 500; // events kept in the outbox; the oldest go first past it
const AGE = 46 * 36e5; // the server refuses events older than 47 hours
let queue = [];
let timer = 0;
let busy = 0;
let wait = 0;

const outbox = () => getJSON("_ty_o", []); // [[batch id, time, events], ...]

const save = (list) => {
  let kept = 0;
  let dropped = 0;
  const out = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const b = list[i];
    if (kept + b[2].length > MAX || now() - b[1] > AGE) dropped += b[2].length;
    else (kept += b[2].length), out.unshift(b);
  }
  if (dropped) set("_ty_d", +(get("_ty_d") || 0) + dropped);
  setJSON("_ty_o", out);
};

export const enqueue = (e) => {
  queue.push(e);
  if (queue.length >= 20) flush();
  else if (!timer) timer = setTimeout(flush, 2e3);
};

// Move the queue to the outbox and send; `leaving`: by beacon, the page is going.
export const flush = (leaving) => {
  clearTimeout(timer);
  timer = 0;
  if (S.off) queue = []; // consent withdrawn: what was waiting goes too
  if (queue.length) {
    const list = outbox();
    list.push([rid(), now(), queue]);
    queue = [];
    save(list);
  }
  send(leaving);
};

const send = (leaving) => {
  if (!S.key || S.off || (busy && !leaving)) return;
  const list = outbox();
  const ids = [];
  let events = [];
  for (const b of list) {
    if (events.length + b[2].length > 100) break;
    ids.push(b[0]);
    events = events.concat(b[2]);
  }
  if (!events.length) return;
  const url = S.base + "/v1/collect";
  const body = JSON.stringify({ k: S.key, events, sent_at: now() });
  if (leaving) {
    // A beacon's fate is unknown: the batch stays in the outbox and is sent again
    // from the next page; the server counts it once.
    const n = W.navigator;
    if (n.sendBeacon) n.sendBeacon(url, body);
    return;
  }
  busy = 1;
  const done = (ok, retry) => {
    busy = 0;
    if (ok) {
      wait = 0;
      save(outbox().filter((b) => ids.indexOf(b[0]) < 0));
      if (ok > 1) set("_ty_d", +(get("_ty_d") || 0) + events.length);
      if (outbox().length) send();
    } else {
      wait = Math.min(6e4, (wait || 500) * 2);
      setTimeout(send, Math.max(wait, retry * 1e3 || 0));
    }
  };
  fetch(url, {
    method: "POST",
    body,
    keepalive: body.length < 6e4,
    credentials: "omit",
    headers: { "Content-Type": "text/plain" },
  }).then(
    (r) => {
      const s = r.status;
      // Kept for later: the server is busy or down. Dropped (2): it refused them.
      if (s == 429 || s >= 500) done(0, +r.headers.get("Retry-After"));
      else done(s < 300 ? 1 : 2);
    },
    () => done(0)
  );
};

export const resend = () => send();
