// The console's only script (CSP: no inline script). Pages work without it; it adds
// the import's live progress and the sign-in's expiry.
"use strict";

(function () {
  // A running import: poll its state and move the bar until it is done.
  function watchProgress(element) {
    const url = element.getAttribute("data-progress-url");
    const bar = element.querySelector("progress");
    const label = element.querySelector("[data-progress-label]");
    async function poll() {
      let state;
      try {
        const response = await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) { setTimeout(poll, 2000); return; }
        state = await response.json();
      } catch (error) {
        setTimeout(poll, 2000);
        return;
      }
      if (bar) { bar.value = state.percent; }
      if (label) { label.textContent = state.label; }
      if (state.finished) {
        window.location.assign(state.result_url);
      } else {
        setTimeout(poll, 500);
      }
    }
    poll();
  }

  // The sign-in's end: when its token expires, go to the sign-in page and say why.
  function watchExpiry(element) {
    const expiresAt = Number(element.getAttribute("data-expires-at")) * 1000;
    const target = element.getAttribute("data-expired-url");
    const wait = expiresAt - Date.now();
    if (wait > 0 && wait < 2147483647) {
      setTimeout(function () { window.location.assign(target); }, wait + 1000);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(watchProgress);
    document.querySelectorAll("[data-expires-at]").forEach(watchExpiry);
  });
})();
