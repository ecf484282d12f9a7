/* The upload page: send the chosen or recorded video with VerpTus, then follow processing. */
(function () {
  "use strict";

  var DEFAULT_CHUNK = 5 * 1024 * 1024;
  var POLL_MS = 2000;

  function formatBytes(n) {
    if (n >= 1024 * 1024 * 1024) { return (n / (1024 * 1024 * 1024)).toFixed(1) + " GB"; }
    if (n >= 1024 * 1024) { return (n / (1024 * 1024)).toFixed(1) + " MB"; }
    return Math.max(1, Math.round(n / 1024)) + " KB";
  }

  function init(root) {
    var parts = {};
    root.querySelectorAll("[data-part]").forEach(function (el) { parts[el.getAttribute("data-part")] = el; });
    var fields = {};
    root.querySelectorAll("[data-field]").forEach(function (el) { fields[el.getAttribute("data-field")] = el; });
    var maxBytes = parseInt(root.getAttribute("data-max-bytes"), 10);
    var chunkBytes = parseInt(root.getAttribute("data-chunk-bytes"), 10) || DEFAULT_CHUNK;
    var lastAnnounced = -1;
    var current = null;

    function show(name) {
      Object.keys(parts).forEach(function (key) { parts[key].hidden = key !== name; });
      root.setAttribute("data-state", name);
      /* the page's own Cancel is for a clip still waiting; while sending, the one in the
         progress panel (which also terminates the upload) takes its place */
      var pageCancel = document.querySelector("[data-cancel-form]");
      if (pageCancel) { pageCancel.hidden = name !== "choose"; }
    }

    function setBar(percent) {
      fields.bar.value = percent;
      fields.bar.textContent = percent + "%";
    }

    function say(text) {
      fields.message.textContent = text;
    }

    function fail(text) {
      if (current) { current.abort(); }
      fields["failed-message"].textContent = text;
      show("failed");
      fields["failed-message"].setAttribute("tabindex", "-1");
      fields["failed-message"].focus();
    }

    function poll() {
      window.verp.api(root.getAttribute("data-status-url")).then(function (response) {
        if (response.status === 401) {
          fail("You were signed out. Sign in again and open the clip from the clip list.");
          return null;
        }
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      }).then(function (clip) {
        if (!clip) { return; }
        if (clip.status === "ready") {
          setBar(100);
          fields["done-message"].textContent = "The video is uploaded, processed and ready.";
          show("done");
          return;
        }
        if (clip.status === "failed" || clip.status === "destroyed") {
          var reason = clip.failure_reason || "The video could not be processed. Please upload it again.";
          /* a refused upload is destroyed at once: say so, and why */
          fail(clip.refused ? clip.status_label + ": " + reason : reason);
          return;
        }
        fields.title.textContent = clip.status === "processing" ? "Processing the video" : "Waiting to be processed";
        fields["keep-open"].textContent = "The upload is complete and safe. You can leave this page; the clip appears in the clip list when ready.";
        setBar(clip.progress || 0);
        fields.figures.textContent = clip.status === "processing" ? (clip.progress || 0) + "%" : "";
        say(clip.status === "processing" ? "Processing: " + (clip.progress || 0) + "%" : "Upload complete. Waiting for processing to start.");
        window.setTimeout(poll, POLL_MS);
      }).catch(function () {
        say("Checking progress again shortly…");
        window.setTimeout(poll, POLL_MS * 3);
      });
    }

    function startUpload(file) {
      if (!file) { return; }
      if (file.size === 0) { fail("The chosen file is empty. Please record or choose the video again."); return; }
      if (maxBytes && file.size > maxBytes) {
        fail("This video is " + formatBytes(file.size) + "; the largest accepted is " + formatBytes(maxBytes) + ".");
        return;
      }
      show("progress");
      fields.title.textContent = "Uploading";
      say("Starting the upload…");
      current = new window.VerpTus.Upload(file, {
        endpoint: root.getAttribute("data-endpoint"),
        chunkSize: chunkBytes,
        metadata: { clip: root.getAttribute("data-clip-id"), filetype: file.type || "" },
        /* the server's unfinished upload of this clip: resumed (HEAD) if the size matches */
        uploadUrl: String(file.size) === root.getAttribute("data-upload-length") ? root.getAttribute("data-upload-url") : null,
        headers: function () { return { "X-CSRFToken": window.verp.csrfToken() }; },
        onProgress: function (sent, total) {
          var percent = total ? Math.floor((sent / total) * 100) : 0;
          setBar(percent);
          fields.figures.textContent = formatBytes(sent) + " of " + formatBytes(total) + " (" + percent + "%)";
          /* announce every 25% rather than every byte */
          var milestone = Math.floor(percent / 25);
          if (milestone !== lastAnnounced) {
            lastAnnounced = milestone;
            say("Uploading: " + percent + "%");
          }
        },
        onRetry: function (delay, reason) {
          var seconds = Math.round(delay / 1000);
          say("The connection dropped. Trying again in " + seconds + (seconds === 1 ? " second" : " seconds") + ". Keep this page open.");
        },
        onSuccess: function () {
          if (fields["cancel-row"]) { fields["cancel-row"].hidden = true; }
          if (cancelForm) { cancelForm.hidden = true; }
          fields.title.textContent = "Processing the video";
          say("Upload complete. Processing the video…");
          setBar(0);
          fields.figures.textContent = "";
          poll();
        },
        onError: function (error) {
          if (error.status === 401) {
            fail("You were signed out. Sign in again, come back to this upload and choose the same video: it carries on where it stopped.");
          } else if (error.status === 413) {
            fail("This video is too large to upload.");
          } else {
            var message = "";
            try { message = JSON.parse(error.body).error.message; } catch (e) { message = ""; }
            fail(message || "The upload could not be completed. Please try again.");
          }
        }
      });
      current.start();
    }

    /* Cancel while uploading: stop, delete the upload (tus termination), then let the
       server discard the clip (the cancel form) and say so on the clip list. */
    var cancelForm = document.querySelector("[data-cancel-form]");
    root.querySelectorAll("[data-action='cancel-upload']").forEach(function (button) {
      button.addEventListener("click", function () {
        if (!window.confirm("Cancel this upload? Nothing of the video will be kept.")) { return; }
        button.disabled = true;
        say("Cancelling the upload…");
        var ended = current ? current.terminate() : Promise.resolve(0);
        ended.catch(function () { return 0; }).then(function () {
          if (cancelForm) { cancelForm.submit(); }
        });
      });
    });

    root.querySelectorAll("[data-file-input]").forEach(function (input) {
      input.addEventListener("change", function () {
        startUpload(input.files && input.files[0]);
      });
    });

    if (root.getAttribute("data-state") === "processing") {
      if (fields["cancel-row"]) { fields["cancel-row"].hidden = true; }
      show("progress");
      poll();
    } else {
      show("choose");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("uploader");
    if (root) { init(root); }
  });
})();
