// silab dashboard: an experiment's curves, drawn here (chart.js) from its trace, and kept live
// over Server-Sent Events (GET /experiments/{id}/events) while it runs. The stream is read with
// fetch, not EventSource, so that it carries the Authorization header like every other request.
// Switching experiments clears the chart to a placeholder at once: never another run's curves.
"use strict";

(() => {
  const S = window.silab;
  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(["queued", "running"]);
  const state = { id: null, points: [], metrics: [], controller: null, drawTimer: null,
                  lastStep: null };

  function median(values) {
    const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
    if (!xs.length) return NaN;
    const mid = Math.floor(xs.length / 2);
    return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  }

  // Per seed: [[samples, value]]; and the median over seeds at each (phase, step).
  function curves(points, metric) {
    const bySeed = new Map(), byStep = new Map();
    for (const p of points) {
      if (p.phase !== "phase1") continue;
      const v = p.values[metric];
      if (v === null || v === undefined) continue;
      if (!bySeed.has(p.seed)) bySeed.set(p.seed, []);
      bySeed.get(p.seed).push([Math.max(p.samples, 1), v]);
      if (!byStep.has(p.step)) byStep.set(p.step, { x: Math.max(p.samples, 1), v: [] });
      byStep.get(p.step).v.push(v);
    }
    const mid = [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => [s.x, median(s.v)]);
    return { bySeed, median: mid };
  }

  function fillMetrics(metrics) {
    const select = $("plot-metric");
    const known = [...select.options].map((o) => o.value);
    if (metrics.length && metrics.join() !== known.join()) {
      const chosen = select.value;
      select.replaceChildren(...metrics.map((m) => S.el("option", S.label(m), { value: m })));
      select.value = S.pickMetric(metrics, chosen);
    }
  }

  function redraw() {
    const box = $("plot");
    const metric = $("plot-metric").value;
    const { bySeed, median: mid } = curves(state.points, metric);
    const seeds = [...bySeed.entries()].sort((a, b) => a[0] - b[0]).map(([seed, pts]) => ({
      points: pts, color: "#64748b", width: 1, opacity: 0.35, name: "" }));
    window.silabChart.draw(box, {
      series: [...seeds, { name: `median over ${bySeed.size} seeds`, points: mid, width: 2.5,
                           color: "#2563eb" }],
      xlog: $("plot-log-x").checked, ylog: S.logScale(metric), xlabel: S.label("samples"),
      ylabel: S.label(metric),
      empty: "waiting for the first evaluation point…",
    });
    box.dataset.experiment = String(state.id);
    box.dataset.points = String(state.points.length);
  }

  function redrawSoon() {
    if (state.drawTimer) return;
    state.drawTimer = setTimeout(() => { state.drawTimer = null; redraw(); }, 250);
  }

  function stop() {
    if (state.controller) state.controller.abort();
    state.controller = null;
  }

  async function stream(id) {
    stop();
    const controller = new AbortController();
    state.controller = controller;
    const after = state.lastStep === null ? "" : `&after=${state.lastStep}`;
    try {
      const base = (document.body.dataset.api || "").replace(/\/$/, "");
      const response = await fetch(`${base}/experiments/${id}/events?${after.slice(1)}`, {
        headers: { Accept: "text/event-stream", ...S.headers() }, signal: controller.signal });
      if (!response.ok || !response.body) throw new Error(String(response.status));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = (block.match(/^event: ?(.*)$/m) || [])[1] || "message";
          const data = block.split("\n").filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart()).join("\n");
          if (data && id === state.id) handle(event, JSON.parse(data));
        }
      }
    } catch (error) {
      if (error.name === "AbortError") return;
    } finally {
      if (state.controller === controller) state.controller = null;
    }
  }

  function handle(event, data) {
    if (event === "points") {
      state.points.push(...data);
      for (const p of data) state.lastStep = Math.max(state.lastStep ?? -1, p.step);
      $("plot").dataset.live = "1";
      redrawSoon();
    } else if (event === "status" || event === "end") {
      if (data.status) {
        state.experiment = { ...state.experiment, ...data };
        S.renderDetailHead(state.experiment);
        document.getElementById("detail-status").dataset.live = "1";
      }
      if (event === "end") S.stamp();
    }
  }

  // Called by app.js each time the experiment's row changed (or a new one was opened).
  async function show(e) {
    const fresh = e.id !== state.id;
    state.experiment = e;
    if (fresh) {
      stop();
      state.id = e.id;
      state.points = [];
      state.lastStep = null;
      window.silabChart.draw($("plot"), { series: [], empty: "loading the curves…" });
    } else if (state.controller) {
      return;  // the stream keeps the curves up to date
    }
    $("plot").classList.add("stale");
    try {
      const trace = await S.api(`/experiments/${e.id}/trace?max_points=4000`);
      if (e.id !== state.id) return;
      state.points = trace.points;
      state.metrics = trace.metrics;
      for (const p of trace.points) state.lastStep = Math.max(state.lastStep ?? -1, p.step);
      fillMetrics(trace.metrics);
      redraw();
    } catch (error) {
      if (e.id === state.id) {
        window.silabChart.draw($("plot"), { series: [], empty: `no curves (${error.message})` });
      }
    } finally {
      $("plot").classList.remove("stale");
    }
    if (ACTIVE.has(e.status) && $("auto-refresh").checked && e.id === state.id) stream(e.id);
  }

  window.addEventListener("hashchange", () => {
    if (!/^#\/experiments\/\d+/.test(location.hash)) { stop(); state.id = null; }
  });

  window.silabLive = { show, redraw, streaming: () => Boolean(state.controller), stop };
})();
