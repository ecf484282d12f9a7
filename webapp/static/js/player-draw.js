/*
 * verp player: drawing on a frame. With a shape chosen (arrow, circle, free line) a drag
 * on the paused video adds that shape to the annotation being written; saved shapes
 * are drawn over the video while playback is at their annotation (the exact frame of a
 * point when paused, its whole stretch for an interval). Coordinates are 0..1 of the
 * frame. Builds on verpPlayer (player.js) and verpShapes (player-shapes.js); exposes
 * window.verpDraw for player-annotations.js:
 *   D.setDraft(shapes | null), D.shapes(), D.setAnnotations(list), D.onStart(fn)
 */
(function () {
  "use strict";

  var P = window.verpPlayer;
  var S = window.verpShapes;
  var svg = document.getElementById("drawing");
  if (!P || !S || !svg) {
    return;
  }
  var video = P.video;
  var MAX_POINTS = 200;
  var MAX_SHAPES = 20;
  var tool = null;
  var colour = "yellow";
  var draft = null; // shapes of the annotation being written, or null
  var saved = [];
  var current = null; // the shape being drawn
  var startHandlers = [];
  var stateLine = document.getElementById("draw-state");

  function say(text) {
    if (stateLine) {
      stateLine.textContent = text;
    }
  }

  function fit() {
    S.fit(svg, video);
    show();
  }

  /** The saved annotations whose moment is on screen now. */
  function onScreen() {
    var frame = P.currentFrame();
    var ms = P.nowMs();
    return saved.filter(function (a) {
      if (!a.shapes || !a.shapes.length) {
        return false;
      }
      var first = a.start_frame !== null ? a.start_frame : P.frameOf(a.start_ms);
      if (a.end_ms === null) {
        return video.paused ? frame === first : ms >= a.start_ms && ms < a.start_ms + 1000;
      }
      var last = a.end_frame !== null ? a.end_frame : P.frameOf(a.end_ms - 1);
      return frame >= first && frame <= last;
    });
  }

  function show() {
    var shapes = [];
    if (draft) {
      shapes = draft.concat(current ? [current] : []);
    } else {
      onScreen().forEach(function (a) {
        shapes = shapes.concat(a.shapes);
      });
    }
    svg.classList.toggle("drawing--active", Boolean(tool) && !P.config.clip.locked);
    S.render(svg, shapes);
  }

  function at(event) {
    var box = svg.getBoundingClientRect();
    var x = box.width ? (event.clientX - box.left) / box.width : 0;
    var y = box.height ? (event.clientY - box.top) / box.height : 0;
    return [Math.round(Math.min(1, Math.max(0, x)) * 10000) / 10000,
      Math.round(Math.min(1, Math.max(0, y)) * 10000) / 10000];
  }

  svg.addEventListener("pointerdown", function (event) {
    if (!tool) {
      return;
    }
    event.preventDefault();
    P.pause();
    startHandlers.forEach(function (handler) {
      handler();
    });
    if (!draft) {
      draft = [];
    }
    if (draft.length >= MAX_SHAPES) {
      say("At most " + MAX_SHAPES + " shapes on one annotation.");
      return;
    }
    var point = at(event);
    current = { kind: tool, colour: colour, points: [point, point.slice()] };
    svg.setPointerCapture(event.pointerId);
    show();
  });
  svg.addEventListener("pointermove", function (event) {
    if (!current) {
      return;
    }
    var point = at(event);
    if (current.kind === "line") {
      var last = current.points[current.points.length - 1];
      var moved = Math.abs(point[0] - last[0]) + Math.abs(point[1] - last[1]);
      if (moved > 0.004 && current.points.length < MAX_POINTS) {
        current.points.push(point);
      }
    } else {
      current.points[1] = point;
    }
    show();
  });
  function finish(event) {
    if (!current) {
      return;
    }
    var p = current.points;
    var size = Math.abs(p[p.length - 1][0] - p[0][0]) + Math.abs(p[p.length - 1][1] - p[0][1]);
    if (size > 0.01 || p.length > 2) {
      if (current.kind === "line" && p.length > 2 && p[1][0] === p[0][0] && p[1][1] === p[0][1]) {
        p.splice(1, 1); // the copy of the first point made at pointerdown
      }
      draft.push(current);
      say(draft.length + (draft.length === 1 ? " shape" : " shapes") + " on frame " +
        P.currentFrame() + ". Save the annotation to keep the drawing.");
    }
    current = null;
    if (event && svg.hasPointerCapture(event.pointerId)) {
      svg.releasePointerCapture(event.pointerId);
    }
    show();
  }
  svg.addEventListener("pointerup", finish);
  svg.addEventListener("pointercancel", finish);

  function pressOne(selector, chosen, attr) {
    document.querySelectorAll(selector).forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute(attr) === chosen ? "true" : "false");
    });
  }

  document.querySelectorAll(".draw__tool").forEach(function (button) {
    button.addEventListener("click", function () {
      var chosen = button.getAttribute("data-tool");
      tool = tool === chosen ? null : chosen;
      pressOne(".draw__tool", tool, "data-tool");
      if (tool) {
        P.pause();
        say("Drag on the video to draw. Tap the shape button again to stop drawing.");
      }
      show();
    });
  });
  document.querySelectorAll(".draw__colour").forEach(function (button) {
    button.addEventListener("click", function () {
      colour = button.getAttribute("data-colour");
      pressOne(".draw__colour", colour, "data-colour");
    });
  });
  var undo = document.getElementById("draw-undo");
  if (undo) {
    undo.addEventListener("click", function () {
      if (draft && draft.length) {
        draft.pop();
        show();
      }
    });
    document.getElementById("draw-clear").addEventListener("click", function () {
      if (draft) {
        draft = [];
        show();
      }
    });
  }

  ["loadedmetadata", "resize"].forEach(function (name) {
    video.addEventListener(name, fit);
  });
  window.addEventListener("resize", fit);
  if (window.ResizeObserver) {
    new ResizeObserver(fit).observe(video);
  }
  P.onFrame(function () {
    if (!draft) {
      show();
    }
  });

  window.verpDraw = {
    setDraft: function (shapes) {
      draft = shapes ? shapes.map(function (s) {
        return { kind: s.kind, colour: s.colour, points: s.points.map(function (p) { return p.slice(); }) };
      }) : null;
      if (!draft) {
        tool = null;
        pressOne(".draw__tool", null, "data-tool");
      }
      show();
    },
    shapes: function () {
      return draft ? draft.slice() : [];
    },
    setAnnotations: function (list) {
      saved = list;
      show();
    },
    onStart: function (handler) {
      startHandlers.push(handler);
    },
  };
  fit();
})();
