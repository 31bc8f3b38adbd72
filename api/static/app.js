// silab dashboard: experiments list with live status, filters, and a detail view.
// Uses only the public HTTP API; no build step, no external files. Every value from the server is
// written with textContent (names and tags are user input).
//
// Routes (in the location hash):  #/?status=running&d_min=64   the list with its filters
//                                  #/experiments/12             one experiment
"use strict";

(() => {
  const API = (document.body.dataset.api || "").replace(/\/$/, "");
  const POLL_MS = Number(document.body.dataset.pollMs || 4000);
  const PAGE = 50;
  const ACTIVE = new Set(["queued", "running"]);
  const FILTERS = [
    ["status", "filter-status"], ["owner", "filter-owner"], ["tag", "filter-tag"],
    ["target", "filter-target"], ["algorithm", "filter-algorithm"], ["d_min", "filter-d-min"],
    ["d_max", "filter-d-max"], ["name", "filter-name"], ["sort", "filter-sort"],
    ["sweep", "filter-sweep"], ["spec", "filter-spec"],
  ];
  // GET /meta names every metric, result and spec path with its label: this file holds no copy.
  let META = { metrics: [], default_metric: "", fields: [], cell_fields: [], cell_columns: [],
               sort_keys: [], labels: {} };
  const label = (name) => META.labels[name] || name;
  // The metric to draw: `chosen` when offered, else the API's default, else the first offered.
  const pickMetric = (offered, chosen) => (offered.includes(chosen) ? chosen
    : offered.includes(META.default_metric) ? META.default_metric : offered[0]);
  const logScale = (name) => Boolean((META.metrics.find((m) => m.name === name)
    || META.fields.find((f) => f.name === name) || {}).log_scale);

  const $ = (id) => document.getElementById(id);
  const state = {
    view: "list",          // "list" | "detail"
    rows: [],
    nextCursor: null,
    detailId: null,
    detailStamp: null,     // updated_at of the detail last rendered
    selected: new Set(),   // ids ticked for comparison
    listController: null,  // AbortController of the list request in flight
    timer: null,
  };

  // ------------------------------------------------------------------------------- HTTP
  function headers() {
    const key = (localStorage.getItem("silab.key") || "").trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  // The key dialog says where a key is; it opens by itself when the API refuses the key.
  function askForKey(reason) {
    const dialog = $("key-dialog");
    $("key-dialog-reason").hidden = !reason;
    $("key-dialog-reason").textContent = reason || "";
    $("api-key").value = localStorage.getItem("silab.key") || "";
    if (!dialog.open) dialog.showModal();
  }

  async function api(path, options = {}) {
    const response = await fetch(API + path, {
      ...options, headers: { Accept: "application/json", ...headers(), ...(options.headers || {}) },
    });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (typeof body.detail === "string") detail += `: ${body.detail}`;
        else if (Array.isArray(body.detail)) {
          detail += ": " + body.detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
        }
      } catch (_) { /* not JSON */ }
      const error = new Error(detail);
      error.status = response.status;
      if (response.status === 401) {
        error.message = localStorage.getItem("silab.key")
          ? "The API refused this browser's key (revoked or expired?): choose another."
          : "This dashboard needs an API key.";
        askForKey(error.message);
      }
      throw error;
    }
    return response.json();
  }

  function showError(error) {
    if (error && error.name === "AbortError") return;
    const box = $("error");
    if (!error) { box.hidden = true; box.textContent = ""; return; }
    box.textContent = String(error.message || error);
    box.hidden = false;
  }

  function stamp() {
    $("last-updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  // ----------------------------------------------------------------------------- format
  function fmtNumber(value, digits = 3) {
    if (value === null || value === undefined) return "—";
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value) && Math.abs(value) < 1e7) return value.toLocaleString("en");
    if (Math.abs(value) >= 1e5 || (Math.abs(value) < 1e-3 && value !== 0)) {
      return value.toExponential(2);
    }
    return value.toPrecision(digits).replace(/\.?0+$/, "");
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    const then = new Date(iso);
    const seconds = Math.round((Date.now() - then.getTime()) / 1000);
    if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
    return then.toLocaleDateString();
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 120) return `${seconds.toFixed(1)} s`;
    if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function progressOf(e) {
    return e.samples_total > 0 ? Math.min(1, e.samples_done / e.samples_total) : 0;
  }

  function el(tag, text, attrs = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    return node;
  }

  function statusBadge(status) {
    return el("span", status, { className: `status status-${status}`, "data-status": status });
  }

  // ---------------------------------------------------------------------------- filters
  function specValue(spec, path) {
    let value = spec;
    for (const part of path.split(".")) {
      if (value === null || value === undefined) return undefined;
      value = value[part];
    }
    return value;
  }

  function specColumns() {
    return ($("spec-columns").value || "").split(",").map((t) => t.trim()).filter(Boolean);
  }

  // A sweep member is named "<sweep>: <cell values>": the cell values are what tells rows apart.
  function nameCell(e) {
    const td = el("td", null, { className: "name", title: e.name || "" });
    const cut = (e.name || "").indexOf(": ");
    if (cut > 0) {
      td.append(el("span", (e.name || "").slice(cut + 2), { className: "cell-name" }),
                el("span", " " + e.name.slice(0, cut), { className: "muted sweep-name" }));
    } else {
      td.textContent = e.name || "";
    }
    return td;
  }

  function filterParams() {
    const params = new URLSearchParams();
    for (const [name, id] of FILTERS) {
      const value = $(id).value.trim();
      if (!value || (name === "sort" && value === "-id")) continue;
      if (name === "tag" || name === "spec") {  // several, comma-separated: one parameter each
        for (const item of value.split(",").map((t) => t.trim()).filter(Boolean)) {
          params.append(name, item);
        }
      } else {
        params.set(name, value);
      }
    }
    return params;
  }

  function setFiltersFrom(params) {
    for (const [name, id] of FILTERS) {
      const value = name === "tag" || name === "spec" ? params.getAll(name).join(", ")
        : params.get(name) || "";
      $(id).value = name === "sort" && !value ? "-id" : value;
    }
  }

  function filtersChanged() {
    const query = filterParams().toString();
    const hash = "#/" + (query ? "?" + query : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
    $("back-link").href = hash;
    state.rows = [];
    state.nextCursor = null;
    loadList({ replace: true });
  }

  let debounce = null;
  function filtersChangedSoon() {
    clearTimeout(debounce);
    debounce = setTimeout(filtersChanged, 300);
  }

  // ------------------------------------------------------------------------------- list
  async function loadList({ replace = false, more = false } = {}) {
    if (state.listController) state.listController.abort();
    const controller = new AbortController();
    state.listController = controller;
    const params = filterParams();
    // A refresh re-reads as many rows as are shown, so loaded pages stay in place.
    params.set("limit", String(more ? PAGE : Math.max(PAGE, state.rows.length)));
    if (more && state.nextCursor) params.set("cursor", state.nextCursor);
    try {
      const page = await api("/experiments?" + params.toString(), { signal: controller.signal });
      state.rows = more ? state.rows.concat(page.items) : page.items;
      state.nextCursor = page.next_cursor;
      renderList();
      showError(null);
      stamp();
    } catch (error) {
      if (error.name === "AbortError") return;  // a newer request replaced this one
      if (replace) { state.rows = []; renderList(); }
      $("experiments-empty").hidden = true;  // not "no match": the request failed (shown above)
      showError(error);
    } finally {
      if (state.listController === controller) state.listController = null;
    }
  }

  function renderList() {
    const body = $("experiments-body");
    const columns = specColumns();
    const heads = $("spec-column-heads");
    heads.hidden = true;
    document.querySelectorAll("th.spec-column").forEach((th) => th.remove());
    for (const path of columns) {
      heads.before(el("th", label(path), { className: "spec-column num", title: `spec.${path}` }));
    }
    const rows = state.rows.map((e) => {
      const tr = el("tr", null, { "data-id": String(e.id), "data-status": e.status });
      const pick = el("td");
      const box = el("input", null, { type: "checkbox", className: "pick",
                                      "aria-label": `select experiment ${e.id}` });
      box.checked = state.selected.has(e.id);
      box.addEventListener("click", (event) => {
        event.stopPropagation();
        if (box.checked) state.selected.add(e.id); else state.selected.delete(e.id);
        selectionChanged();
      });
      pick.append(box);
      pick.addEventListener("click", (event) => event.stopPropagation());
      tr.append(pick, el("td", String(e.id)), nameCell(e), el("td", e.owner));
      const status = el("td");
      status.append(statusBadge(e.status));
      if (e.cancel_requested && e.status === "running") status.append(" (cancelling)");
      tr.append(status, el("td", e.target), el("td", e.algorithm),
        el("td", String(e.d), { className: "num" }), el("td", String(e.width), { className: "num" }),
        el("td", String(e.seeds), { className: "num" }));
      const progress = el("td");
      const bar = el("progress", null, { max: "1", value: String(progressOf(e)) });
      progress.append(bar, " " + Math.round(progressOf(e) * 100) + "%");
      progress.title = `${fmtNumber(e.samples_done)} of ${fmtNumber(e.samples_total)} samples`;
      tr.append(progress,
        el("td", fmtNumber(e.final_median_abs_m), { className: "num" }),
        el("td", fmtNumber(e.test_mse), { className: "num" }),
        el("td", fmtNumber(e.weak_recovery_samples), { className: "num" }),
        ...columns.map((path) => {
          const value = specValue(e.spec || {}, path);
          return el("td", value === undefined ? "—" : typeof value === "number" ? fmtNumber(value)
            : typeof value === "object" ? JSON.stringify(value) : String(value), { className: "num" });
        }),
        el("td", (e.tags || []).join(", ")),
        el("td", fmtTime(e.created_at), { title: e.created_at }));
      tr.addEventListener("click", () => { location.hash = `#/experiments/${e.id}`; });
      return tr;
    });
    body.replaceChildren(...rows);
    $("experiments-empty").hidden = state.rows.length > 0;
    $("load-more").hidden = !state.nextCursor;
  }

  function selectionChanged() {
    const n = state.selected.size;
    $("compare-button").disabled = n < 2;
    $("selected-count").textContent = n ? `${n} selected` : "";
  }

  // ----------------------------------------------------------------------------- detail
  async function loadDetail({ force = false } = {}) {
    const id = state.detailId;
    try {
      const e = await api(`/experiments/${id}`);
      if (id !== state.detailId) return;  // navigated away meanwhile
      showError(null);
      stamp();
      renderDetailHead(e);
      if (force || e.updated_at !== state.detailStamp) {
        state.detailStamp = e.updated_at;
        renderDetailBody(e);
        window.silabLive.show(e);
        loadTrace(e);
      }
    } catch (error) {
      if (error.status === 404) {
        $("detail-title").textContent = `Experiment ${id} not found`;
      }
      showError(error);
    }
  }

  function renderDetailHead(e) {
    $("detail-title").textContent = `#${e.id} ${e.name || "(no name)"}`;
    $("detail-status").replaceWith(Object.assign(statusBadge(e.status), { id: "detail-status" }));
    $("detail-progress").value = progressOf(e);
    $("detail-progress-text").textContent =
      `${fmtNumber(e.samples_done)} of ${fmtNumber(e.samples_total)} samples` +
      (e.cancel_requested && e.status === "running" ? " · cancel requested" : "") +
      (e.status === "running" && e.worker ? ` · on ${e.worker}` : "") +
      (e.attempt > 1 ? ` · attempt ${e.attempt} of ${e.max_attempts}` : "");
    $("detail-cancel").hidden = !ACTIVE.has(e.status) || e.cancel_requested;
    $("detail-retry").hidden = !["failed", "cancelled", "diverged"].includes(e.status);
    const error = $("detail-error");
    error.hidden = !e.error;
    error.textContent = e.error || "";
  }

  // "k of n", and how many diverged: a seed that recovered and then diverged did not end well.
  function recoveredText(e) {
    if (e.weak_recovery_fraction === null) return "—";
    const seeds = (e.result && e.result.seeds) || [];
    const n = seeds.length || e.seeds;
    const k = Math.round(e.weak_recovery_fraction * n);
    const diverged = seeds.filter((s) => s.diverged_at_step !== null && s.diverged_at_step !== undefined).length;
    return `${k} of ${n}` + (diverged ? `; ${diverged} of ${n} diverged` : "");
  }

  function renderDetailBody(e) {
    const facts = [
      ["owner", e.owner], ["tags", (e.tags || []).join(", ") || "—"],
      ["target", e.target], ["algorithm", e.algorithm], ["d", e.d], ["width N", e.width],
      ["seeds", e.seeds], ["priority", e.priority],
      ["median overlap (final)", fmtNumber(e.final_median_abs_m)],
      ["mean overlap (final)", fmtNumber(e.final_mean_abs_m)],
      ["largest overlap (final)", fmtNumber(e.final_max_abs_m)],
      ["test MSE", fmtNumber(e.test_mse)],
      ["samples to weak recovery", fmtNumber(e.weak_recovery_samples)],
      ["seeds that recovered", recoveredText(e)],
      ["wall time", fmtDuration(e.wall_time_s)],
      ["samples per second", fmtNumber(e.samples_per_second)],
      ["device", e.device || "—"], ["torch", e.torch_version || "—"],
      ["created", e.created_at], ["started", e.started_at || "—"],
      ["finished", e.finished_at || "—"], ["spec hash", (e.spec_hash || "").slice(0, 12)],
    ];
    const dl = $("detail-summary");
    dl.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", String(v))]));
    $("detail-spec").textContent = JSON.stringify(e.spec, null, 2);
    $("detail-result").textContent = e.result ? JSON.stringify(e.result, null, 2) : "(none yet)";
    $("trace-csv").href = `${API}/experiments/${e.id}/trace?format=csv&max_points=1000000`;
  }

  async function loadTrace(e) {
    const head = $("trace-head");
    const body = $("trace-body");
    try {
      const trace = await api(
        `/experiments/${e.id}/trace?max_points=300`);  // every metric the API has
      if (e.id !== state.detailId) return;
      const metrics = trace.metrics;
      const header = el("tr");
      header.append(...["seed", "phase", "step", "samples", ...metrics].map(
        (name) => el("th", label(name), { className: name === "phase" ? "" : "num", title: name })));
      head.replaceChildren(header);
      body.replaceChildren(...trace.points.map((p) => {
        const tr = el("tr");
        tr.append(el("td", String(p.seed), { className: "num" }), el("td", p.phase),
          el("td", String(p.step), { className: "num" }),
          el("td", fmtNumber(p.samples), { className: "num" }),
          ...metrics.map((m) => el("td", fmtNumber(p.values[m], 4), { className: "num" })));
        return tr;
      }));
      $("trace-info").textContent = trace.downsampled
        ? `(${trace.points.length} of ${trace.total_points} points shown)`
        : `(${trace.total_points} points)`;
    } catch (error) {
      head.replaceChildren();
      body.replaceChildren();
      $("trace-info").textContent = "(trace unavailable)";
      showError(error);
    }
  }

  // An action button asks once more before it acts: first click arms it for 4 s.
  function armed(button, label, act) {
    let timer = null;
    const original = button.textContent;
    button.addEventListener("click", async () => {
      if (!button.dataset.armed) {
        button.dataset.armed = "1";
        button.textContent = label;
        timer = setTimeout(() => { delete button.dataset.armed; button.textContent = original; }, 4000);
        return;
      }
      clearTimeout(timer);
      delete button.dataset.armed;
      button.textContent = original;
      button.disabled = true;
      try {
        await act();
        await loadDetail({ force: true });
      } catch (error) {
        showError(error);
      } finally {
        button.disabled = false;
      }
    });
  }

  // ----------------------------------------------------------------------------- routing
  // The query string of a hash ("#/compare?ids=1,2" gives ids=1,2), empty when it has none.
  function hashQuery(hash) {
    return new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
  }

  // How the views of the other scripts route: section `id` is shown while the hash starts with
  // `prefix` and hidden otherwise; returns the hash's query while shown, else null.
  function routeView(prefix, id) {
    const hash = location.hash || "#/";
    const inside = hash.startsWith(prefix);
    $(id).hidden = !inside;
    return inside ? hashQuery(hash) : null;
  }

  // The ids of an `ids=3,5,8` parameter (anything that is not a positive number is dropped).
  function idsOf(query) {
    return (query.get("ids") || "").split(",").map(Number).filter((n) => n > 0);
  }

  function route() {
    const hash = location.hash || "#/";
    if (hash.startsWith("#/sweeps") || hash.startsWith("#/compare")) {  // sweeps.js, compare.js
      state.view = "other";
      state.detailId = null;
      $("list-view").hidden = true;
      $("experiment-detail").hidden = true;
      return;
    }
    const match = hash.match(/^#\/experiments\/(\d+)/);
    if (match) {
      state.view = "detail";
      if (state.detailId !== Number(match[1])) {
        state.detailId = Number(match[1]);
        state.detailStamp = null;
        $("detail-title").textContent = `#${state.detailId}`;
        $("trace-head").replaceChildren();
        $("trace-body").replaceChildren();
        $("detail-summary").replaceChildren();
      }
      $("list-view").hidden = true;
      $("experiment-detail").hidden = false;
      loadDetail({ force: true });
    } else {
      state.view = "list";
      state.detailId = null;
      setFiltersFrom(hashQuery(hash));
      $("back-link").href = hash;  // the detail view's way back keeps these filters
      $("experiment-detail").hidden = true;
      $("list-view").hidden = false;
      loadList({ replace: true });
    }
  }

  // ------------------------------------------------------------------------------ polling
  async function poll() {
    try {
      if (!document.hidden && $("auto-refresh").checked) {
        if (state.view === "list" && !state.listController) await loadList();
        else if (state.view === "detail" && state.detailId && !window.silabLive.streaming()) {
          await loadDetail();
        }
      }
    } finally {
      state.timer = setTimeout(poll, POLL_MS);
    }
  }

  // -------------------------------------------------------------------------------- setup
  // The sort choices beyond id and d: every sortable result, best first.
  function fillSorts() {
    const select = $("filter-sort");
    const chosen = select.value;
    for (const key of META.sort_keys) {
      const field = META.fields.find((f) => f.name === key)
        || META.metrics.find((m) => m.name === key);
      if (!field) continue;
      const lowFirst = field.better === "lower";
      select.append(el("option", `${label(key)}, ${lowFirst ? "low" : "high"} first`,
                       { value: lowFirst ? key : `-${key}` }));
    }
    select.value = chosen;
  }

  // Open (no key needed); the other views start once it is in (window.silab.ready).
  async function loadMeta() {
    try {
      const response = await fetch(API + "/meta", { headers: { Accept: "application/json" } });
      if (response.ok) META = await response.json();
    } catch (_) { /* the API is down: the list's own request says so */ }
  }

  function init() {
    fillSorts();
    $("key-button").addEventListener("click", () => askForKey(""));
    $("key-form").addEventListener("submit", (event) => {
      if (event.submitter && event.submitter.value === "cancel") return;
      localStorage.setItem("silab.key", $("api-key").value.trim());
      showError(null);
      route();
    });
    $("spec-columns").value = localStorage.getItem("silab.columns") || "";
    $("spec-columns").addEventListener("change", () => {
      localStorage.setItem("silab.columns", $("spec-columns").value);
      renderList();
    });
    $("select-all").addEventListener("change", () => {
      for (const e of state.rows) {
        if ($("select-all").checked) state.selected.add(e.id); else state.selected.delete(e.id);
      }
      renderList();
      selectionChanged();
    });
    $("compare-button").addEventListener("click", () => {
      location.hash = `#/compare?ids=${[...state.selected].sort((a, b) => a - b).join(",")}`;
    });
    api("/sweeps?limit=200").then((page) => {
      const select = $("filter-sweep");
      const chosen = select.value;
      select.append(...page.items.map((sw) => el("option", `#${sw.id} ${sw.name}`, { value: String(sw.id) })));
      select.value = chosen;
    }).catch(() => { /* the list's own request reports errors */ });
    for (const [name, id] of FILTERS) {
      const input = $(id);
      input.addEventListener(input.tagName === "SELECT" ? "change" : "input",
        ["status", "algorithm", "sort", "sweep"].includes(name)
          ? filtersChanged : filtersChangedSoon);
    }
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); filtersChanged(); });
    $("filters").addEventListener("reset", () => setTimeout(filtersChanged, 0));
    $("load-more").addEventListener("click", () => loadList({ more: true }));
    for (const id of ["plot-metric", "plot-log-x"]) {
      $(id).addEventListener("change", () => window.silabLive.redraw());
    }
    armed($("detail-cancel"), "really cancel?",
      () => api(`/experiments/${state.detailId}/cancel`, { method: "POST" }));
    armed($("detail-retry"), "really retry?",
      () => api(`/experiments/${state.detailId}/retry`, { method: "POST" }));
    window.addEventListener("hashchange", route);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) { clearTimeout(state.timer); poll(); }
    });
    route();
    state.timer = setTimeout(poll, POLL_MS);
  }

  // What sweeps.js (the sweep views) shares with this file.
  window.silab = { api, headers, el, fmtNumber, fmtTime, statusBadge, showError, stamp, label,
                   meta: () => META, ready: loadMeta(), pickMetric, logScale,
                   specValue, askForKey, renderDetailHead: (e) => renderDetailHead(e),
                   detailId: () => state.detailId, routeView, idsOf };

  window.silab.ready.then(init);
})();
