/* Hallvakt central: live updates for pages that have them (progressive
   enhancement: every page works without this script).

   An element with data-live="URL" is refreshed from URL (the same page with
   ?fragment=1) every data-live-every ms of <body>. Its content is replaced only
   when it changed; focus stays on the element it was on when that element is
   still there. A changed data-announce text, or a new top entry
   (data-announce-new), is spoken through the page's status region. A region
   whose content says data-final="1" stops refreshing. The pause button stops
   every refresh (WCAG 2.2.2). A session that ended sends the page to sign-in. */
(function () {
  "use strict";
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  if (!regions.length || !window.fetch) { return; }
  var every = parseInt(document.body.getAttribute("data-live-every"), 10) || 4000;
  var toggle = document.getElementById("live-toggle");
  var stamp = document.getElementById("live-stamp");
  var status = document.getElementById("live-status");
  var paused = false;

  function remember(region) {
    var a = region.querySelector("[data-announce]");
    var n = region.querySelector("[data-announce-new]");
    region.hvAnnounce = a ? a.getAttribute("data-announce") : null;
    region.hvNew = n ? n.getAttribute("data-announce-new") : null;
    if (region.querySelector("[data-final='1']")) { region.removeAttribute("data-live"); }
  }

  function say(text) {
    if (!status || !text) { return; }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function swap(region, html) {
    var focused = document.activeElement;
    var focusId = focused && region.contains(focused) ? focused.id : "";
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var before = { a: region.hvAnnounce, n: region.hvNew };
    region.replaceChildren(tpl.content);
    remember(region);
    if (focusId) {
      var again = document.getElementById(focusId);
      if (again) { again.focus(); }
    }
    if (region.hvNew && region.hvNew !== before.n) {
      var n = region.querySelector("[data-announce-new]");
      say(n.getAttribute("data-new-text"));
    } else if (region.hvAnnounce !== null && region.hvAnnounce !== before.a) {
      say(region.hvAnnounce);
    }
  }

  function clock() {  // in the page's time zone, as every other time on it
    var tz = document.body.getAttribute("data-tz") || undefined;
    try {
      return new Date().toLocaleTimeString("sv-SE", { timeZone: tz, hour12: false });
    } catch (e) {
      return new Date().toLocaleTimeString();
    }
  }

  function refresh(region) {
    var url = region.getAttribute("data-live");
    if (!url) { return Promise.resolve(); }
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) {
          window.location.reload();
          return null;
        }
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        if (html !== region.hvHtml) {
          region.hvHtml = html;
          swap(region, html);
        }
        if (stamp) { stamp.textContent = stamp.getAttribute("data-updated").replace("%(time)s", clock()); }
        document.body.setAttribute("data-live-ok", String(Date.now()));
      })
      .catch(function () {
        if (stamp) { stamp.textContent = stamp.getAttribute("data-failed"); }
      });
  }

  function tick() {
    if (!paused && !document.hidden) { regions.forEach(refresh); }
  }

  regions.forEach(remember);
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.textContent = toggle.getAttribute(paused ? "data-resume" : "data-pause");
      if (!paused) { tick(); }
    });
  }
  window.setInterval(tick, every);
})();
