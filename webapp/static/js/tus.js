/*
 * A small, dependency-free tus 1.0.0 client (creation + core protocol).
 *
 *   var upload = new VerpTus.Upload(file, {
 *     endpoint: "/api/v1/uploads/", metadata: {clip: id}, chunkSize: 5 * 1024 * 1024,
 *     headers: function () { return {"X-CSRFToken": token}; },
 *     onProgress: function (sent, total) {}, onRetry: function (delayMs, reason) {},
 *     onSuccess: function () {}, onError: function (error) {}   // error.status, error.body
 *   });
 *   upload.start();
 *
 * The upload URL is kept in localStorage under a fingerprint of the file (name, size,
 * lastModified) and the metadata, so choosing the same file again after a reload or a
 * crash resumes with HEAD + PATCH instead of starting over. ``uploadUrl`` (an unfinished
 * upload the server named) is resumed the same way when nothing was saved, e.g. after
 * the browser's storage was cleared. ``terminate()`` stops and deletes the upload (tus
 * termination) and resolves once the server answered. Network errors, 5xx, 423 and
 * 429 are retried with growing delays (forever, capped at 30 s; at once when the browser
 * comes back online); other errors end the upload.
 */
(function () {
  "use strict";

  var VERSION = "1.0.0";
  var DELAYS = [1000, 2000, 4000, 8000, 15000, 30000];
  var PREFIX = "verp-tus::";

  function TusError(message, status, body) {
    this.name = "TusError";
    this.message = message;
    this.status = status || 0;
    this.body = body || "";
  }
  TusError.prototype = Object.create(Error.prototype);

  function encodeMetadata(metadata) {
    return Object.keys(metadata).map(function (key) {
      var bytes = new TextEncoder().encode(String(metadata[key]));
      var binary = "";
      for (var i = 0; i < bytes.length; i++) {
        binary += String.fromCharCode(bytes[i]);
      }
      return key + " " + btoa(binary);
    }).join(",");
  }

  function fingerprint(file, metadata) {
    return PREFIX + [file.name, file.size, file.lastModified, encodeMetadata(metadata)].join("::");
  }

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null; /* private mode: no resume across reloads, uploads still work */
    }
  }

  function retryable(status) {
    return status === 0 || status === 423 || status === 429 || status >= 500;
  }

  function Upload(file, options) {
    this.file = file;
    this.options = options;
    this.chunkSize = options.chunkSize || 5 * 1024 * 1024;
    this.metadata = options.metadata || {};
    this.key = fingerprint(file, this.metadata);
    this.url = null;
    this.offset = 0;
    this.attempt = 0;
    this.stopped = false;
    this.xhr = null;
    this.timer = null;
  }

  Upload.prototype._request = function (method, url, headers, body, onUploadProgress) {
    var self = this;
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      self.xhr = xhr;
      xhr.open(method, url, true);
      xhr.withCredentials = true;
      xhr.setRequestHeader("Tus-Resumable", VERSION);
      var extra = self.options.headers ? self.options.headers() : {};
      Object.keys(extra).forEach(function (name) { xhr.setRequestHeader(name, extra[name]); });
      Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      if (onUploadProgress && xhr.upload) {
        xhr.upload.onprogress = function (event) { onUploadProgress(event.loaded); };
      }
      xhr.onload = function () { resolve(xhr); };
      /* status 0 marks a network failure (dropped connection, offline, timeout) */
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () { resolve({ status: 0, responseText: "", getResponseHeader: function () { return null; } }); };
      xhr.send(body || null);
    });
  };

  Upload.prototype._remember = function (url) {
    var store = storage();
    if (store) {
      try { store.setItem(this.key, url); } catch (e) { /* quota: resume within this page only */ }
    }
  };

  Upload.prototype._forget = function () {
    var store = storage();
    if (store) { store.removeItem(this.key); }
  };

  Upload.prototype.start = function () {
    var self = this;
    self.stopped = false;
    var store = storage();
    var saved = self.url || (store ? store.getItem(self.key) : null) || self.options.uploadUrl || null;
    var step = saved ? self._resume(saved) : self._create();
    step.then(function (ok) { if (ok) { self._next(); } })
      .catch(function (error) { self._fail(error); });
  };

  Upload.prototype.abort = function () {
    this.stopped = true;
    if (this.timer) { clearTimeout(this.timer); }
    if (this.xhr && this.xhr.abort) { this.xhr.abort(); }
  };

  Upload.prototype.terminate = function () {
    var self = this;
    self.abort();
    self._forget();
    var url = self.url || self.options.uploadUrl;
    if (!url) { return Promise.resolve(0); }
    /* stays stopped: a chunk aborted above must not schedule a retry */
    return self._request("DELETE", url, {}).then(function (xhr) {
      self.url = null;
      return xhr.status;
    });
  };

  Upload.prototype._create = function () {
    var self = this;
    var headers = { "Upload-Length": String(self.file.size) };
    var metadata = encodeMetadata(self.metadata);
    if (metadata) { headers["Upload-Metadata"] = metadata; }
    return self._request("POST", self.options.endpoint, headers).then(function (xhr) {
      if (xhr.status === 201 && xhr.getResponseHeader("Location")) {
        self.url = new URL(xhr.getResponseHeader("Location"), window.location.href).toString();
        self.offset = 0;
        self._remember(self.url);
        self.attempt = 0;
        return true;
      }
      return self._retryOrThrow(xhr, "could not start the upload", function () { return self._create(); });
    });
  };

  Upload.prototype._resume = function (url) {
    var self = this;
    return self._request("HEAD", url, {}).then(function (xhr) {
      var offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      if (xhr.status >= 200 && xhr.status < 300 && !isNaN(offset)) {
        self.url = url;
        self.offset = offset;
        self.attempt = 0;
        return true;
      }
      if (xhr.status === 404 || xhr.status === 410) {
        /* gone or expired: start a fresh upload */
        self._forget();
        self.url = null;
        return self._create();
      }
      /* retry network trouble; anything else (e.g. 401 signed out) ends here but keeps
         the saved URL, so the upload resumes after signing in again */
      return self._retryOrThrow(xhr, "could not continue the upload", function () { return self._resume(url); });
    });
  };

  Upload.prototype._next = function () {
    var self = this;
    if (self.stopped) { return; }
    if (self.offset >= self.file.size) {
      self._forget();
      if (self.options.onProgress) { self.options.onProgress(self.file.size, self.file.size); }
      if (self.options.onSuccess) { self.options.onSuccess(); }
      return;
    }
    var end = Math.min(self.offset + self.chunkSize, self.file.size);
    var chunk = self.file.slice(self.offset, end);
    var base = self.offset;
    var headers = {
      "Upload-Offset": String(self.offset),
      "Content-Type": "application/offset+octet-stream"
    };
    self._request("PATCH", self.url, headers, chunk, function (loaded) {
      if (self.options.onProgress) { self.options.onProgress(base + loaded, self.file.size); }
    }).then(function (xhr) {
      var offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      if (xhr.status >= 200 && xhr.status < 300 && !isNaN(offset)) {
        self.offset = offset;
        self.attempt = 0;
        self._next();
        return;
      }
      if (xhr.status === 409 || retryable(xhr.status)) {
        /* the server kept part of the body, or someone else moved the offset: ask */
        self._wait(xhr.status ? "the server asked to try again" : "the connection dropped", function () {
          self._resume(self.url).then(function (ok) { if (ok) { self._next(); } })
            .catch(function (error) { self._fail(error); });
        });
        return;
      }
      self._fail(new TusError("the server refused the upload", xhr.status, xhr.responseText));
    });
  };

  Upload.prototype._retryOrThrow = function (xhr, message, again) {
    var self = this;
    if (!retryable(xhr.status)) {
      throw new TusError(message, xhr.status, xhr.responseText);
    }
    return new Promise(function (resolve, reject) {
      self._wait(xhr.status ? "the server is busy" : "the connection dropped", function () {
        again().then(resolve, reject);
      });
    });
  };

  Upload.prototype._wait = function (reason, then) {
    var self = this;
    if (self.stopped) { return; }
    var delay = DELAYS[Math.min(self.attempt, DELAYS.length - 1)];
    self.attempt += 1;
    if (self.options.onRetry) { self.options.onRetry(delay, reason); }
    var fired = false;
    function go() {
      if (fired || self.stopped) { return; }
      fired = true;
      clearTimeout(self.timer);
      window.removeEventListener("online", go);
      then();
    }
    self.timer = setTimeout(go, delay);
    window.addEventListener("online", go);
  };

  Upload.prototype._fail = function (error) {
    if (this.stopped) { return; }
    if (this.options.onError) { this.options.onError(error); }
  };

  window.VerpTus = { Upload: Upload, TusError: TusError, fingerprint: fingerprint };
})();
