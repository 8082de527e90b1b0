// The citizens' pages' service worker: keeps the pages and their files so that a phone
// with no network still opens them and can store a report in its outbox.
// Pages: the network first, the kept copy when it fails. Static files: their URLs carry
// a digest of their content, so a kept copy is always right. Reports (POST) never pass here.
"use strict";

var CACHE = "yui-citizen-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/console/static/") === 0) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (kept) {
        return kept || fetch(request).then(function (response) {
          if (response.ok) { cache.put(request, response.clone()); }
          return response;
        });
      });
    }));
  } else if (url.pathname.indexOf("/console/citizen/") === 0 && request.mode === "navigate") {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }, function () {
      return caches.open(CACHE).then(function (cache) {
        return cache.match(request).then(function (kept) { return kept || Response.error(); });
      });
    }));
  }
});
