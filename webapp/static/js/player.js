/*
 * verp player: custom controls for the review video (no inline code: CSP).
 *
 * Owns the <video>, the timeline (scrubbing, thumbnail preview from the WebVTT thumbnail
 * track, annotation and moment markers), playback speed, frame stepping at the clip's
 * constant frame rate and the keyboard. Other scripts (player-annotations.js,
 * player-moments.js) build on window.verpPlayer:
 *   P.config, P.video, P.api(url, opts) -> Promise<json>, P.nowMs(), P.seek(ms),
 *   P.pause(), P.fmt(ms), P.frameOf(ms), P.onKey(fn), P.setMarkers(list),
 *   P.setMomentMarkers(list), P.setMarks(inMs, outMs), P.el(tag, attrs, children),
 *   P.url(name, id), P.frameStartMs(frame), P.currentFrame(), P.onFrame(fn).
 *
 * The frame counter names the frame on screen: requestVideoFrameCallback's mediaTime
 * (the presentation time of the frame painted) where the browser has it, else the
 * frame at currentTime. When paused, "now" is the first millisecond of that frame, so
 * an annotation made now lands exactly on the frame the coder sees.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("player-config");
  var video = document.getElementById("video");
  if (!configNode || !video) {
    return;
  }
  var config = JSON.parse(configNode.textContent);
  var durationMs = config.clip.duration_ms || 0;
  var rate = parseRate(config.clip.frame_rate);
  var keyHandlers = [];

  function parseRate(text) {
    if (!text) {
      return 25;
    }
    var parts = String(text).split("/");
    var value = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(parts[0]);
    return value > 0 && isFinite(value) ? value : 25;
  }

  /* -- small helpers shared with the other player scripts -------------------------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name === "className") {
        node.className = value;
      } else if (name.indexOf("on") === 0 && typeof value === "function") {
        node.addEventListener(name.slice(2), value);
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function fmt(ms) {
    ms = Math.max(0, Math.round(ms || 0));
    var minutes = Math.floor(ms / 60000);
    var seconds = Math.floor((ms % 60000) / 1000);
    var millis = ms % 1000;
    return minutes + ":" + String(seconds).padStart(2, "0") + "." + String(millis).padStart(3, "0");
  }

  /** The frame on screen at ms (floor), as review.timeline.frame_at. */
  function frameOf(ms) {
    return Math.floor((ms * rate) / 1000 + 1e-9);
  }

  /** The first whole millisecond of a frame (rounded up), as frame_start_ms. */
  function frameStartMs(frame) {
    return Math.ceil((frame * 1000) / rate - 1e-9);
  }

  var shownFrame = null; // the frame painted, from requestVideoFrameCallback
  var frameHandlers = [];

  function lastFrame() {
    return frameOf(Math.max(0, durationMs - 1));
  }

  /** The frame on screen now. */
  function currentFrame() {
    if (shownFrame !== null && !video.seeking) {
      return Math.min(shownFrame, lastFrame());
    }
    return frameOf(Math.round(video.currentTime * 1000));
  }

  function nowMs() {
    var ms = Math.round(video.currentTime * 1000);
    if (video.paused && shownFrame !== null && !video.seeking) {
      ms = frameStartMs(currentFrame()); // the frame the coder sees, exactly
    }
    return Math.min(Math.max(0, ms), Math.max(0, durationMs - 1));
  }

  function watchFrames() {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) {
      return;
    }
    var onFrame = function (_now, metadata) {
      shownFrame = Math.max(0, Math.round(metadata.mediaTime * rate));
      render();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  function api(url, options) {
    return window.verp.api(url, options).then(function (response) {
      if (response.status === 204) {
        return null;
      }
      return response.json().then(
        function (body) {
          if (!response.ok) {
            var message = body && body.error ? body.error.message : "Something went wrong.";
            var error = new Error(message);
            error.status = response.status;
            throw error;
          }
          return body;
        },
        function () {
          throw new Error("The server sent an unexpected answer (" + response.status + ").");
        }
      );
    });
  }

  function url(name, id) {
    return config.urls[name].replace("ID", encodeURIComponent(id));
  }

  /* -- playback ------------------------------------------------------------------ */

  var playButton = document.getElementById("play");
  var timeLabel = document.getElementById("time");
  var scrubber = document.getElementById("scrubber");
  var played = document.getElementById("played");
  var playhead = document.getElementById("playhead");
  var speed = document.getElementById("speed");
  var frameCounter = document.getElementById("frame-counter");

  function seek(ms) {
    var target = Math.min(Math.max(0, ms), Math.max(0, durationMs - 1));
    video.currentTime = target / 1000;
    render();
  }

  function pause() {
    if (!video.paused) {
      video.pause();
    }
  }

  function toggle() {
    if (video.paused || video.ended) {
      var started = video.play();
      if (started && started.catch) {
        started.catch(function () {});
      }
    } else {
      video.pause();
    }
  }

  function step(frames) {
    pause();
    var frame = Math.max(0, currentFrame() + frames);
    seek(frameStartMs(Math.min(frame, lastFrame())));
  }

  /* The timeline shows [viewStart, viewStart + viewSpan) of the clip (zoom). */
  var viewStart = 0;
  var viewSpan = 0; // 0: the whole clip
  var MIN_SPAN = 4000;

  function span() {
    return viewSpan > 0 ? viewSpan : durationMs;
  }

  function percent(ms) {
    var width = span();
    return width > 0 ? Math.min(100, Math.max(0, ((ms - (viewSpan > 0 ? viewStart : 0)) / width) * 100)) : 0;
  }

  function render() {
    var ms = nowMs();
    if (viewSpan > 0 && (ms < viewStart || ms >= viewStart + viewSpan)) {
      followPlayhead(ms);
    }
    var pct = percent(ms) + "%";
    played.style.width = pct;
    playhead.style.left = pct;
    var frame = currentFrame();
    timeLabel.textContent = fmt(ms) + " / " + fmt(durationMs);
    frameCounter.textContent = "frame " + frame;
    frameHandlers.forEach(function (handler) {
      handler(frame, ms);
    });
    scrubber.setAttribute("aria-valuenow", String(ms));
    scrubber.setAttribute("aria-valuetext", fmt(ms));
    var playing = !video.paused && !video.ended;
    playButton.querySelector(".ctl__icon").textContent = playing ? "❚❚" : "▶";
    playButton.querySelector(".ctl__text").textContent = playing ? "Pause" : "Play";
    playButton.setAttribute("aria-label", (playing ? "Pause" : "Play") + " (space)");
  }

  video.addEventListener("seeking", function () {
    shownFrame = null;
  });
  ["timeupdate", "play", "pause", "seeked", "loadedmetadata", "loadeddata", "ended"].forEach(function (name) {
    video.addEventListener(name, render);
  });
  video.addEventListener("loadedmetadata", function () {
    if (!durationMs && isFinite(video.duration)) {
      durationMs = Math.round(video.duration * 1000);
    }
    var start = Number(new URLSearchParams(window.location.search).get("t"));
    if (start > 0) {
      seek(start);
    }
  });
  video.addEventListener("click", toggle);
  playButton.addEventListener("click", toggle);
  document.getElementById("back5").addEventListener("click", function () {
    seek(nowMs() - 5000);
  });
  document.getElementById("fwd5").addEventListener("click", function () {
    seek(nowMs() + 5000);
  });
  document.getElementById("frame-back").addEventListener("click", function () {
    step(-1);
  });
  document.getElementById("frame-fwd").addEventListener("click", function () {
    step(1);
  });
  speed.addEventListener("change", function () {
    video.playbackRate = Number(speed.value) || 1;
  });

  /* -- scrubbing and thumbnail preview ------------------------------------------- */

  var preview = document.getElementById("preview");
  var previewThumb = document.getElementById("preview-thumb");
  var previewTime = document.getElementById("preview-time");
  var thumbs = [];
  var dragging = false;

  function parseVttTime(text) {
    var parts = text.trim().split(":").map(Number);
    var seconds = parts.pop() || 0;
    var minutes = parts.pop() || 0;
    var hours = parts.pop() || 0;
    return Math.round((hours * 3600 + minutes * 60 + seconds) * 1000);
  }

  function loadThumbnails() {
    fetch(config.urls.thumbnails, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : "";
      })
      .then(function (text) {
        var base = new URL(config.urls.thumbnails, window.location.href);
        text.split(/\n\s*\n/).forEach(function (block) {
          var lines = block.trim().split("\n");
          var timing = lines.findIndex(function (line) {
            return line.indexOf("-->") > 0;
          });
          if (timing < 0 || !lines[timing + 1]) {
            return;
          }
          var times = lines[timing].split("-->");
          var ref = lines[timing + 1].trim();
          var hash = ref.split("#xywh=");
          var box = (hash[1] || "").split(",").map(Number);
          if (box.length !== 4) {
            return;
          }
          thumbs.push({
            start: parseVttTime(times[0]),
            end: parseVttTime(times[1].trim().split(/\s/)[0]),
            src: new URL(hash[0], base).href,
            x: box[0], y: box[1], w: box[2], h: box[3],
          });
        });
      })
      .catch(function () {
        thumbs = [];
      });
  }

  function msAt(clientX) {
    var box = scrubber.getBoundingClientRect();
    var fraction = box.width > 0 ? (clientX - box.left) / box.width : 0;
    var offset = viewSpan > 0 ? viewStart : 0;
    return Math.round(offset + Math.min(1, Math.max(0, fraction)) * span());
  }

  function showPreview(ms) {
    var cue = thumbs.find(function (t) {
      return ms >= t.start && ms < t.end;
    }) || thumbs[thumbs.length - 1];
    preview.hidden = false;
    preview.style.left = percent(ms) + "%";
    previewTime.textContent = fmt(ms);
    if (cue) {
      previewThumb.hidden = false;
      previewThumb.style.width = cue.w + "px";
      previewThumb.style.height = cue.h + "px";
      previewThumb.style.backgroundImage = 'url("' + cue.src + '")';
      previewThumb.style.backgroundPosition = -cue.x + "px " + -cue.y + "px";
    } else {
      previewThumb.hidden = true;
    }
  }

  scrubber.addEventListener("pointermove", function (event) {
    var ms = msAt(event.clientX);
    showPreview(ms);
    if (dragging) {
      seek(ms);
    }
  });
  scrubber.addEventListener("pointerleave", function () {
    if (!dragging) {
      preview.hidden = true;
    }
  });
  scrubber.addEventListener("pointerdown", function (event) {
    dragging = true;
    scrubber.setPointerCapture(event.pointerId);
    seek(msAt(event.clientX));
    showPreview(msAt(event.clientX));
  });
  scrubber.addEventListener("pointerup", function (event) {
    dragging = false;
    scrubber.releasePointerCapture(event.pointerId);
    preview.hidden = true;
  });
  scrubber.addEventListener("keydown", function (event) {
    if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      seek(event.key === "Home" ? 0 : durationMs);
    }
  });

  /* -- markers ------------------------------------------------------------------- */

  var markers = document.getElementById("markers");
  var LANE = 28; // px per row of markers (24 px tall markers: a finger's width)
  var annotationItems = [];
  var momentItems = [];

  /** Spread overlapping items over lanes so none hides another. */
  function lanes(items) {
    var ends = [];
    return items
      .slice()
      .sort(function (a, b) {
        return a.start - b.start;
      })
      .map(function (item) {
        var end = item.end === null || item.end === undefined ? item.start + 1 : item.end;
        var lane = ends.findIndex(function (last) {
          return last <= item.start;
        });
        if (lane < 0) {
          lane = ends.length;
          ends.push(end);
        } else {
          ends[lane] = end;
        }
        return { item: item, lane: lane };
      });
  }

  function drawMarkers() {
    markers.textContent = "";
    var placed = lanes(annotationItems);
    var count = placed.reduce(function (n, p) {
      return Math.max(n, p.lane + 1);
    }, 0);
    var offset = viewSpan > 0 ? viewStart : 0;
    var visible = function (start, end) {
      var stop = end === null || end === undefined ? start : end;
      return stop >= offset && start < offset + span();
    };
    placed.forEach(function (p) {
      var item = p.item;
      var point = item.end === null || item.end === undefined;
      if (!visible(item.start, item.end)) {
        return;
      }
      // A tap seeks to the annotation and opens it in the list (nothing hover-only). A
      // pointer shortcut: each annotation's time button in the list is the accessible way.
      var node = el("span", {
        className: "marker " + (point ? "marker--point" : "marker--interval"),
        "data-label": fmt(item.start) + " " + item.label + (item.coder ? " by " + item.coder : ""),
        "data-id": item.id,
        onclick: function () {
          seek(item.start);
          document.dispatchEvent(new CustomEvent("verp:marker", { detail: item.id }));
        },
      }, [el("span", { className: "marker__tag", text: item.tag || "" })]);
      node.style.left = percent(item.start) + "%";
      if (!point) {
        node.style.width = Math.max(0.4, percent(item.end) - percent(item.start)) + "%";
      }
      node.style.top = p.lane * LANE + "px";
      node.style.setProperty("--marker", item.colour || "#5F6B7A");
      markers.appendChild(node);
    });
    var momentTop = count * LANE;
    momentItems.forEach(function (m) {
      if (!visible(m.start, m.end)) {
        return;
      }
      var node = el("span", {
        className: "marker marker--moment" + (m.end === null ? " marker--point" : ""),
        "data-label": (m.end === null ? "Still " : "Moment ") + fmt(m.start),
        onclick: function () {
          seek(m.start);
        },
      });
      node.style.left = percent(m.start) + "%";
      if (m.end !== null) {
        node.style.width = Math.max(0.4, percent(m.end) - percent(m.start)) + "%";
      }
      node.style.top = momentTop + "px";
      markers.appendChild(node);
    });
    var rows = count + (momentItems.length ? 1 : 0);
    markers.style.height = Math.max(LANE, rows * LANE) + "px";
    drawLegend();
  }

  /* -- legend: which colour is which code, which tag is which coder ---------------- */

  var legend = document.getElementById("legend");

  function drawLegend() {
    legend.textContent = "";
    var codes = {};
    var coders = {};
    annotationItems.forEach(function (item) {
      (item.codes || []).forEach(function (code) {
        codes[code.label] = code.colour || "#5F6B7A";
      });
      if (item.coder) {
        coders[item.tag || ""] = item.coder;
      }
    });
    Object.keys(coders).sort().forEach(function (tag) {
      legend.appendChild(el("li", { className: "legend__item" }, [
        el("span", { className: "legend__tag", text: tag }), coders[tag],
      ]));
    });
    Object.keys(codes).sort().forEach(function (name) {
      var swatch = el("span", { className: "legend__swatch", "aria-hidden": "true" });
      swatch.style.background = codes[name];
      legend.appendChild(el("li", { className: "legend__item" }, [swatch, name]));
    });
  }

  /* -- zoom: buttons, + and - keys, pinch on the timeline --------------------------- */

  var zoomSpan = document.getElementById("zoom-span");

  function followPlayhead(ms) {
    viewStart = Math.max(0, Math.min(ms - viewSpan / 4, durationMs - viewSpan));
    drawMarkers();
  }

  function setSpan(width, centre) {
    if (!durationMs) {
      return;
    }
    width = Math.round(Math.min(durationMs, Math.max(MIN_SPAN, width)));
    var at = centre === undefined ? nowMs() : centre;
    if (width >= durationMs) {
      viewSpan = 0;
      viewStart = 0;
      zoomSpan.textContent = "whole clip";
    } else {
      viewSpan = width;
      viewStart = Math.max(0, Math.min(at - width / 2, durationMs - width));
      zoomSpan.textContent = (width / 1000).toFixed(width < 10000 ? 1 : 0) + " s shown";
    }
    drawMarkers();
    render();
  }

  function zoom(factor) {
    setSpan(span() / factor);
  }

  document.getElementById("zoom-in").addEventListener("click", function () {
    zoom(2);
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    zoom(0.5);
  });

  var touches = {};
  var pinchFrom = null;
  var timeline = document.getElementById("timeline");

  function pinchDistance() {
    var xs = Object.keys(touches).map(function (id) {
      return touches[id];
    });
    return xs.length === 2 ? Math.abs(xs[0] - xs[1]) : null;
  }

  timeline.addEventListener("pointerdown", function (event) {
    if (event.pointerType === "touch") {
      touches[event.pointerId] = event.clientX;
      var distance = pinchDistance();
      if (distance) {
        pinchFrom = { distance: distance, span: span() };
        dragging = false;
      }
    }
  }, true);
  timeline.addEventListener("pointermove", function (event) {
    if (!(event.pointerId in touches)) {
      return;
    }
    touches[event.pointerId] = event.clientX;
    var distance = pinchDistance();
    if (pinchFrom && distance) {
      event.stopPropagation();
      setSpan((pinchFrom.span * pinchFrom.distance) / Math.max(distance, 1));
    }
  }, true);
  ["pointerup", "pointercancel"].forEach(function (name) {
    timeline.addEventListener(name, function (event) {
      delete touches[event.pointerId];
      if (pinchDistance() === null) {
        pinchFrom = null;
      }
    }, true);
  });

  var markIn = document.getElementById("mark-in");
  var markOut = document.getElementById("mark-out");

  function setMarks(inMs, outMs) {
    markIn.hidden = inMs === null || inMs === undefined;
    markOut.hidden = outMs === null || outMs === undefined;
    if (!markIn.hidden) {
      markIn.style.left = percent(inMs) + "%";
    }
    if (!markOut.hidden) {
      markOut.style.left = percent(outMs) + "%";
    }
  }

  /* -- "now" announcements from the annotations track ----------------------------- */

  var now = document.getElementById("now-playing");
  var track = document.getElementById("annotation-track");
  if (track && track.track) {
    track.track.mode = "hidden";
    track.track.addEventListener("cuechange", function () {
      var cues = Array.prototype.slice.call(track.track.activeCues || []);
      now.textContent = cues.length
        ? "Now: " + cues.map(function (c) { return c.text; }).join(" · ")
        : "";
    });
  }

  /* -- keyboard ------------------------------------------------------------------ */

  function isField(target) {
    if (!(target instanceof Element)) {
      return false;
    }
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isField(event.target)) {
      return; // typing a note or a caption: no shortcuts
    }
    var onControl = event.target instanceof Element && event.target.closest("button, a, summary");
    var handled = true;
    switch (event.key) {
      case " ":
        if (onControl) {
          return; // space activates the focused button
        }
        toggle();
        break;
      case "ArrowLeft":
        seek(nowMs() - 5000);
        break;
      case "ArrowRight":
        seek(nowMs() + 5000);
        break;
      case ",":
        step(-1);
        break;
      case ".":
        step(1);
        break;
      case "+":
        zoom(2);
        break;
      case "-":
        zoom(0.5);
        break;
      default:
        handled = keyHandlers.some(function (handler) {
          return handler(event.key) === true;
        });
    }
    if (handled) {
      event.preventDefault();
    }
  });

  window.verpPlayer = {
    config: config,
    video: video,
    api: api,
    el: el,
    fmt: fmt,
    frameOf: frameOf,
    frameStartMs: frameStartMs,
    currentFrame: currentFrame,
    nowMs: nowMs,
    onFrame: function (handler) {
      frameHandlers.push(handler);
    },
    seek: seek,
    pause: pause,
    url: url,
    setMarks: setMarks,
    durationMs: function () {
      return durationMs;
    },
    onKey: function (handler) {
      keyHandlers.push(handler);
    },
    setMarkers: function (items) {
      annotationItems = items;
      drawMarkers();
    },
    setMomentMarkers: function (items) {
      momentItems = items;
      drawMarkers();
    },
  };

  loadThumbnails();
  watchFrames();
  render();
})();
