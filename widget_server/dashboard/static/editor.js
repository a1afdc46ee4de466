// The rule editor's live preview: a moment after the merchant stops typing, the
// form goes to the server, which checks it as the API would and renders the popup
// as shoppers see it; the frames show the new page (srcdoc: no new request for the
// frame, and the page's own CSP still holds), and the API's errors appear beside
// their inputs. Nothing is saved until the form is submitted.
(function () {
  "use strict";
  var form = document.getElementById("rule-form");
  if (!form || !window.fetch || !window.FormData) return;
  var frames = [document.getElementById("preview-desktop"), document.getElementById("preview-phone")];
  var status = document.getElementById("preview-status");
  var timer = 0, sent = 0, shown = 0;

  function say(key) { if (status) status.textContent = status.getAttribute("data-" + key) || ""; }

  function clearErrors() {
    var old = form.querySelectorAll("[data-error-for]");
    for (var i = 0; i < old.length; i++) {
      old[i].textContent = "";
      var input = document.getElementById(old[i].getAttribute("data-error-for"));
      var field = old[i].closest(".field");
      if (field) field.classList.remove("invalid");
      if (input) input.removeAttribute("aria-invalid");
    }
  }

  function showErrors(errors) {
    clearErrors();
    for (var i = 0; i < errors.length; i++) {
      var e = errors[i];
      if (!e.input) continue;
      var slot = document.getElementById(e.input + "-error");
      if (!slot) continue;
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + e.error;
      var field = slot.closest(".field");
      if (field) field.classList.add("invalid");
      var folded = slot.closest("details");
      if (folded) folded.open = true;
      var input = document.getElementById(e.input);
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }

  function refresh() {
    var mine = ++sent;
    say("updating");
    fetch(form.getAttribute("data-preview"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json();
    }).then(function (answer) {
      if (mine < shown) return; // an older answer, overtaken
      shown = mine;
      showErrors(answer.errors || []);
      if (answer.document) {
        for (var i = 0; i < frames.length; i++) if (frames[i]) frames[i].srcdoc = answer.document;
        say("ok");
      } else {
        say("invalid");
      }
    }).catch(function () { /* offline: keep the last preview */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  }
  // The desktop frame is a 1024-pixel-wide page, scaled to the space it has.
  function fit() {
    var desktop = frames[0], box = desktop && desktop.parentElement;
    if (!box) return;
    var scale = box.clientWidth / 1024;
    desktop.style.transform = "scale(" + scale + ")";
    box.style.height = Math.round(640 * scale) + "px";
  }
  fit();
  window.addEventListener("resize", fit);
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  var variant = document.getElementById("preview-variant");
  if (variant) variant.addEventListener("change", refresh);
})();
