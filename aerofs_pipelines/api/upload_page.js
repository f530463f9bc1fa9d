// The upload page's script (aerofs_pipelines/api/upload_page.py): choose files, name the
// batch, upload each file with a progress bar, complete the batch, follow its state.
// Everything shown comes from textContent or a checked href, never from innerHTML.
"use strict";

(function () {
  var ID_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  var PARALLEL = 2; // files in flight at once
  var POLL_MS = 2000;
  var FINAL = { processed: true, failed: true };

  function $(id) {
    return document.getElementById(id);
  }
  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }

  var CSRF = meta("csrf-token");
  var MAX_BYTES = parseInt(meta("aerofs-max-upload-bytes"), 10) || 0;

  var el = {
    drop: $("drop-zone"),
    input: $("file-input"),
    table: $("file-table"),
    rows: $("file-rows"),
    summary: $("file-summary"),
    clear: $("clear-files"),
    batchId: $("batch-id"),
    newId: $("new-id"),
    batchError: $("batch-id-error"),
    upload: $("upload"),
    startOver: $("start-over"),
    message: $("message"),
    result: $("result"),
    resultBatch: $("result-batch"),
    steps: $("steps"),
    state: $("batch-state"),
    stateDetail: $("state-detail"),
    runsLink: $("runs-link"),
    assetsLink: $("assets-link"),
    runTable: $("run-table"),
    runRows: $("run-rows"),
    another: $("another"),
    maxSize: $("max-size"),
  };

  // ------------------------------------------------------------------ state

  var files = []; // {file, name, row, bar, pct, status, remove, problem, state, digest}
  var phase = "choose"; // choose | uploading | failed | completing | done
  var uploadId = null; // one per batch this page uploads
  var lockedBatch = null; // the batch id once an upload started
  var pollTimer = null;

  // ------------------------------------------------------------------ helpers

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function suggestedId() {
    var d = new Date();
    return (
      "upload-" + d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + "-" +
      pad(d.getHours()) + pad(d.getMinutes()) + pad(d.getSeconds())
    );
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return "page-" + hex;
  }

  function humanSize(n) {
    if (n < 1024) return n + " B";
    var units = ["KiB", "MiB", "GiB", "TiB"];
    var v = n;
    var i = -1;
    do {
      v /= 1024;
      i++;
    } while (v >= 1024 && i < units.length - 1);
    return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
  }

  function quoteChars(chars) {
    return chars.map(function (c) {
      return c === " " ? "space" : c === "/" || c === "\\" ? "'" + c + "' (no folders)" : "'" + c + "'";
    }).join(", ");
  }

  // Why a batch id or file name breaks the rule; "" when it follows it.
  function ruleProblem(value, what) {
    if (value === "") return "Enter a " + what + ".";
    if (ID_RULE.test(value)) return "";
    var problems = [];
    if (!/^[A-Za-z0-9]/.test(value)) problems.push("it must start with a letter or digit");
    var bad = [];
    for (var i = 0; i < value.length; i++) {
      var c = value.charAt(i);
      if (!/[A-Za-z0-9._-]/.test(c) && bad.indexOf(c) < 0) bad.push(c);
    }
    if (bad.length) problems.push("not allowed: " + quoteChars(bad));
    if (value.length > 128) problems.push("it has " + value.length + " characters, at most 128");
    return "The " + what + " breaks the rule: " + problems.join("; ") + ".";
  }

  // The API's own message (errors[0].message), else the HTTP status.
  function apiError(status, text) {
    try {
      var doc = JSON.parse(text);
      if (doc && doc.errors && doc.errors.length && doc.errors[0].message) {
        return String(doc.errors[0].message);
      }
    } catch (e) {
      /* not JSON */
    }
    if (status === 401) return "Your session has ended: sign in again (reload this page).";
    if (status === 403) return "Refused (403): your role may not upload.";
    if (status === 0) return "The server could not be reached.";
    return "The server answered " + status + ".";
  }

  function headers() {
    var h = { "X-Upload-Id": uploadId };
    if (CSRF) h["X-CSRF-Token"] = CSRF;
    return h;
  }

  function apiUrl(batchId, rest) {
    return "/api/batches/" + encodeURIComponent(batchId) + (rest || "");
  }

  // Only the gateway's own paths become links (no other scheme, no other host).
  function safeHref(value) {
    return typeof value === "string" && value.charAt(0) === "/" && value.charAt(1) !== "/" &&
      value.charAt(1) !== "\\" ? value : null;
  }

  function setMessage(text, kind) {
    el.message.textContent = text;
    el.message.className = kind || "";
  }

  // ------------------------------------------------------------------ the file list

  function fileProblem(entry) {
    var name = entry.name;
    var problem = ruleProblem(name, "file name");
    if (problem) return problem;
    if (MAX_BYTES && entry.file.size > MAX_BYTES) {
      return "Too large: " + humanSize(entry.file.size) + ", at most " + humanSize(MAX_BYTES) + ".";
    }
    return "";
  }

  function addFiles(list, folders) {
    if (phase !== "choose") return;
    var replaced = [];
    for (var i = 0; i < list.length; i++) {
      var file = list[i];
      var entry = { file: file, name: file.name, state: "ready", digest: null };
      var at = -1;
      for (var j = 0; j < files.length; j++) if (files[j].name === file.name) at = j;
      if (at >= 0) {
        files[at].row.remove();
        files.splice(at, 1, entry);
        replaced.push(file.name);
      } else {
        files.push(entry);
      }
      buildRow(entry);
    }
    for (var k = 0; k < (folders || []).length; k++) {
      var folder = { file: null, name: folders[k], state: "refused", digest: null };
      files.push(folder);
      buildRow(folder);
    }
    renderFiles();
    if (replaced.length) {
      setMessage("Replaced by the newly chosen file: " + replaced.join(", ") + ".", "warn");
    }
  }

  function buildRow(entry) {
    var row = document.createElement("tr");
    row.setAttribute("data-testid", "file-row");
    row.setAttribute("data-name", entry.name);
    var name = document.createElement("td");
    name.className = "name";
    name.textContent = entry.name;
    var size = document.createElement("td");
    size.className = "num";
    size.textContent = entry.file ? humanSize(entry.file.size) : "";
    var progressCell = document.createElement("td");
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("data-testid", "file-progress");
    bar.setAttribute("aria-label", "Upload progress of " + entry.name);
    var pct = document.createElement("span");
    pct.className = "pct";
    pct.setAttribute("data-testid", "file-percent");
    pct.textContent = "";
    progressCell.appendChild(bar);
    progressCell.appendChild(document.createTextNode(" "));
    progressCell.appendChild(pct);
    var status = document.createElement("td");
    status.setAttribute("data-testid", "file-status");
    var action = document.createElement("td");
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove " + entry.name);
    remove.addEventListener("click", function () {
      var at = files.indexOf(entry);
      if (at >= 0) files.splice(at, 1);
      row.remove();
      renderFiles();
    });
    action.appendChild(remove);
    row.appendChild(name);
    row.appendChild(size);
    row.appendChild(progressCell);
    row.appendChild(status);
    row.appendChild(action);
    entry.row = row;
    entry.bar = bar;
    entry.pct = pct;
    entry.status = status;
    entry.remove = remove;
    el.rows.appendChild(row);
  }

  function setProgress(entry, percent) {
    var p = Math.max(0, Math.min(100, Math.floor(percent)));
    entry.bar.value = p;
    entry.pct.textContent = p + " %";
  }

  function setStatus(entry, text, kind) {
    entry.status.textContent = text;
    entry.status.className = kind || "";
  }

  // Recompute each file's problem and the summary; returns the number refused.
  function renderFiles() {
    var refused = 0;
    for (var i = 0; i < files.length; i++) {
      var entry = files[i];
      if (entry.state === "ready" || entry.state === "refused") {
        entry.problem = entry.file ? fileProblem(entry) : "A folder: drop or choose the files in it.";
        entry.state = entry.problem ? "refused" : "ready";
        entry.row.className = entry.problem ? "refused" : "";
        setStatus(entry, entry.problem ? "Would be refused. " + entry.problem : "Ready", entry.problem ? "error" : "");
      }
      if (entry.state === "refused") refused++;
      entry.remove.hidden = !(phase === "choose" || (phase === "failed" && entry.state === "error"));
    }
    el.table.hidden = files.length === 0;
    el.clear.hidden = files.length === 0 || phase !== "choose";
    var total = 0;
    for (var t = 0; t < files.length; t++) if (files[t].file) total += files[t].file.size;
    if (!files.length) {
      el.summary.textContent = "No file chosen yet.";
      el.summary.className = "hint";
    } else {
      var text = files.length + (files.length === 1 ? " file, " : " files, ") + humanSize(total) + ".";
      if (refused) {
        text += " " + refused + (refused === 1 ? " file breaks" : " files break") +
          " the rules: remove or rename " + (refused === 1 ? "it" : "them") + " before uploading.";
      }
      el.summary.textContent = text;
      el.summary.className = refused ? "error" : "";
    }
    updateButton();
    return refused;
  }

  // ------------------------------------------------------------------ the batch id

  function checkBatchId() {
    var problem = ruleProblem(el.batchId.value, "batch id");
    el.batchError.textContent = problem;
    el.batchId.setAttribute("aria-invalid", problem ? "true" : "false");
    return !problem;
  }

  function updateButton() {
    var ready = files.length > 0 && files.every(function (f) {
      return f.state !== "refused";
    });
    var idOk = !ruleProblem(el.batchId.value, "batch id");
    if (phase === "choose") {
      el.upload.textContent = "Upload";
      el.upload.disabled = !(ready && idOk);
    } else if (phase === "failed") {
      el.upload.textContent = "Retry";
      el.upload.disabled = files.length === 0;
    } else {
      el.upload.disabled = true;
    }
  }

  // ------------------------------------------------------------------ uploading

  function putFile(batchId, entry) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", apiUrl(batchId, "/files/" + encodeURIComponent(entry.name)));
      var h = headers();
      for (var k in h) xhr.setRequestHeader(k, h[k]);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      entry.state = "uploading";
      setStatus(entry, "Uploading…");
      setProgress(entry, 0);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable && e.total > 0) {
          setProgress(entry, (100 * e.loaded) / e.total);
          if (e.loaded >= e.total) setStatus(entry, "Checking…");
        }
      };
      xhr.onload = function () {
        if (xhr.status === 200 || xhr.status === 201) {
          var doc = null;
          try {
            doc = JSON.parse(xhr.responseText);
          } catch (e) {
            doc = null;
          }
          if (doc && typeof doc.digest === "string") {
            entry.state = "uploaded";
            entry.digest = doc.digest;
            setProgress(entry, 100);
            setStatus(entry, xhr.status === 201 ? "Uploaded" : "Uploaded (already there)", "ok");
            resolve(true);
            return;
          }
        }
        entry.state = "error";
        setStatus(entry, apiError(xhr.status, xhr.responseText), "error");
        resolve(false);
      };
      xhr.onerror = function () {
        entry.state = "error";
        setStatus(entry, "The upload was interrupted (network error). Retry to send it again.", "error");
        resolve(false);
      };
      xhr.onabort = xhr.onerror;
      xhr.send(entry.file);
    });
  }

  function uploadAll(batchId, todo) {
    var next = 0;
    var failures = 0;
    function worker() {
      if (next >= todo.length) return Promise.resolve();
      var entry = todo[next++];
      return putFile(batchId, entry).then(function (ok) {
        if (!ok) failures++;
        return worker();
      });
    }
    var workers = [];
    for (var i = 0; i < Math.min(PARALLEL, todo.length); i++) workers.push(worker());
    return Promise.all(workers).then(function () {
      return failures;
    });
  }

  // Whether the id is free (or already ours, from an earlier try on this page).
  function checkUnused(batchId) {
    return fetch(apiUrl(batchId), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 404) return "";
        return r.text().then(function (text) {
          if (!r.ok) return apiError(r.status, text);
          var doc = JSON.parse(text);
          var owner = doc.upload && doc.upload.owner ? String(doc.upload.owner) : "";
          if (doc.state === "uploading" && uploadId && owner.slice(-(uploadId.length + 1)) === "/" + uploadId) {
            return "";
          }
          if (doc.state === "uploading") {
            return "Batch " + batchId + " is being uploaded by someone else: choose another batch id.";
          }
          return "Batch " + batchId + " already exists (" + doc.state + "): choose another batch id.";
        });
      })
      .catch(function () {
        return "The server could not be reached.";
      });
  }

  function lockInputs(locked) {
    el.input.disabled = locked;
    el.batchId.disabled = locked;
    el.newId.disabled = locked;
    el.drop.setAttribute("aria-disabled", locked ? "true" : "false");
  }

  function startUpload() {
    if (phase === "choose") {
      if (!checkBatchId() || renderFiles() > 0 || !files.length) return;
      lockedBatch = el.batchId.value;
      uploadId = randomId();
    } else if (phase !== "failed") {
      return;
    }
    var batchId = lockedBatch;
    var first = phase === "choose";
    phase = "uploading";
    lockInputs(true);
    el.startOver.hidden = true;
    renderFiles();
    setMessage(first ? "Checking the batch id…" : "Retrying…");
    var checked = first ? checkUnused(batchId) : Promise.resolve("");
    checked.then(function (problem) {
      if (problem) {
        phase = "choose";
        lockedBatch = null;
        lockInputs(false);
        renderFiles();
        el.batchError.textContent = problem;
        el.batchId.setAttribute("aria-invalid", "true");
        setMessage(problem, "error");
        el.batchId.focus();
        return;
      }
      var todo = files.filter(function (f) {
        return f.state !== "uploaded";
      });
      setMessage("Uploading " + todo.length + (todo.length === 1 ? " file" : " files") + " to batch " + batchId + "…");
      uploadAll(batchId, todo).then(function (failures) {
        if (failures) {
          phase = "failed";
          el.startOver.hidden = false;
          renderFiles();
          setMessage(
            failures + (failures === 1 ? " file was" : " files were") + " not uploaded (see each file). " +
              "Retry sends them again; the batch is not complete until every file is in.",
            "error"
          );
          return;
        }
        complete(batchId);
      });
    });
  }

  function complete(batchId) {
    phase = "completing";
    renderFiles();
    setMessage("All files uploaded; completing batch " + batchId + "…");
    var digests = {};
    files.forEach(function (f) {
      digests[f.name] = f.digest;
    });
    var h = headers();
    h["Content-Type"] = "application/json";
    h.Accept = "application/json";
    fetch(apiUrl(batchId, "/complete"), {
      method: "POST",
      headers: h,
      credentials: "same-origin",
      body: JSON.stringify({ files: digests }),
    })
      .then(function (r) {
        return r.text().then(function (text) {
          return { status: r.status, ok: r.ok, text: text };
        });
      })
      .then(function (r) {
        if (!r.ok) {
          phase = "failed";
          el.startOver.hidden = false;
          renderFiles();
          setMessage("The batch was not completed: " + apiError(r.status, r.text), "error");
          return;
        }
        phase = "done";
        renderFiles();
        setMessage(
          "Batch " + batchId + " is complete: " + files.length + (files.length === 1 ? " file" : " files") +
            " landed. It is processed next.",
          "ok"
        );
        showResult(batchId);
      })
      .catch(function () {
        phase = "failed";
        el.startOver.hidden = false;
        renderFiles();
        setMessage("The batch was not completed: the server could not be reached. Retry.", "error");
      });
  }

  // ------------------------------------------------------------------ following the batch

  function showResult(batchId) {
    el.result.hidden = false;
    el.resultBatch.textContent = batchId;
    showState({ state: "landed" });
    poll(batchId);
  }

  function showState(doc) {
    var state = String(doc.state || "");
    el.state.textContent = state;
    el.state.className = state === "processed" ? "ok" : state === "failed" ? "error" : "";
    var order = ["landed", "processing", "processed"];
    var at = order.indexOf(state === "failed" ? "processed" : state);
    var items = el.steps.querySelectorAll("li");
    for (var i = 0; i < items.length; i++) {
      var li = items[i];
      var isLast = li.getAttribute("data-state") === "processed";
      li.className = i < at || (i === at && state === "processed") ? "done" : i === at ? "current" : "";
      if (isLast) {
        li.textContent = state === "failed" ? "Failed" : "Processed";
        if (state === "failed") li.className = "failed";
      }
    }
  }

  function showRuns(runs) {
    el.runRows.textContent = "";
    (runs || []).forEach(function (run) {
      var row = document.createElement("tr");
      row.setAttribute("data-testid", "run-row");
      var idCell = document.createElement("td");
      var href = safeHref(run.link);
      var label = String(run.run_id || "").slice(0, 8);
      if (href) {
        var a = document.createElement("a");
        a.setAttribute("href", href);
        a.textContent = label;
        idCell.appendChild(a);
      } else {
        idCell.textContent = label;
      }
      row.appendChild(idCell);
      [run.job, run.status, run.created ? new Date(run.created).toLocaleString() : ""].forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = v == null ? "" : String(v);
        row.appendChild(td);
      });
      el.runRows.appendChild(row);
    });
    el.runTable.hidden = !(runs && runs.length);
  }

  function showOutcomes(docFiles) {
    (docFiles || []).forEach(function (f) {
      var entry = null;
      for (var i = 0; i < files.length; i++) if (files[i].name === f.name) entry = files[i];
      if (!entry || !f.outcome) return;
      var o = f.outcome;
      var text = [o.dataset ? "Dataset " + o.dataset : o.kind ? String(o.kind) : "", o.status ? String(o.status) : ""]
        .filter(Boolean)
        .join(": ");
      var processed = o.status === "processed";
      if (o.reason && !processed) text += " (" + String(o.reason) + ")"; // why it was not
      setStatus(entry, text || "Uploaded", processed ? "ok" : o.status === "quarantined" ? "error" : "warn");
    });
  }

  function poll(batchId) {
    function tick() {
      pollTimer = null;
      fetch(apiUrl(batchId), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) {
          return r.text().then(function (text) {
            return { status: r.status, ok: r.ok, text: text };
          });
        })
        .then(function (r) {
          if (lockedBatch !== batchId) return; // "upload another batch" was pressed
          if (!r.ok) {
            el.stateDetail.textContent = "Could not refresh: " + apiError(r.status, r.text);
            if (r.status === 401 || r.status === 403) return; // no point in asking again
            pollTimer = window.setTimeout(tick, POLL_MS);
            return;
          }
          var doc = JSON.parse(r.text);
          showState(doc);
          var links = doc.links || {};
          var runs = safeHref(links.runs);
          var assets = safeHref(links.assets);
          if (runs) el.runsLink.setAttribute("href", runs);
          if (assets) el.assetsLink.setAttribute("href", assets);
          showRuns(doc.runs);
          showOutcomes(doc.files);
          if (FINAL[doc.state]) {
            el.stateDetail.textContent = "";
            return;
          }
          el.stateDetail.textContent = "(checked " + new Date().toLocaleTimeString() + ", every 2 s)";
          pollTimer = window.setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          if (lockedBatch !== batchId) return;
          el.stateDetail.textContent = "Could not refresh: the server could not be reached; trying again.";
          pollTimer = window.setTimeout(tick, POLL_MS);
        });
    }
    tick();
  }

  // ------------------------------------------------------------------ resetting

  function reset(keepFiles) {
    if (pollTimer) window.clearTimeout(pollTimer);
    pollTimer = null;
    phase = "choose";
    uploadId = null;
    lockedBatch = null;
    lockInputs(false);
    el.result.hidden = true;
    el.startOver.hidden = true;
    el.runRows.textContent = "";
    el.runTable.hidden = true;
    el.runsLink.setAttribute("href", "/runs");
    el.assetsLink.setAttribute("href", "/assets");
    if (!keepFiles) {
      files = [];
      el.rows.textContent = "";
    } else {
      files.forEach(function (f) {
        f.state = "ready";
        f.digest = null;
        f.bar.value = 0;
        f.pct.textContent = "";
      });
    }
    el.batchId.value = suggestedId();
    checkBatchId();
    setMessage("");
    renderFiles();
  }

  // ------------------------------------------------------------------ wiring

  el.input.addEventListener("change", function () {
    addFiles(Array.prototype.slice.call(el.input.files || []));
    el.input.value = ""; // choosing the same file again is a change again
  });

  ["dragenter", "dragover"].forEach(function (type) {
    el.drop.addEventListener(type, function (e) {
      e.preventDefault();
      if (phase === "choose") {
        el.drop.classList.add("over");
        if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      } else if (e.dataTransfer) {
        e.dataTransfer.dropEffect = "none";
      }
    });
  });
  el.drop.addEventListener("dragleave", function () {
    el.drop.classList.remove("over");
  });
  el.drop.addEventListener("drop", function (e) {
    e.preventDefault();
    el.drop.classList.remove("over");
    if (phase !== "choose" || !e.dataTransfer) return;
    var chosen = [];
    var folders = [];
    var items = e.dataTransfer.items;
    if (items && items.length && typeof items[0].webkitGetAsEntry === "function") {
      for (var i = 0; i < items.length; i++) {
        if (items[i].kind !== "file") continue;
        var entry = items[i].webkitGetAsEntry();
        if (entry && entry.isDirectory) {
          folders.push(entry.name + "/");
          continue;
        }
        var file = items[i].getAsFile();
        if (file) chosen.push(file);
      }
    } else {
      chosen = Array.prototype.slice.call(e.dataTransfer.files || []);
    }
    addFiles(chosen, folders);
  });
  // A file dropped beside the zone must not replace the page.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (e) {
      e.preventDefault();
    });
  });

  el.batchId.addEventListener("input", function () {
    checkBatchId();
    updateButton();
  });
  el.newId.addEventListener("click", function () {
    el.batchId.value = suggestedId();
    checkBatchId();
    updateButton();
  });
  el.clear.addEventListener("click", function () {
    if (phase !== "choose") return;
    files = [];
    el.rows.textContent = "";
    setMessage("");
    renderFiles();
  });
  el.upload.addEventListener("click", startUpload);
  el.startOver.addEventListener("click", function () {
    reset(true);
    setMessage("Nothing was completed: the files are ready again under a new batch id.", "warn");
  });
  el.another.addEventListener("click", function () {
    reset(false);
  });
  window.addEventListener("beforeunload", function (e) {
    if (phase === "uploading" || phase === "completing") {
      e.preventDefault();
      e.returnValue = "";
    }
  });

  el.maxSize.textContent = MAX_BYTES ? humanSize(MAX_BYTES) : "the server's limit";
  reset(false);
})();
