/*
 * verp shared review: the chosen moments and stills, one at a time, for watching with
 * the parent. Moments loop; a still stays until you move on. Big buttons, arrow keys
 * (left/right), space to pause, F for full screen. No inline code (CSP).
 * Shapes drawn on a frame (shared annotations) are laid over the still or the moment
 * while it is at that annotation, through verpShapes (player-shapes.js).
 */
(function () {
  "use strict";

  var node = document.getElementById("shared-config");
  if (!node) {
    return;
  }
  var config = JSON.parse(node.textContent);
  var video = document.getElementById("moment-video");
  var still = document.getElementById("moment-still");
  var caption = document.getElementById("caption");
  var count = document.getElementById("count");
  var toggleButton = document.getElementById("toggle");
  var items = [];
  var index = 0;
  var drawing = document.getElementById("shared-drawing");
  var drawn = []; // shared annotations that carry shapes
  var rate = (function (text) {
    var parts = String(text || "25").split("/");
    var value = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(parts[0]);
    return value > 0 && isFinite(value) ? value : 25;
  })(config.clip.frame_rate);

  function frameOf(ms) {
    return Math.floor((ms * rate) / 1000 + 1e-9);
  }

  /** Shapes of the annotations at clip time ms (a point: its frame, or 1 s when playing). */
  function shapesAt(ms, playing) {
    var frame = frameOf(ms);
    var shapes = [];
    drawn.forEach(function (a) {
      var first = a.start_frame !== null ? a.start_frame : frameOf(a.start_ms);
      var on;
      if (a.end_ms === null) {
        on = playing ? ms >= a.start_ms && ms < a.start_ms + 1000 : frame === first;
      } else {
        var last = a.end_frame !== null ? a.end_frame : frameOf(a.end_ms - 1);
        on = frame >= first && frame <= last;
      }
      if (on) {
        shapes = shapes.concat(a.shapes);
      }
    });
    return shapes;
  }

  function overlay() {
    if (!drawing || !window.verpShapes || !items.length) {
      return;
    }
    var item = items[index];
    var media = item.kind === "still" ? still : video;
    window.verpShapes.fit(drawing, media);
    var at = item.kind === "still" ? item.start_ms : item.start_ms + Math.round(video.currentTime * 1000);
    window.verpShapes.render(drawing, shapesAt(at, item.kind !== "still" && !video.paused));
  }

  function api(url, options) {
    return window.verp.api(url, options).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(body && body.error ? body.error.message : "Something went wrong.");
        }
        return body;
      });
    });
  }

  function show(at) {
    if (!items.length) {
      document.getElementById("empty").hidden = false;
      count.textContent = "";
      return;
    }
    index = (at + items.length) % items.length;
    var item = items[index];
    count.textContent = (item.kind === "still" ? "Still " : "Moment ") + (index + 1) + " of " + items.length;
    caption.textContent = item.caption;
    if (item.kind === "still") {
      video.pause();
      video.hidden = true;
      video.removeAttribute("src");
      still.src = item.links.media;
      still.alt = item.caption;
      still.hidden = false;
      toggleButton.disabled = true;
      toggleButton.textContent = "Still picture";
    } else {
      still.hidden = true;
      video.hidden = false;
      video.src = item.links.media;
      toggleButton.disabled = false;
      var started = video.play();
      if (started && started.catch) {
        started.catch(function () {
          toggleButton.textContent = "Play";
        });
      }
    }
  }

  function toggle() {
    if (video.hidden) {
      return;
    }
    if (video.paused) {
      video.play();
    } else {
      video.pause();
    }
  }

  ["timeupdate", "loadedmetadata", "seeked", "pause"].forEach(function (name) {
    video.addEventListener(name, overlay);
  });
  still.addEventListener("load", overlay);
  window.addEventListener("resize", overlay);
  document.addEventListener("fullscreenchange", overlay);
  video.addEventListener("play", function () { toggleButton.textContent = "Pause"; });
  video.addEventListener("pause", function () { toggleButton.textContent = "Play"; });
  document.getElementById("prev").addEventListener("click", function () { show(index - 1); });
  document.getElementById("next").addEventListener("click", function () { show(index + 1); });
  toggleButton.addEventListener("click", toggle);
  document.getElementById("fullscreen").addEventListener("click", function () {
    var target = document.getElementById("shared");
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (target.requestFullscreen) {
      target.requestFullscreen().catch(function () {});
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var key = event.key;
    if (key === "ArrowLeft" || key === "ArrowRight") {
      event.preventDefault();
      show(index + (key === "ArrowLeft" ? -1 : 1));
    } else if (key === " " && !(event.target instanceof Element && event.target.closest("button, a"))) {
      event.preventDefault();
      toggle();
    } else if (key === "f" || key === "F") {
      document.getElementById("fullscreen").click();
    }
  });

  var done = document.getElementById("done");
  if (done) {
    done.addEventListener("click", function () {
      if (!window.confirm("Record that you have watched the moments with the family?")) {
        return;
      }
      api(config.urls.done, { method: "POST" }).then(function () {
        document.getElementById("done-status").textContent =
          "Recorded: the shared review with the family is done.";
        done.hidden = true;
      }, function (error) {
        document.getElementById("done-status").textContent = error.message;
      });
    });
  }

  api(config.urls.moments).then(function (data) {
    items = data.moments.filter(function (m) { return m.status === "ready"; });
    show(0);
    return api(config.urls.annotations).then(function (notes) {
      drawn = notes.annotations.filter(function (a) {
        return a.visibility === "shared" && a.shapes && a.shapes.length;
      });
      overlay();
    });
  }, function (error) {
    caption.textContent = error.message;
  });
})();
