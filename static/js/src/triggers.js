// When a popup appears. Exit intent on a desktop is the pointer leaving through the
// top of the window; on a phone, where exit-intent libraries do nothing, it is a
// quick scroll back up towards the address bar, the back button, or coming back to
// the tab after leaving it. Each firing names its signal (`trigger` of the event).
import { W, D, guard, now } from "./util.js";

const coarse = () => W.matchMedia && W.matchMedia("(pointer:coarse)").matches;
let start = now();
export const pageStart = () => (start = now());

// Calls fire(signal) once when the trigger's condition is met; returns a disarm.
export const arm = (t, fire) => {
  let done = 0;
  const timers = [];
  const offs = [];
  const go = (signal) => {
    if (done) return;
    done = 1;
    fire(signal);
  };
  const listen = (target, ev, f, o) => {
    const g = guard(f);
    target.addEventListener(ev, g, o);
    offs.push(() => target.removeEventListener(ev, g, o));
  };
  const later = (f, ms) => timers.push(setTimeout(f, ms));
  const type = t.type;
  if (type == "page_load") later(() => go("page_load"), 0);
  if (type == "time_on_page") later(() => go("time_on_page"), t.seconds * 1e3);
  if (type == "scroll_depth")
    listen(W, "scroll", () => {
      const h = D.documentElement.scrollHeight;
      if (((scrollY + innerHeight) / h) * 100 >= t.percent) go("scroll_depth");
    }, { passive: true });
  if (type == "inactivity") {
    let idle;
    const reset = () => {
      clearTimeout(idle);
      idle = setTimeout(() => go("inactivity"), t.seconds * 1e3);
      timers.push(idle);
    };
    for (const e of ["mousemove", "keydown", "scroll", "touchstart", "click"]) listen(W, e, reset, { passive: true });
    reset();
  }
  if (type == "exit_intent") {
    const ready = () => now() - start >= (t.min_seconds || 0) * 1e3;
    const min = t.sensitivity_px == null ? 20 : t.sensitivity_px;
    listen(D, "mouseout", (e) => {
      if (!e.relatedTarget && e.clientY <= min && ready()) go("exit_intent:mouse");
    });
    if (t.mobile !== false && coarse()) {
      let lastY = scrollY;
      let lastT = now();
      let deepest = 0;
      listen(W, "scroll", () => {
        const y = scrollY;
        const dt = now() - lastT;
        deepest = Math.max(deepest, y);
        // Fast (over 1.5 px/ms) and back near the top after reading further down.
        if (y < lastY && (lastY - y) / Math.max(dt, 1) > 1.5 && deepest > innerHeight && y < innerHeight && ready())
          go("exit_intent:scroll_up");
        lastY = y;
        lastT = now();
      }, { passive: true });
      let away = 0;
      listen(D, "visibilitychange", () => {
        if (D.hidden) away = 1;
        else if (away && ready()) go("exit_intent:tab_return");
      });
      // The back button: one extra history entry; going back to it is leaving.
      later(() => {
        if (done) return;
        history.pushState({ tarry: 1 }, "");
        listen(W, "popstate", (e) => {
          if (!(e.state && e.state.tarry)) go("exit_intent:back");
        });
      }, (t.min_seconds || 0) * 1e3);
    }
  }
  return () => {
    done = 1;
    timers.forEach(clearTimeout);
    offs.forEach((f) => f());
  };
};
