// The citizens' pages: an offline-first report outbox (CSP: no inline script, no framework).
//
// A report is first stored in this phone's IndexedDB outbox with the id made here (a
// UUID) and the time of the tap, then sent. Sending tries each site the server listed in
// the page, in order ("" is this page's own site): a network error, a timeout or a 5xx
// answer moves on to the next. A report leaves the outbox only when a site answered it
// (201 new, 200 already recorded: the same id is recorded once, so a resend after a lost
// answer is harmless) or refused it for good (4xx). It stays, and is sent again when the
// network returns, when the page is next opened, and every 20 s meanwhile.
"use strict";

(function () {
  var DATABASE = "yui-citizen";
  var STORE = "outbox";
  var TIMEOUT_MS = 8000;
  var RETRY_MS = 20000;
  var flushing = null;

  function openOutbox() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function inStore(mode, work) {
    return openOutbox().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(STORE, mode);
        var result = work(transaction.objectStore(STORE));
        transaction.oncomplete = function () { db.close(); resolve(result && result.result); };
        transaction.onerror = function () { db.close(); reject(transaction.error); };
      });
    });
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // One site: "delivered", "refused" (with the problem's text), or "next" (try another).
  function sendTo(base, entry) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    return fetch(base + entry.endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(entry.body),
      credentials: "omit",
      mode: base ? "cors" : "same-origin",
      signal: controller.signal
    }).then(function (response) {
      clearTimeout(timer);
      if (response.ok) { return { outcome: "delivered" }; }
      if (response.status >= 500 || response.status === 429) { return { outcome: "next" }; }
      return response.json().then(function (problem) {
        return { outcome: "refused", detail: String(problem.title || problem.detail || response.status) };
      }, function () { return { outcome: "refused", detail: String(response.status) }; });
    }, function () {
      clearTimeout(timer);
      return { outcome: "next" };
    });
  }

  function sendEntry(entry) {
    var sites = entry.sites.length ? entry.sites : [""];
    function attempt(index) {
      if (index >= sites.length) { return Promise.resolve({ outcome: "kept" }); }
      return sendTo(sites[index], entry).then(function (result) {
        return result.outcome === "next" ? attempt(index + 1) : result;
      });
    }
    return attempt(0);
  }

  // Send everything in the outbox once (one flush at a time in this page, one per
  // browser where Web Locks exist: two tabs never send the same report together).
  function flush() {
    if (flushing) { return flushing; }
    var run = function () {
      return inStore("readonly", function (store) { return store.getAll(); }).then(function (entries) {
        return entries.reduce(function (previous, entry) {
          return previous.then(function () {
            return sendEntry(entry).then(function (result) {
              if (result.outcome === "kept") { show(entry, "queued"); return null; }
              return inStore("readwrite", function (store) { return store.delete(entry.id); }).then(function () {
                show(entry, result.outcome === "delivered" ? "sent" : "refused", result.detail);
              });
            });
          });
        }, Promise.resolve());
      });
    };
    var locked = navigator.locks ? navigator.locks.request("yui-citizen-outbox", run) : run();
    flushing = locked.then(function () { flushing = null; }, function () { flushing = null; });
    return flushing;
  }

  function show(entry, state, detail) {
    var status = document.querySelector("[data-outbox-status]");
    if (!status || (state !== "queued" && entry.page !== window.location.pathname)) { return; }
    status.textContent = status.getAttribute("data-text-" + state) + (detail || "");
    status.setAttribute("data-state", state);
    status.className = "outbox-status alert " + (state === "sent" ? "alert-ok" : state === "refused" || state === "incomplete" ? "alert-error" : "alert-info");
    // what was typed stays until the report is delivered (a refusal lets it be corrected)
    if (state === "sent") {
      document.querySelectorAll("form[data-report]").forEach(function (form) { form.reset(); });
    }
  }

  // The open form's own rule (the API's): a full name, and a birth date or a district.
  // Checked here so that a report queued offline is not refused later, when no one is
  // looking at the page any more.
  function describesSomeone(body) {
    if (!("given_name" in body)) { return true; }
    var named = (body.family_name && body.given_name) || (body.family_kana && body.given_kana);
    return Boolean(named && (body.birth_date || body.town_name));
  }

  function bodyOf(form, submitter) {
    var body = {};
    new FormData(form).forEach(function (value, name) { body[name] = String(value).trim(); });
    if (submitter && submitter.name) { body[submitter.name] = submitter.value; }
    if ("birth_date" in body && !body.birth_date) { body.birth_date = null; }
    body.id = newId();
    // fixed at the tap: a resend is the same report
    body.reported_at = new Date().toISOString();
    return body;
  }

  function watchForm(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var entry = {
        id: "",
        endpoint: form.getAttribute("data-endpoint"),
        sites: JSON.parse(form.getAttribute("data-sites") || "[\"\"]"),
        page: window.location.pathname,
        body: bodyOf(form, event.submitter)
      };
      entry.id = entry.body.id;
      if (!describesSomeone(entry.body)) { show(entry, "incomplete"); return; }
      show(entry, "sending");
      inStore("readwrite", function (store) { return store.put(entry); }).then(flush);
    });
  }

  // This page and its files into the service worker's cache now, so that it opens with
  // no network even if it was loaded before the worker took over (the name is sw.js's).
  function keepForOffline() {
    if (!window.caches) { return; }
    var files = [window.location.pathname];
    document.querySelectorAll("link[rel=stylesheet], script[src]").forEach(function (element) {
      files.push(element.getAttribute("href") || element.getAttribute("src"));
    });
    caches.open("yui-citizen-v1").then(function (cache) { return cache.addAll(files); }).catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-report]").forEach(watchForm);
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/console/citizen/sw.js", { scope: "/console/citizen/" });
      keepForOffline();
    }
    flush();
    window.addEventListener("online", flush);
    setInterval(flush, RETRY_MS);
  });
})();
