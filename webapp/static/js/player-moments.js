/*
 * verp player: choosing moments and stills for the shared review with the parent.
 * Start/end from the current time, a caption per moment, reorder, delete; moments are
 * cut by the worker, so pending ones are polled until ready. Builds on window.verpPlayer.
 */
(function () {
  "use strict";

  var P = window.verpPlayer;
  var list = document.getElementById("moment-list");
  if (!P || !list) {
    return;
  }
  var el = P.el;
  var config = P.config;
  var locked = config.clip.locked;
  var moments = [];
  var momentIn = null;
  var momentOut = null;
  var poll = null;
  var status = document.getElementById("moment-status");
  var caption = document.getElementById("moment-caption");

  function say(text, isError) {
    if (status) {
      status.textContent = text;
      status.classList.toggle("editor__status--error", Boolean(isError));
    }
  }

  function showMarks() {
    document.getElementById("moment-in-time").textContent = momentIn === null ? "—" : P.fmt(momentIn);
    document.getElementById("moment-out-time").textContent = momentOut === null ? "—" : P.fmt(momentOut);
  }

  function fail(error) {
    say(error.message, true);
  }

  function describe(m) {
    return m.kind === "still"
      ? "Still at " + P.fmt(m.start_ms)
      : "Moment " + P.fmt(m.start_ms) + "–" + P.fmt(m.end_ms);
  }

  var STATUS = { pending: "Being prepared…", ready: "Ready", failed: "Could not be prepared" };

  function move(index, delta) {
    var ids = moments.map(function (m) { return m.id; });
    var other = index + delta;
    if (other < 0 || other >= ids.length) {
      return;
    }
    var swap = ids[index];
    ids[index] = ids[other];
    ids[other] = swap;
    P.api(config.urls.order, { method: "PUT", body: { ids: ids } }).then(function (data) {
      moments = data.moments;
      draw();
      var again = list.querySelectorAll(".moment")[other];
      if (again) {
        again.querySelector(".moment__title").focus();
      }
    }, fail);
  }

  function item(m, index) {
    var captionId = "caption-" + m.id;
    var field = el("input", { type: "text", id: captionId, value: m.caption, maxlength: "500", disabled: locked });
    field.addEventListener("change", function () {
      P.api(P.url("moment", m.id), { method: "PATCH", body: { caption: field.value } }).then(function () {
        say("Caption saved.");
        load();
      }, fail);
    });
    var badge = el("span", {
      className: "badge " + (m.status === "ready" ? "badge--ok" : m.status === "failed" ? "badge--danger" : "badge--info"),
      text: STATUS[m.status] || m.status,
    });
    var controls = locked ? null : el("div", { className: "moment__controls" }, [
      el("button", { type: "button", className: "button button--small", text: "Up", disabled: index === 0,
        "aria-label": "Move " + describe(m) + " up", onclick: function () { move(index, -1); } }),
      el("button", { type: "button", className: "button button--small", text: "Down",
        disabled: index === moments.length - 1, "aria-label": "Move " + describe(m) + " down",
        onclick: function () { move(index, 1); } }),
      el("button", { type: "button", className: "button button--small button--danger", text: "Remove",
        onclick: function () {
          if (window.confirm("Remove this " + m.kind + " from the shared review?")) {
            P.api(P.url("moment", m.id), { method: "DELETE" }).then(load, fail);
          }
        } }),
    ]);
    return el("li", { className: "moment" }, [
      el("div", { className: "moment__head" }, [
        el("span", { className: "moment__number", text: String(index + 1) }),
        el("button", { type: "button", className: "moment__title", text: describe(m),
          onclick: function () { P.seek(m.start_ms); } }),
        badge,
      ]),
      el("label", { for: captionId, text: "Caption or question" }), field, controls,
    ]);
  }

  function draw() {
    list.textContent = "";
    moments.forEach(function (m, index) {
      list.appendChild(item(m, index));
    });
    P.setMomentMarkers(moments.map(function (m) {
      return { start: m.start_ms, end: m.kind === "still" ? null : m.end_ms };
    }));
    var waiting = moments.some(function (m) { return m.status === "pending"; });
    window.clearTimeout(poll);
    if (waiting) {
      poll = window.setTimeout(load, 2000);
    }
  }

  function load() {
    return P.api(config.urls.moments).then(function (data) {
      moments = data.moments;
      if (caption && !caption.placeholder) {
        caption.placeholder = data.default_caption;
      }
      draw();
    }, fail);
  }

  function add(body) {
    var text = caption.value.trim();
    if (text) {
      body.caption = text;
    }
    P.api(config.urls.moments, { method: "POST", body: body }).then(function (created) {
      say("Added. " + describe(created) + " is " + (STATUS[created.status] || "").toLowerCase());
      caption.value = "";
      momentIn = momentOut = null;
      showMarks();
      load();
    }, fail);
  }

  if (!locked && caption) {
    document.getElementById("moment-in").addEventListener("click", function () {
      momentIn = P.nowMs();
      if (momentOut !== null && momentOut <= momentIn) {
        momentOut = null;
      }
      showMarks();
    });
    document.getElementById("moment-out").addEventListener("click", function () {
      momentOut = P.nowMs();
      showMarks();
    });
    document.getElementById("add-moment").addEventListener("click", function () {
      if (momentIn === null || momentOut === null || momentOut <= momentIn) {
        say("Set where the moment starts and ends first (it must end after it starts).", true);
        return;
      }
      add({ kind: "moment", start_ms: momentIn, end_ms: momentOut });
    });
    document.getElementById("add-still").addEventListener("click", function () {
      P.pause();
      add({ kind: "still", start_ms: P.nowMs() });
    });
    caption.addEventListener("focus", P.pause);
  }
  load();
})();
