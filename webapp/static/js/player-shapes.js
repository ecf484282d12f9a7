/*
 * verp shapes: draws an annotation's shapes (arrow, ellipse, free line; points 0..1 of
 * the frame) into an <svg viewBox="0 0 1000 1000" preserveAspectRatio="none"> laid over
 * a picture. Used by the player and the shared review. Shapes are data, never markup:
 * every element is made with createElementNS and given numbers only; colours come from
 * the fixed PALETTE below, whatever a shape says.
 *
 *   verpShapes.render(svg, shapes)     replace the svg's content with these shapes
 *   verpShapes.fit(svg, media)         lay the svg over the picture inside <video>/<img>
 *   verpShapes.PALETTE                 colour name -> hex (as review/shapes.py)
 */
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = {
    yellow: "#FFD400",
    red: "#E5383B",
    blue: "#2F80ED",
    green: "#27AE60",
    white: "#FFFFFF",
  };
  var SCALE = 1000;

  function num(value) {
    var n = Number(value);
    return isFinite(n) ? Math.min(1, Math.max(0, n)) * SCALE : 0;
  }

  function node(tag, attrs) {
    var element = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (name) {
      element.setAttribute(name, String(attrs[name]));
    });
    return element;
  }

  function stroke(colour) {
    var hex = PALETTE[colour] || PALETTE.yellow;
    return {
      fill: "none",
      stroke: hex,
      "stroke-width": 4,
      "stroke-linecap": "round",
      "stroke-linejoin": "round",
      "vector-effect": "non-scaling-stroke",
    };
  }

  /** An arrow: a shaft and a head whose size and angle are right on screen. */
  function arrow(svg, shape) {
    var box = svg.getBoundingClientRect();
    var w = box.width || 1;
    var h = box.height || 1;
    var p = shape.points;
    var x1 = num(p[0][0]);
    var y1 = num(p[0][1]);
    var x2 = num(p[1][0]);
    var y2 = num(p[1][1]);
    var group = node("g", {});
    group.appendChild(node("line", Object.assign({ x1: x1, y1: y1, x2: x2, y2: y2 }, stroke(shape.colour))));
    // Work in screen pixels so the head is not squashed by the stretched viewBox.
    var dx = ((x2 - x1) * w) / SCALE;
    var dy = ((y2 - y1) * h) / SCALE;
    var angle = Math.atan2(dy, dx);
    var size = 18;
    [-0.45, 0.45].forEach(function (turn) {
      var hx = x2 - (Math.cos(angle + turn) * size * SCALE) / w;
      var hy = y2 - (Math.sin(angle + turn) * size * SCALE) / h;
      group.appendChild(node("line", Object.assign({ x1: x2, y1: y2, x2: hx, y2: hy }, stroke(shape.colour))));
    });
    return group;
  }

  function ellipse(shape) {
    var p = shape.points;
    var x1 = num(p[0][0]);
    var y1 = num(p[0][1]);
    var x2 = num(p[1][0]);
    var y2 = num(p[1][1]);
    return node("ellipse", Object.assign({
      cx: (x1 + x2) / 2,
      cy: (y1 + y2) / 2,
      rx: Math.abs(x2 - x1) / 2,
      ry: Math.abs(y2 - y1) / 2,
    }, stroke(shape.colour)));
  }

  function line(shape) {
    var points = shape.points.map(function (p) {
      return num(p[0]).toFixed(1) + "," + num(p[1]).toFixed(1);
    });
    return node("polyline", Object.assign({ points: points.join(" ") }, stroke(shape.colour)));
  }

  function render(svg, shapes) {
    while (svg.firstChild) {
      svg.removeChild(svg.firstChild);
    }
    (shapes || []).forEach(function (shape) {
      if (!shape || !Array.isArray(shape.points) || shape.points.length < 2) {
        return;
      }
      var drawn = null;
      if (shape.kind === "arrow") {
        drawn = arrow(svg, shape);
      } else if (shape.kind === "ellipse") {
        drawn = ellipse(shape);
      } else if (shape.kind === "line") {
        drawn = line(shape);
      }
      if (drawn) {
        drawn.setAttribute("class", "drawing__shape");
        svg.appendChild(drawn);
      }
    });
  }

  /** Place the svg exactly over the picture shown inside media (letterboxing aside). */
  function fit(svg, media) {
    var natW = media.videoWidth || media.naturalWidth || 0;
    var natH = media.videoHeight || media.naturalHeight || 0;
    var boxW = media.clientWidth;
    var boxH = media.clientHeight;
    if (!natW || !natH || !boxW || !boxH) {
      return;
    }
    var scale = Math.min(boxW / natW, boxH / natH);
    var w = natW * scale;
    var h = natH * scale;
    svg.style.left = media.offsetLeft + (boxW - w) / 2 + "px";
    svg.style.top = media.offsetTop + (boxH - h) / 2 + "px";
    svg.style.width = w + "px";
    svg.style.height = h + "px";
  }

  window.verpShapes = { render: render, fit: fit, PALETTE: PALETTE };
})();
