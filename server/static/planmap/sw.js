/* planmap field app service worker: the app shell from the cache, field pages network-first with the cached
   copy when there is no network, basemap tiles and project data downloaded for offline use. Only planmap's
   own origin is ever fetched; writes (POST) are never touched here: the page's outbox queues them. */
"use strict";

var VERSION = "__PLANMAP_VERSION__";
var SHELL = ["__PLANMAP_SHELL__"];
var SHELL_CACHE = "planmap-shell-" + VERSION;
var PAGES_CACHE = "planmap-pages";  // field pages, kept across versions (downloaded or visited)
var DATA_CACHE = "planmap-data";    // project GeoJSON and basemap tiles of the downloaded area

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    return cache.addAll(SHELL.map(function (url) { return new Request(url, { cache: "reload", credentials: "same-origin" }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("planmap-shell-") === 0 && name !== SHELL_CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

/* The key a field page is cached under: the nearby page once whatever its position (the list is rebuilt
   from the downloaded data when offline), other pages by path (the language switch aside). */
function pageKey(url) {
  if (url.pathname === "/map/nearby") return url.origin + "/map/nearby";
  return url.origin + url.pathname;
}

function isFieldPage(url) {
  return url.pathname === "/map/nearby" || url.pathname.indexOf("/map/report/") === 0 || url.pathname.indexOf("/p/") === 0;
}

function cacheable(response) {
  return response && response.ok && response.type === "basic" && !response.redirected;
}

function page(request, url) {
  return fetch(request).then(function (response) {
    if (isFieldPage(url) && cacheable(response)) {
      var copy = response.clone();
      caches.open(PAGES_CACHE).then(function (cache) { return cache.put(pageKey(url), copy); });
    }
    return response;
  }).catch(function () {
    // the page as last seen (visited or downloaded) before the shell's blank copy
    return caches.open(PAGES_CACHE).then(function (cache) { return cache.match(pageKey(url)); }).then(function (hit) {
      return hit || caches.match(pageKey(url));
    }).then(function (hit) {
      return hit || caches.match(url.origin + "/offline");
    }).then(function (hit) {
      return hit || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    });
  });
}

function cacheFirst(request, name) {
  return caches.match(request).then(function (hit) {
    if (hit) return hit;
    return fetch(request).then(function (response) {
      if (cacheable(response)) {
        var copy = response.clone();
        caches.open(name).then(function (cache) { return cache.put(request, copy); });
      }
      return response;
    });
  });
}

function networkFirst(request, name) {
  return fetch(request).then(function (response) {
    if (cacheable(response)) {
      var copy = response.clone();
      caches.open(name).then(function (cache) { return cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request).then(function (hit) {
      if (hit) return hit;
      throw new TypeError("offline and not cached: " + request.url);
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname === "/sw.js") return;
  if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(request, SHELL_CACHE));
  } else if (url.pathname.indexOf("/basemap/") === 0) {
    event.respondWith(cacheFirst(request, DATA_CACHE));
  } else if (url.pathname.indexOf("/map/data/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(request, DATA_CACHE));
  }
});
