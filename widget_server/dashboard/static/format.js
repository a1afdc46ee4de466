// Every page: numbers, money and dates in the store's locale (Intl: its digits, its
// calendar: Solar Hijri for fa-IR), from the values the server put in data-* and
// value/datetime attributes (the text it wrote is the fallback); copy buttons; and
// form parts shown only for the choice that needs them.
(function () {
  "use strict";
  var root = document.documentElement;
  var locale = root.getAttribute("data-locale") || "en";
  var currency = root.getAttribute("data-currency") || "USD";
  var zone = root.getAttribute("data-timezone") || "UTC";
  var pp = root.getAttribute("data-pp") || "pp";
  var made = {};

  function make(kind, key, options) {
    var id = kind + key;
    if (!made[id]) {
      var Make = kind === "n" ? Intl.NumberFormat : Intl.DateTimeFormat;
      try { made[id] = new Make(locale, options); } catch (e) { made[id] = new Make("en", options); }
    }
    return made[id];
  }
  function number(key, options) { return make("n", key, options); }
  function dates(key, options) { return make("d", key, options); }
  function day(v) { return new Date(v.slice(0, 10) + "T00:00:00Z"); }
  function digits(el, fallback) {
    var d = el.getAttribute("data-digits");
    return d === null ? fallback : +d;
  }

  var formats = {
    number: function (v, el) {
      var d = digits(el, 0);
      return number("n" + d, { minimumFractionDigits: d, maximumFractionDigits: d }).format(+v);
    },
    percent: function (v, el) {
      var d = digits(el, 1);
      return number("p" + d, { style: "percent", minimumFractionDigits: d, maximumFractionDigits: d }).format(+v);
    },
    money: function (v, el) {
      var code = el.getAttribute("data-currency") || currency;
      try {
        return number("m" + code, { style: "currency", currency: code }).format(+v);
      } catch (e) {
        return number("n2", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(+v) + " " + code;
      }
    },
    change: function (v) {
      return number("c", { style: "percent", maximumFractionDigits: 0, signDisplay: "exceptZero" }).format(+v);
    },
    points: function (v) {
      return number("pt", { minimumFractionDigits: 1, maximumFractionDigits: 1, signDisplay: "exceptZero" }).format(v * 100) + "\u00a0" + pp;
    },
    duration: function (v) {
      var m = Math.floor(v / 60), s = Math.round(v % 60);
      var sec = number("sec", { style: "unit", unit: "second", unitDisplay: "narrow" }).format(s);
      return m ? number("min", { style: "unit", unit: "minute", unitDisplay: "narrow" }).format(m) + " " + sec : sec;
    },
    "delta-seconds": function (v) {
      return number("ds", { style: "unit", unit: "second", unitDisplay: "narrow", signDisplay: "exceptZero" }).format(+v);
    },
    month: function (v) {
      var calendar = dates("d", { dateStyle: "medium", timeZone: "UTC" }).resolvedOptions().calendar;
      if (calendar !== "gregory" && calendar !== "iso8601") return formats.date(v);
      return dates("mo", { year: "numeric", month: "long", timeZone: "UTC" }).format(day(v));
    },
    date: function (v) { return dates("d", { dateStyle: "medium", timeZone: "UTC" }).format(day(v)); },
    "date-short": function (v) { return dates("ds", { month: "short", day: "numeric", timeZone: "UTC" }).format(day(v)); },
    hour: function (v) { return dates("h", { dateStyle: "medium", timeStyle: "short", timeZone: zone }).format(new Date(v)); },
    "hour-short": function (v) { return dates("hs", { hour: "numeric", minute: "2-digit", timeZone: zone }).format(new Date(v)); },
    datetime: function (v) { return dates("dt", { dateStyle: "medium", timeStyle: "short" }).format(new Date(v)); }
  };

  function format(scope) {
    var found = (scope || document).querySelectorAll("[data-fmt]");
    for (var i = 0; i < found.length; i++) {
      var el = found[i], how = formats[el.getAttribute("data-fmt")];
      var v = el.getAttribute("value") || el.getAttribute("datetime") || el.getAttribute("data-value");
      if (!how || v === null || v === "") continue;
      try { el.textContent = how(v, el); } catch (e) { /* keep the server's text */ }
    }
  }

  // Month to date, in the locale's own calendar: the server linked the first of the
  // Gregorian month; move the start to the first of this month where it differs.
  function monthStart() {
    var link = document.querySelector('a[data-preset="mtd"]');
    if (!link) return;
    try {
      var calendar = new Intl.DateTimeFormat(locale).resolvedOptions().calendar;
      if (calendar === "gregory" || calendar === "iso8601") return;
      var parts = new Intl.DateTimeFormat(locale + "-u-nu-latn", { day: "numeric", timeZone: zone }).formatToParts(new Date());
      var dayOfMonth = 0;
      for (var i = 0; i < parts.length; i++) if (parts[i].type === "day") dayOfMonth = +parts[i].value;
      var url = new URL(link.href, location.href), to = url.searchParams.get("to");
      if (!dayOfMonth || !to) return;
      var first = new Date(day(to).getTime() - (dayOfMonth - 1) * 86400000);
      url.searchParams.set("from", first.toISOString().slice(0, 10));
      link.href = url.pathname + url.search;
    } catch (e) { /* the Gregorian month stays */ }
  }

  function copyButtons() {
    var buttons = document.querySelectorAll("[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) {
        var button = event.currentTarget, source = document.getElementById(button.getAttribute("data-copy"));
        if (!source || !navigator.clipboard) return;
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          var was = button.textContent;
          button.textContent = button.getAttribute("data-copied") || "Copied";
          setTimeout(function () { button.textContent = was; }, 2000);
        });
      });
    }
  }

  // <fieldset data-when="trigger.type=time_on_page,inactivity">: shown only while the
  // control of that name has one of those values (or is checked, for "=on").
  function choices() {
    var parts = document.querySelectorAll("[data-when]");
    if (!parts.length) return;
    function current(form, name) {
      var control = form.elements.namedItem(name);
      if (!control) return null;
      // A checkbox comes with a hidden "false" of the same name: find the box.
      if (control.length !== undefined && !control.options) {
        for (var i = 0; i < control.length; i++) if (control[i].type === "checkbox") control = control[i];
      }
      if (control.type === "checkbox") return control.checked ? "on" : "off";
      return control.value;
    }
    function update() {
      for (var i = 0; i < parts.length; i++) {
        var part = parts[i], rule = part.getAttribute("data-when").split("=");
        var form = part.closest("form");
        if (!form) continue;
        var value = current(form, rule[0]);
        part.hidden = value !== null && rule[1].split(",").indexOf(value) < 0;
      }
    }
    document.addEventListener("change", update);
    update();
  }

  window.tarryFormat = format;
  format();
  monthStart();
  copyButtons();
  choices();
})();
