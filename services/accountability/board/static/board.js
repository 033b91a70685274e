// The journey board's live refresh: every few seconds, fetch the stage tiles and swap them in when they changed
// (an alert opened, a colour changed, new volume). No framework, no third-party script.
(function () {
  "use strict";
  var holder = document.getElementById("tiles");
  if (!holder || !holder.dataset.live) { return; }
  var status = document.getElementById("live");
  var last = holder.innerHTML.trim();
  function colours() {
    var out = {};
    holder.querySelectorAll("li.stage").forEach(function (li) { out[li.dataset.stage] = li.dataset.health; });
    return out;
  }
  function poll() {
    fetch(holder.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html.trim() === last) { return; }
        var before = colours();
        holder.innerHTML = html;
        last = html.trim();
        var after = colours(), changed = [];
        Object.keys(after).forEach(function (s) { if (before[s] !== after[s]) { changed.push(s + " is now " + after[s]); } });
        if (status) { status.textContent = "Board updated" + (changed.length ? ": " + changed.join(", ") : "") + "."; }
      })
      .catch(function () { /* the next poll tries again */ });
  }
  window.setInterval(poll, 5000);
}());
