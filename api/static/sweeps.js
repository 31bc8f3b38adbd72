// silab dashboard, sweep views: #/sweeps (list with live progress) and #/sweeps/ID (progress,
// heatmap over two axes, per-cell table). Uses only the public API, through app.js's helpers
// (window.silab), so requests carry the same headers. Images are fetched with those headers and
// shown from a blob URL. Every server value is written with textContent.
"use strict";

(() => {
  const S = window.silab;
  const POLL_MS = Number(document.body.dataset.pollMs || 4000);
  const $ = (id) => document.getElementById(id);
  const state = { view: null, sweepId: null, sweep: null, heatmapKey: null, timer: null,
                  blobUrl: null, selected: new Set() };

  function doneCount(sweep) {
    return Object.entries(sweep.progress)
      .filter(([status]) => status !== "queued" && status !== "running")
      .reduce((total, [, n]) => total + n, 0);
  }

  function progressCell(sweep) {
    const td = S.el("td");
    const done = doneCount(sweep);
    td.append(S.el("progress", null, { max: String(sweep.experiments_total || 1),
                                        value: String(done) }),
              ` ${done}/${sweep.experiments_total}`);
    td.title = Object.entries(sweep.progress).filter(([, n]) => n)
      .map(([s, n]) => `${n} ${s}`).join(", ");
    return td;
  }

  // ------------------------------------------------------------------------------- list
  async function loadList() {
    try {
      const page = await S.api("/sweeps?limit=200");
      const rows = page.items.map((sweep) => {
        const tr = S.el("tr", null, { "data-id": String(sweep.id), "data-status": sweep.status });
        const status = S.el("td");
        status.append(S.statusBadge(sweep.status));
        const pick = S.el("td");
        const box = S.el("input", null, { type: "checkbox", className: "pick",
                                          "aria-label": `select sweep ${sweep.id}` });
        box.checked = state.selected.has(sweep.id);
        box.addEventListener("click", (event) => {
          event.stopPropagation();
          if (box.checked) state.selected.add(sweep.id); else state.selected.delete(sweep.id);
          $("sweeps-compare-button").disabled = state.selected.size < 1;
        });
        pick.addEventListener("click", (event) => event.stopPropagation());
        pick.append(box);
        tr.append(pick, S.el("td", String(sweep.id)), S.el("td", sweep.name, { className: "name" }),
          S.el("td", sweep.owner), status, S.el("td", sweep.axes.join(" × ")),
          S.el("td", String(sweep.cells), { className: "num" }),
          S.el("td", String(sweep.experiments_total), { className: "num" }),
          progressCell(sweep), S.el("td", S.fmtTime(sweep.created_at)));
        tr.addEventListener("click", () => { location.hash = `#/sweeps/${sweep.id}`; });
        return tr;
      });
      $("sweeps-body").replaceChildren(...rows);
      $("sweeps-empty").hidden = rows.length > 0;
      S.showError(null);
      S.stamp();
    } catch (error) {
      S.showError(error);
    }
  }

  // ----------------------------------------------------------------------------- detail
  function fillAxes(sweep) {
    const [x, y] = [$("heatmap-x"), $("heatmap-y")];
    if (x.options.length === sweep.axes.length) return;
    for (const select of [x, y]) {
      select.replaceChildren(...sweep.axes.map((a) => S.el("option", S.label(a), { value: a })));
    }
    x.value = sweep.axes.includes("d") ? "d" : sweep.axes[0];
    y.value = sweep.axes.find((a) => a !== x.value) || sweep.axes[0];
  }

  async function loadDetail() {
    const id = state.sweepId;
    try {
      const sweep = await S.api(`/sweeps/${id}`);
      if (id !== state.sweepId) return;
      state.sweep = sweep;
      $("sweep-title").textContent = `#${sweep.id} ${sweep.name || "(no name)"}`;
      $("sweep-status").replaceWith(Object.assign(S.statusBadge(sweep.status),
                                                  { id: "sweep-status" }));
      $("sweep-progress").max = sweep.experiments_total || 1;
      $("sweep-progress").value = doneCount(sweep);
      $("sweep-progress-text").textContent = Object.entries(sweep.progress)
        .filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ");
      $("sweep-cancel").hidden = !["queued", "running"].includes(sweep.status);
      $("sweep-csv").href = `${apiBase()}/sweeps/${sweep.id}/aggregate?format=csv`;
      fillAxes(sweep);
      await loadCells(sweep);
      await Promise.all([loadHeatmap(sweep), window.silabSweep.show(sweep)]);
      S.showError(null);
      S.stamp();
    } catch (error) {
      if (error.status === 404) $("sweep-title").textContent = `Sweep ${id} not found`;
      S.showError(error);
    }
  }

  function apiBase() {
    return (document.body.dataset.api || "").replace(/\/$/, "");
  }

  function wilson(k, n) {
    const z = 1.959963984540054, p = k / n, d = 1 + z * z / n;
    const centre = (p + z * z / (2 * n)) / d;
    const half = (z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / d;
    return [Math.max(0, centre - half), Math.min(1, centre + half)];
  }

  // A fraction's interval is Wilson's (inside [0, 1]); a recovery time says how many seeds
  // never recovered (they are not in its mean); diverged seeds are counted, never hidden.
  function fmtStat(stat, field, cell) {
    if (!stat || stat.mean === null) return "—";
    if (field === "diverged") return `${Math.round(stat.mean * stat.n)} of ${stat.n}`;
    if (field === "recovered" && stat.n) {
      const k = Math.round(stat.mean * stat.n);
      const [lo, hi] = wilson(k, stat.n);
      const diverged = cell.diverged && cell.diverged.n ? Math.round(cell.diverged.mean * cell.diverged.n) : 0;
      return `${k}/${stat.n} [${lo.toFixed(2)}, ${hi.toFixed(2)}]`
        + (diverged ? ` (${diverged} diverged later)` : "");
    }
    if (field === "weak_recovery_samples" && stat.n_missing) {
      return `${S.fmtNumber(stat.mean)} (${stat.n_missing} of ${stat.n + stat.n_missing} not recovered)`;
    }
    let text = S.fmtNumber(stat.mean);
    if (stat.ci95_high !== null) text += ` ± ${S.fmtNumber((stat.ci95_high - stat.ci95_low) / 2, 2)}`;
    return text;
  }

  async function loadCells(sweep) {
    const FIELDS = S.meta().cell_columns;  // GET /meta: the results a sweep's table shows
    const body = await S.api(`/sweeps/${sweep.id}/aggregate?fields=${FIELDS.join(",")}`);
    const head = S.el("tr");
    head.append(...[...sweep.axes, "experiments", "seeds", ...FIELDS]
      .map((n) => S.el("th", S.label(n), { title: n })));
    $("sweep-cells-head").replaceChildren(head);
    $("sweep-cells-body").replaceChildren(...body.cells.map((cell) => {
      const tr = S.el("tr", null, { "data-cell": cell.cell_key });
      tr.append(...sweep.axes.map((a) => S.el("td", typeof cell[a] === "object"
        ? JSON.stringify(cell[a]) : String(cell[a]))));
      const links = S.el("td");
      cell.experiment_ids.forEach((eid, i) => {
        if (i) links.append(" ");
        links.append(S.el("a", `#${eid}`, { href: `#/experiments/${eid}` }));
      });
      tr.append(links, S.el("td", String(cell.seeds), { className: "num" }),
        ...FIELDS.map((f) => S.el("td", fmtStat(cell[f], f, cell), { className: "num" })));
      return tr;
    }));
  }

  async function loadHeatmap(sweep) {
    const img = $("sweep-heatmap");
    const message = $("sweep-heatmap-message");
    if (sweep.axes.length < 2) {
      img.hidden = true;
      message.hidden = false;
      message.textContent = "A heatmap needs two axes.";
      return;
    }
    // The server colours on a log scale when the values span more than a decade.
    const params = new URLSearchParams({ x: $("heatmap-x").value, y: $("heatmap-y").value,
                                         value: $("heatmap-value").value });
    const key = `${sweep.id}|${params}|${doneCount(sweep)}`;
    if (key === state.heatmapKey) return;
    state.heatmapKey = key;
    if (!img.src) {  // nothing drawn yet: a placeholder, never an empty (broken) image
      img.hidden = true;
      message.hidden = false;
      message.textContent = "drawing the heatmap…";
    } else {
      img.classList.add("stale");  // the previous heatmap, dimmed, until the new one is in
    }
    try {
      const response = await fetch(`${apiBase()}/sweeps/${sweep.id}/heatmap.png?${params}`,
                                   { headers: S.headers() });
      if (!response.ok) {
        let detail = `${response.status}`;
        try {
          const body = await response.json();
          detail += ": " + (typeof body.detail === "string" ? body.detail
            : body.detail.map((e) => e.msg).join("; "));
        } catch (_) { /* not JSON */ }
        throw new Error(detail);
      }
      const blob = await response.blob();
      if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
      state.blobUrl = URL.createObjectURL(blob);
      img.src = state.blobUrl;
      img.classList.remove("stale");
      img.hidden = false;
      message.hidden = true;
    } catch (error) {
      img.hidden = true;
      message.hidden = false;
      message.textContent = `No heatmap (${error.message})`;
    }
  }

  // ---------------------------------------------------------------------------- routing
  function route() {
    const hash = location.hash || "#/";
    const match = hash.match(/^#\/sweeps\/(\d+)/);
    const inSweeps = hash.startsWith("#/sweeps") && !hash.startsWith("#/sweeps/compare");
    $("sweeps-view").hidden = !inSweeps || Boolean(match);
    $("sweep-detail").hidden = !match;
    if (!inSweeps) { state.view = null; state.sweepId = null; return; }
    if (match) {
      state.view = "detail";
      if (state.sweepId !== Number(match[1])) {
        state.sweepId = Number(match[1]);
        state.heatmapKey = null;
        $("heatmap-x").replaceChildren();
        $("heatmap-y").replaceChildren();
        $("sweep-cells-body").replaceChildren();
      }
      loadDetail();
    } else {
      state.view = "list";
      state.sweepId = null;
      loadList();
    }
  }

  async function poll() {
    try {
      if (!document.hidden && $("auto-refresh").checked) {
        if (state.view === "list") await loadList();
        else if (state.view === "detail" && state.sweep
                 && ["queued", "running"].includes(state.sweep.status)) await loadDetail();
      }
    } finally {
      state.timer = setTimeout(poll, POLL_MS);
    }
  }

  function init() {
    const value = $("heatmap-value");
    value.replaceChildren(...S.meta().cell_columns.map((f) => S.el("option", S.label(f), { value: f })));
    $("sweeps-compare-button").addEventListener("click", () => {
      location.hash = `#/sweeps/compare?ids=${[...state.selected].sort((a, b) => a - b).join(",")}`;
    });
    for (const id of ["heatmap-x", "heatmap-y", "heatmap-value"]) {
      $(id).addEventListener("change", () => { if (state.sweep) loadHeatmap(state.sweep); });
    }
    let armed = false;
    $("sweep-cancel").addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        $("sweep-cancel").textContent = "really cancel the whole sweep?";
        setTimeout(() => { armed = false; $("sweep-cancel").textContent = "cancel sweep"; }, 4000);
        return;
      }
      armed = false;
      $("sweep-cancel").textContent = "cancel sweep";
      try {
        await S.api(`/sweeps/${state.sweepId}/cancel`, { method: "POST" });
        await loadDetail();
      } catch (error) {
        S.showError(error);
      }
    });
    window.addEventListener("hashchange", route);
    route();
    state.timer = setTimeout(poll, POLL_MS);
  }

  S.ready.then(init);
})();
