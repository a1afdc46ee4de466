// Figures that change while the page is open: visitors now ([data-live]), the
// install check ([data-install-check], green once events arrive) and a model being
// trained ([data-training]). Each polls a small JSON endpoint of the dashboard.
(function () {
  "use strict";
  function poll(url, every, handle) {
    var stopped = false;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data && handle(data) === false) stopped = true; })
        .catch(function () {})
        .then(function () { if (!stopped) setTimeout(tick, every); });
    }
    tick();
  }
  function count(el, n) {
    var target = el.querySelector("data[data-fmt]");
    if (!target) return;
    target.setAttribute("value", String(n));
    target.textContent = String(n);
    if (window.tarryFormat) window.tarryFormat(el);
  }

  var live = document.querySelector("[data-live]");
  if (live) poll(live.getAttribute("data-live"), 10000, function (data) { count(live, data.visitors); });

  var check = document.querySelector("[data-install-check]");
  if (check) {
    poll(check.getAttribute("data-install-check"), 3000, function (data) {
      if (data.events_30_minutes > 0) {
        check.classList.add("ok");
        check.querySelector("[data-waiting]").hidden = true;
        check.querySelector("[data-arrived]").hidden = false;
        return false;
      }
    });
  }

  var training = document.querySelector("[data-training]");
  if (training && training.getAttribute("data-running") === "true") {
    var log = training.querySelector("[data-log]"), state = training.querySelector("[data-state]");
    poll(training.getAttribute("data-training"), 1000, function (data) {
      log.textContent = data.lines.join("\n");
      log.hidden = !data.lines.length;
      log.scrollTop = log.scrollHeight;
      state.textContent = data.label;
      if (!data.running) {
        setTimeout(function () { location.reload(); }, 1200);
        return false;
      }
    });
  }
})();
