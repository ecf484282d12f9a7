/*
 * verp player: annotating. The editor (subject, point or interval with I/O, codes from
 * the site's coding schemes grouped by scheme group, note, draft), one key per frequent
 * code, the timeline markers, and the threads (replies, resolve, links, edit, delete).
 * Builds on window.verpPlayer (player.js) and window.verpDraw (player-draw.js). All user
 * text goes in through textContent.
 *
 * The code palette is for touch: with no annotation open, a tap codes the frame on
 * screen at once; a long press (or a tap with "Tap starts a stretch" ticked) arms the
 * code at this frame and the next tap on it ends the stretch there. With an annotation
 * open (A, Edit, a note or a drawing), a tap adds the code to it instead. Shortcut keys
 * do the same and ignore case.
 */
(function () {
  "use strict";

  var P = window.verpPlayer;
  if (!P) {
    return;
  }
  var D = window.verpDraw || {
    setDraft: function () {}, shapes: function () { return []; },
    setAnnotations: function () {}, onStart: function () {},
  };
  var armed = null; // {scheme, code, start}: a stretch started from the palette
  var LONG_PRESS_MS = 500;
  var el = P.el;
  var config = P.config;
  var locked = config.clip.locked;
  var schemes = [];
  var byKey = {};
  var annotations = [];
  var draft = null; // {start, end, scheme, codes, editing, revision}

  var SUBJECTS = { infant: "Baby", parent: "Parent", facilitator: "Facilitator", group: "Group" };
  var RELATIONS = {
    received: "received by",
    "not-received": "not received; instead",
    related: "related to",
  };

  var form = document.getElementById("annotation-form");
  var picker = document.getElementById("code-picker");
  var note = document.getElementById("note");
  var status = document.getElementById("editor-status");
  var paletteStatus = document.getElementById("palette-status");
  var stateLine = document.getElementById("editor-state");
  var heading = document.getElementById("editor-h");
  var threads = document.getElementById("threads");

  function say(text, isError) {
    [status, paletteStatus].forEach(function (node) {
      if (node) {
        node.textContent = text;
        node.classList.toggle("editor__status--error", Boolean(isError));
      }
    });
  }

  function findScheme(id) {
    return schemes.find(function (s) {
      return s.id === id;
    });
  }

  function subject() {
    var checked = form ? form.querySelector("input[name=subject]:checked") : null;
    return checked ? checked.value : "infant";
  }

  function setSubject(value) {
    var radio = form && form.querySelector('input[name=subject][value="' + value + '"]');
    if (radio) {
      radio.checked = true;
      openSchemesFor(value);
    }
  }

  /** A subject the scheme may be used for, preferring the one selected. */
  function subjectFor(scheme) {
    var current = subject();
    if (!scheme.subjects.length || scheme.subjects.indexOf(current) >= 0) {
      return current;
    }
    return scheme.subjects[0];
  }

  /* -- the editor --------------------------------------------------------------- */

  function openDraft() {
    if (!draft) {
      draft = { start: P.nowMs(), end: null, scheme: null, codes: [], editing: null, revision: null };
      D.setDraft(D.shapes());
    }
    showDraft();
    return draft;
  }

  function showDraft() {
    if (!form) {
      return;
    }
    var span = form.querySelector('input[name=span][value="' + (draft && draft.end !== null ? "interval" : "point") + '"]');
    if (span) {
      span.checked = true;
    }
    document.getElementById("in-time").textContent = draft ? P.fmt(draft.start) : "—";
    document.getElementById("out-time").textContent = draft && draft.end !== null ? P.fmt(draft.end) : "—";
    P.setMarks(draft ? draft.start : null, draft ? draft.end : null);
    heading.textContent = draft && draft.editing ? "Edit annotation" : "New annotation";
    stateLine.textContent = draft
      ? (draft.editing ? "Editing the annotation at " : "Annotating from ") + P.fmt(draft.start) +
        (draft.end !== null ? " to " + P.fmt(draft.end) : "") + ". Choose codes, add a note, then save."
      : "Press A, write a note or draw on the video to start an annotation here.";
    picker.querySelectorAll(".code").forEach(function (button) {
      var on = Boolean(draft) && draft.scheme === button.dataset.scheme &&
        draft.codes.indexOf(button.dataset.code) >= 0;
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function closeDraft() {
    draft = null;
    D.setDraft(null);
    if (form) {
      note.value = "";
      document.getElementById("draft").checked = false;
    }
    showDraft();
  }

  function toggleCode(schemeId, codeId) {
    openDraft();
    if (draft.scheme && draft.scheme !== schemeId && draft.codes.length) {
      say("One annotation takes codes from one scheme. Save this one first, then add another.", true);
      return;
    }
    var at = draft.codes.indexOf(codeId);
    if (at >= 0) {
      draft.codes.splice(at, 1);
    } else {
      draft.codes.push(codeId);
    }
    draft.scheme = draft.codes.length ? schemeId : null;
    var scheme = findScheme(schemeId);
    if (draft.scheme && scheme && subjectFor(scheme) !== subject()) {
      setSubject(subjectFor(scheme));
      say("Subject set to " + SUBJECTS[subject()] + " for these codes.");
    }
    showDraft();
  }

  function body() {
    return {
      start_ms: draft.start,
      end_ms: draft.end,
      subject: subject(),
      scheme_id: draft.scheme,
      codes: draft.codes,
      text: note.value,
      visibility: document.getElementById("draft").checked ? "draft" : "shared",
      shapes: D.shapes(),
    };
  }

  function save(event) {
    if (event) {
      event.preventDefault();
    }
    if (!draft) {
      openDraft();
    }
    var payload = body();
    var request;
    if (draft.editing) {
      payload.revision = draft.revision;
      request = P.api(P.url("annotation", draft.editing), { method: "PATCH", body: payload });
    } else {
      request = P.api(config.urls.annotations, { method: "POST", body: payload });
    }
    request.then(
      function (saved) {
        say("Saved the annotation at " + P.fmt(saved.start_ms) + ".");
        closeDraft();
        load();
      },
      function (error) {
        say(error.message, true);
      }
    );
  }

  /** A code key or tap with no open draft: code the frame on screen (or a stretch). */
  function quickAnnotate(scheme, code, end) {
    var at = end === undefined ? P.nowMs() : end.start;
    var body = { start_ms: at, subject: subjectFor(scheme), scheme_id: scheme.id, codes: [code.id], text: "" };
    if (end !== undefined) {
      body.end_ms = end.end;
    }
    P.api(config.urls.annotations, { method: "POST", body: body }).then(
      function (saved) {
        say("Added " + code.label + " at " + P.fmt(at) +
          (end !== undefined ? " to " + P.fmt(end.end) : " (frame " + saved.start_frame + ")") + ".");
        load();
      },
      function (error) {
        say(error.message, true);
      }
    );
  }

  function bindEditor() {
    if (!form) {
      return;
    }
    form.addEventListener("submit", save);
    document.getElementById("cancel").addEventListener("click", function () {
      closeDraft();
      say("");
    });
    document.getElementById("mark-in-btn").addEventListener("click", markIn);
    document.getElementById("mark-out-btn").addEventListener("click", markOut);
    form.querySelectorAll("input[name=span]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        openDraft();
        if (radio.value === "point") {
          draft.end = null;
        } else if (draft.end === null) {
          say("Play or step to where it ends, then press O (Mark out).");
        }
        showDraft();
      });
    });
    form.querySelectorAll("input[name=subject]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        openSchemesFor(radio.value);
      });
    });
    ["focus", "input"].forEach(function (name) {
      note.addEventListener(name, function () {
        P.pause(); // typing a note pauses playback
        openDraft();
      });
    });
  }

  function markIn() {
    openDraft();
    draft.start = P.nowMs();
    if (draft.end !== null && draft.end <= draft.start) {
      draft.end = null;
    }
    showDraft();
  }

  function markOut() {
    openDraft();
    var at = P.nowMs();
    if (at <= draft.start) {
      say("The end must come after the start (" + P.fmt(draft.start) + ").", true);
      return;
    }
    draft.end = at;
    showDraft();
  }

  /* -- the code picker ------------------------------------------------------------ */

  function groupLabel(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1).replace(/-/g, " ") : "Codes";
  }

  function drawPicker() {
    picker.textContent = "";
    schemes.forEach(function (scheme) {
      var groups = [];
      var byGroup = {};
      scheme.codes.forEach(function (code) {
        if (code.retired) {
          return;
        }
        if (!byGroup[code.group]) {
          byGroup[code.group] = [];
          groups.push(code.group);
        }
        byGroup[code.group].push(code);
      });
      var who = scheme.subjects.map(function (x) { return SUBJECTS[x]; }).join(", ");
      var box = el("details", { className: "codes__scheme", "data-scheme": scheme.id }, [
        el("summary", {}, [scheme.title, who ? el("span", { className: "muted", text: " (" + who + ")" }) : null]),
      ]);
      groups.forEach(function (group) {
        var list = el("div", { className: "codes__list", role: "group", "aria-label": groupLabel(group) });
        byGroup[group].forEach(function (code) {
          var swatch = el("span", { className: "code__swatch", "aria-hidden": "true" });
          swatch.style.background = code.colour;
          var key = code.key ? code.key.toUpperCase() : null;
          var button = el("button", {
            type: "button",
            className: "code" + (code.parent ? "" : " code--head"),
            "aria-pressed": "false",
            "data-scheme": scheme.id,
            "data-code": code.id,
          }, [swatch, el("span", { className: "code__label", text: code.label }),
            key ? el("kbd", { text: key, "aria-label": "key " + key }) : null]);
          bindCode(button, scheme, code);
          list.appendChild(button);
        });
        box.appendChild(el("h3", { className: "codes__group", text: groupLabel(group) }));
        box.appendChild(list);
      });
      picker.appendChild(box);
    });
    openSchemesFor(subject());
    showDraft();
  }

  /** Tap, long press and armed second tap on a palette button (see the header). */
  function bindCode(button, scheme, code) {
    var timer = null;
    var longPressed = false;
    button.addEventListener("pointerdown", function () {
      longPressed = false;
      if (draft || locked) {
        return;
      }
      timer = window.setTimeout(function () {
        longPressed = true;
        arm(scheme, code);
      }, LONG_PRESS_MS);
    });
    ["pointerup", "pointerleave", "pointercancel"].forEach(function (name) {
      button.addEventListener(name, function () {
        window.clearTimeout(timer);
      });
    });
    button.addEventListener("contextmenu", function (event) {
      event.preventDefault(); // a long press is ours, not the browser's menu
    });
    button.addEventListener("click", function () {
      if (longPressed) {
        longPressed = false;
        return;
      }
      tapCode(scheme, code);
    });
  }

  function tapCode(scheme, code) {
    if (draft) {
      toggleCode(scheme.id, code.id);
      return;
    }
    if (armed && armed.scheme.id === scheme.id && armed.code.id === code.id) {
      var end = P.nowMs();
      var start = armed.start;
      disarm();
      if (end <= start) {
        say("The stretch must end after it starts (" + P.fmt(start) + "). Play on, then tap again.", true);
        return;
      }
      quickAnnotate(scheme, code, { start: start, end: end });
      return;
    }
    var intervalMode = document.getElementById("interval-mode");
    if (intervalMode && intervalMode.checked) {
      arm(scheme, code);
      return;
    }
    quickAnnotate(scheme, code);
  }

  function arm(scheme, code) {
    armed = { scheme: scheme, code: code, start: P.nowMs() };
    picker.querySelectorAll(".code").forEach(function (b) {
      b.classList.toggle("code--armed", b.dataset.scheme === scheme.id && b.dataset.code === code.id);
    });
    say(code.label + " starts at " + P.fmt(armed.start) + " (frame " + P.frameOf(armed.start) +
      "). Tap it again where the stretch ends.");
  }

  function disarm() {
    armed = null;
    picker.querySelectorAll(".code--armed").forEach(function (b) {
      b.classList.remove("code--armed");
    });
  }

  /** Open the schemes coders use for this subject (e.g. infant cues for the baby). */
  function openSchemesFor(value) {
    picker.querySelectorAll(".codes__scheme").forEach(function (box) {
      var scheme = findScheme(box.dataset.scheme);
      box.open = Boolean(scheme) && (!scheme.subjects.length || scheme.subjects.indexOf(value) >= 0);
    });
  }

  /* -- threads -------------------------------------------------------------------- */

  function label(annotation) {
    var codes = annotation.codes.map(function (c) { return c.label; }).join(", ");
    return codes || annotation.text.slice(0, 60) || SUBJECTS[annotation.subject];
  }

  function when(a) {
    return P.fmt(a.start_ms) + (a.end_ms !== null ? "–" + P.fmt(a.end_ms) : "");
  }

  function chip(code) {
    var swatch = el("span", { className: "code__swatch", "aria-hidden": "true" });
    swatch.style.background = code.colour || "#5F6B7A";
    return el("span", { className: "chip" }, [swatch, code.label]);
  }

  function act(promise, done) {
    return promise.then(done || load, function (error) {
      window.alert(error.message);
    });
  }

  function linkLine(link, a) {
    var outgoing = link.source_id === a.id;
    var other = annotations.find(function (x) {
      return x.id === (outgoing ? link.target_id : link.source_id);
    });
    var text = outgoing
      ? "→ " + RELATIONS[link.relation] + " " + (other ? when(other) + " " + label(other) : "")
      : "← " + (other ? when(other) + " " + label(other) : "") + " (" + RELATIONS[link.relation] + " this)";
    var remove = locked ? null : el("button", {
      type: "button", className: "button button--small button--quiet", text: "Unlink",
      onclick: function () {
        act(P.api(P.url("link", link.id), { method: "DELETE" }));
      },
    });
    return el("li", { className: "thread__link" }, [text, " ", remove]);
  }

  function replyForm(a) {
    var id = "reply-" + a.id;
    var area = el("textarea", { id: id, rows: "2", maxlength: "10000" });
    var formNode = el("form", { className: "reply-form" }, [
      el("label", { for: id, text: "Reply" }), area,
      el("button", { type: "submit", className: "button button--small button--primary", text: "Send reply" }),
    ]);
    formNode.addEventListener("submit", function (event) {
      event.preventDefault();
      act(P.api(P.url("replies", a.id), { method: "POST", body: { text: area.value } }));
    });
    area.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        formNode.requestSubmit();  // Ctrl/Cmd+Enter sends, as in mail and chat
      }
    });
    return formNode;
  }

  function linkForm(a) {
    var id = "link-" + a.id;
    var target = el("select", { id: id }, annotations.filter(function (x) {
      return x.id !== a.id;
    }).map(function (x) {
      return el("option", { value: x.id, text: when(x) + " " + SUBJECTS[x.subject] + ": " + label(x) });
    }));
    var relation = el("select", { id: id + "-rel" }, Object.keys(RELATIONS).map(function (r) {
      return el("option", { value: r, text: RELATIONS[r] });
    }));
    var formNode = el("form", { className: "link-form", hidden: true }, [
      el("label", { for: id + "-rel", text: "This annotation is" }), relation,
      el("label", { for: id, text: "the annotation" }), target,
      el("button", { type: "submit", className: "button button--small button--primary", text: "Link" }),
    ]);
    formNode.addEventListener("submit", function (event) {
      event.preventDefault();
      act(P.api(config.urls.links, {
        method: "POST",
        body: { source_id: a.id, target_id: target.value, relation: relation.value },
      }));
    });
    return formNode;
  }

  function edit(a) {
    draft = {
      start: a.start_ms, end: a.end_ms, scheme: a.scheme_id,
      codes: a.codes.map(function (c) { return c.id; }), editing: a.id, revision: a.revision,
    };
    setSubject(a.subject);
    note.value = a.text;
    document.getElementById("draft").checked = a.visibility === "draft";
    D.setDraft(a.shapes || []);
    P.seek(a.start_ms);
    showDraft();
    heading.focus();
  }

  function thread(a) {
    var mine = a.author_id === config.user.id;
    var badges = [
      a.visibility === "draft" ? el("span", { className: "badge badge--warn", text: "Draft" }) : null,
      a.resolved ? el("span", { className: "badge badge--ok", text: "Resolved" }) : null,
      a.shapes && a.shapes.length
        ? el("span", { className: "badge badge--info", text: "Drawing (" + a.shapes.length + ")" })
        : null,
    ];
    var seekButton = el("button", {
      type: "button", className: "thread__time", "aria-label": "Go to " + when(a),
      onclick: function () { P.seek(a.start_ms); },
    }, [when(a)]);
    var links = el("ul", { className: "thread__links" }, a.links.map(function (k) { return linkLine(k, a); }));
    var replies = el("ul", { className: "replies" }, a.replies.map(function (r) {
      var remove = !locked && r.author_id === config.user.id ? el("button", {
        type: "button", className: "button button--small button--quiet", text: "Delete",
        onclick: function () {
          if (window.confirm("Delete this reply?")) {
            act(P.api(P.url("reply", r.id), { method: "DELETE" }));
          }
        },
      }) : null;
      return el("li", { className: "reply" }, [
        el("span", { className: "reply__who", text: (r.author || r.author_role) + " (" + r.author_role + ")" }),
        el("p", { className: "reply__text prewrap", text: r.text }), remove,
      ]);
    }));
    var linker = locked || annotations.length < 2 ? null : linkForm(a);
    var actions = locked ? null : el("div", { className: "thread__actions" }, [
      el("button", {
        type: "button", className: "button button--small", text: a.resolved ? "Reopen" : "Resolve",
        onclick: function () {
          act(P.api(P.url("resolve", a.id), { method: "POST", body: { resolved: !a.resolved } }));
        },
      }),
      linker ? el("button", {
        type: "button", className: "button button--small", text: "Link…", "aria-expanded": "false",
        onclick: function (event) {
          linker.hidden = !linker.hidden;
          event.currentTarget.setAttribute("aria-expanded", String(!linker.hidden));
        },
      }) : null,
      mine ? el("button", { type: "button", className: "button button--small", text: "Edit",
        onclick: function () { edit(a); } }) : null,
      mine ? el("button", {
        type: "button", className: "button button--small button--danger", text: "Delete",
        onclick: function () {
          if (window.confirm("Delete this annotation?")) {
            act(P.api(P.url("annotation", a.id), { method: "DELETE" }));
          }
        },
      }) : null,
    ]);
    return el("li", { className: "thread" + (a.resolved ? " thread--resolved" : ""), id: "a-" + a.id }, [
      el("div", { className: "thread__head" }, [seekButton,
        el("span", { className: "thread__subject", text: SUBJECTS[a.subject] })].concat(
        a.codes.map(chip), badges)),
      a.text ? el("p", { className: "thread__text prewrap", text: a.text }) : null,
      el("p", { className: "thread__meta", text: (a.author || "") + " (" + a.author_role + ")" }),
      a.links.length ? links : null,
      a.replies.length ? replies : null,
      actions, linker, locked ? null : replyForm(a),
    ]);
  }

  function draw() {
    threads.textContent = "";
    annotations.forEach(function (a) {
      threads.appendChild(thread(a));
    });
    document.getElementById("annotation-count").textContent = "(" + annotations.length + ")";
    document.getElementById("threads-empty").hidden = annotations.length > 0;
    P.setMarkers(annotations.map(function (a) {
      var coder = a.author || a.author_role;
      return {
        id: a.id, start: a.start_ms, end: a.end_ms, label: label(a),
        colour: a.codes.length ? a.codes[0].colour : null,
        coder: coder, tag: initials(coder), codes: a.codes,
      };
    }));
    D.setAnnotations(annotations);
  }

  /** A coder's short tag on the timeline markers ("Sam Facilitator" -> "SF"). */
  function initials(name) {
    var parts = String(name || "?").trim().split(/\s+/);
    return parts.slice(0, 2).map(function (p) { return p.charAt(0).toUpperCase(); }).join("");
  }

  function load() {
    return P.api(config.urls.annotations).then(function (data) {
      annotations = data.annotations;
      draw();
    }, function (error) {
      say(error.message, true);
    });
  }

  /* A notice links to "#annotation-<id>": once the threads are drawn, go to its moment,
     bring its thread into view and mark it, so the reply it announced is found at once. */
  var wanted = (/^#annotation-([\w-]+)$/.exec(window.location.hash) || [])[1] || null;

  function openWanted() {
    if (!wanted) {
      return;
    }
    var a = annotations.find(function (x) { return x.id === wanted; });
    var item = document.getElementById("a-" + wanted);
    wanted = null;
    if (!a || !item) {
      say("That annotation is no longer on this clip: it may have been deleted.", true);
      return;
    }
    P.seek(a.start_ms);
    item.classList.add("thread--current", "thread--opened");
    reveal(item, "center");
    item.querySelector(".thread__time").focus({ preventScroll: true });
    window.setTimeout(function () { item.classList.remove("thread--current"); }, 4000);
  }

  /** Scroll ``item`` into view, below the player where the player sticks above the
      threads (a tablet held upright), so the video does not cover it. */
  function reveal(item, block) {
    var player = document.querySelector(".review-layout > .player");
    var p = player ? player.getBoundingClientRect() : null;
    var r = item.getBoundingClientRect();
    var above = p !== null && p.left < r.right && p.right > r.left;
    item.style.scrollMarginTop = above ? Math.ceil(p.height) + 8 + "px" : "";
    item.scrollIntoView({ block: above && block === "center" ? "start" : block });
  }

  document.addEventListener("verp:marker", function (event) {
    var item = document.getElementById("a-" + event.detail);
    if (item) {
      item.classList.add("thread--current");
      window.setTimeout(function () { item.classList.remove("thread--current"); }, 2000);
      reveal(item, "nearest");
    }
  });

  P.onKey(function (key) {
    if (locked) {
      return false;
    }
    if (key === "a" || key === "A") {
      openDraft();
      draft.start = draft.editing ? draft.start : P.nowMs();
      showDraft();
      heading.focus();
      return true;
    }
    if (key === "i" || key === "I") {
      markIn();
      return true;
    }
    if (key === "o" || key === "O") {
      markOut();
      return true;
    }
    var hit = key.length === 1 ? byKey[key.toLowerCase()] : null;
    if (!hit) {
      return false;
    }
    if (draft) {
      toggleCode(hit.scheme.id, hit.code.id);
    } else {
      quickAnnotate(hit.scheme, hit.code);
    }
    return true;
  });

  var codesDrawn = P.api(config.urls.taxonomies).then(function (data) {
    // Cues before responses: order schemes by the first subject they are for.
    var order = Object.keys(SUBJECTS);
    var rank = function (scheme) {
      var first = scheme.subjects.length ? order.indexOf(scheme.subjects[0]) : order.length;
      return first < 0 ? order.length : first;
    };
    schemes = data.schemes.slice().sort(function (a, b) {
      return rank(a) - rank(b);
    });
    schemes.forEach(function (scheme) {
      scheme.codes.forEach(function (code) {
        if (code.key && !code.retired) {
          byKey[code.key.toLowerCase()] = { scheme: scheme, code: code };
        }
      });
    });
    if (picker) {
      drawPicker();
    }
  }, function (error) {
    say(error.message, true);
  });
  D.onStart(function () {
    openDraft();
  });
  /** Resolves once the video knows its size (or could not load): the layout is final. */
  function videoSized() {
    return new Promise(function (resolve) {
      if (P.video.readyState >= 1) {
        resolve();
        return;
      }
      P.video.addEventListener("loadedmetadata", resolve, { once: true });
      P.video.addEventListener("error", resolve, { once: true });
    });
  }

  bindEditor();
  // The codes and the video change the layout as they arrive: reveal the linked thread after.
  Promise.all([load(), codesDrawn, videoSized()]).then(openWanted);
})();
