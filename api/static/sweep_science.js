// silab dashboard, what a sweep shows beyond its table: per-cell curves with a 95% band
// (GET /sweeps/{id}/aggregate/trace), the scaling plot and fit (GET /sweeps/{id}/scaling), the
// best cell over an axis (GET /sweeps/{id}/fair), and #/sweeps/compare?ids=1,2: several sweeps'
// scaling plots on one chart. Drawn with chart.js.
"use strict";

(() => {
  const S = window.silab;
  const $ = (id) => document.getElementById(id);
  const state = { sweep: null, traces: null, traceKey: null };

  function text(value) {
    return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
  }

  function fillSelect(select, values, labels, preferred) {
    if ([...select.options].map((o) => o.value).join() === values.join()) return;
    select.replaceChildren(...values.map((v, i) => S.el("option", labels[i], { value: v })));
    select.value = values.includes(preferred) ? preferred : values[0];
  }

  // ------------------------------------------------------------------------------ curves
  function pins(sweep, cells) {
    const by = $("curves-by").value;
    const box = $("curves-pins");
    const others = sweep.axes.filter((a) => a !== by);
    if (box.dataset.for !== `${sweep.id}|${by}`) {
      box.dataset.for = `${sweep.id}|${by}`;
      box.replaceChildren(...others.map((axis) => {
        const values = [...new Set(cells.map((c) => text(c[axis])))];
        const select = S.el("select", null, { "data-axis": axis });
        select.append(S.el("option", "every value", { value: "" }),
                      ...values.map((v) => S.el("option", v, { value: v })));
        select.addEventListener("change", drawCurves);
        const label = S.el("label", S.label(axis) + " ");
        label.append(select);
        return label;
      }));
    }
    return [...box.querySelectorAll("select")].map((s) => [s.dataset.axis, s.value]);
  }

  function drawCurves() {
    const sweep = state.sweep;
    if (!sweep || !state.traces) return;
    const by = $("curves-by").value;
    const pinned = pins(sweep, state.traces.cells).filter(([, v]) => v);
    const cells = state.traces.cells.filter((c) => pinned.every(([a, v]) => text(c[a]) === v));
    const series = cells.map((c) => {
      const rest = sweep.axes.filter((a) => a !== by && !pinned.some(([p]) => p === a))
        .map((a) => `${S.label(a)}=${text(c[a])}`);
      const points = c.points.filter((p) => p.phase === "phase1" && p.mean !== null);
      return {
        name: `${S.label(by)}=${text(c[by])}` + (rest.length ? ` (${rest.join(", ")})` : ""),
        points: points.map((p) => [Math.max(p.samples, 1), p.mean]),
        band: points.filter((p) => p.ci95_low !== null)
          .map((p) => [Math.max(p.samples, 1), p.ci95_low, p.ci95_high]),
      };
    });
    window.silabChart.draw($("sweep-curves"), {
      series, xlog: $("curves-log-x").checked, ylog: S.logScale(state.traces.metric),
      xlabel: S.label("samples"),
      ylabel: `${S.label(state.traces.metric)} (mean over seeds)`, empty: "no finished cells yet" });
  }

  async function loadCurves(sweep) {
    const metrics = S.meta().metrics.map((m) => m.name);  // GET /meta: the API's own list
    fillSelect($("curves-metric"), metrics, metrics.map(S.label), S.meta().default_metric);
    fillSelect($("curves-by"), sweep.axes, sweep.axes.map(S.label), sweep.axes.find((a) => a !== "d"));
    const key = `${sweep.id}|${$("curves-metric").value}|${sweep.updated_at || ""}|${JSON.stringify(sweep.progress)}`;
    if (key === state.traceKey) return;
    if (!state.traces || state.traces.sweep_id !== sweep.id) {
      window.silabChart.draw($("sweep-curves"), { series: [], empty: "loading the curves…" });
    }
    const traces = await S.api(`/sweeps/${sweep.id}/aggregate/trace?metric=${$("curves-metric").value}`);
    if (state.sweep !== sweep) return;
    state.traceKey = key;
    state.traces = traces;
    drawCurves();
  }

  // ----------------------------------------------------------------------------- scaling
  function fitSeries(fit, name, color) {
    const points = (fit.points || []).map((p) => [p.d, p.samples]);
    const out = [{ name, points, markers: true, color }];
    if (fit.exponent !== null && fit.prefactor !== null && points.length) {
      const ds = points.map(([d]) => d);
      const lo = Math.min(...ds), hi = Math.max(...ds);
      out.push({ points: [lo, hi].map((d) => [d, fit.prefactor * d ** fit.exponent]), color,
                 dash: "5 4", width: 1.5 });
    }
    return out;
  }

  function fitText(fit) {
    if (fit.exponent === null) return `no fit (${fit.n} recovered seeds)`;
    const ci = fit.exponent_ci95 ? ` [${fit.exponent_ci95.map((v) => v.toFixed(2)).join(", ")}]` : "";
    return `samples ≈ ${S.fmtNumber(fit.prefactor)}·d^${fit.exponent.toFixed(2)}${ci}, ` +
      `${fit.n} seeds` + (fit.n_missing ? `, ${fit.n_missing} not recovered (left out)` : "");
  }

  async function loadScaling(sweep) {
    if (!sweep.axes.includes("d")) {
      window.silabChart.draw($("sweep-scaling"), { series: [], empty: "no d axis: no scaling plot" });
      $("scaling-fit").textContent = "";
      return;
    }
    const scaling = await S.api(`/sweeps/${sweep.id}/scaling`);
    const series = scaling.groups.flatMap((g, i) => fitSeries(
      g.fit, Object.entries(g.key).map(([k, v]) => `${S.label(k)}=${text(v)}`).join(", ") || "all",
      window.silabChart.PALETTE[i % 10]));
    window.silabChart.draw($("sweep-scaling"), { series, xlog: true, ylog: true,
      xlabel: S.label("d"), ylabel: S.label("weak_recovery_samples"), empty: "no seed recovered yet" });
    $("scaling-fit").textContent = scaling.groups.length === 1 ? `(${fitText(scaling.groups[0].fit)})` : "";
  }

  // -------------------------------------------------------------------------------- fair
  async function loadFair(sweep) {
    const others = sweep.axes.filter((a) => a !== "d");
    $("fair-over").hidden = !others.length;
    if (!others.length) {
      $("fair-head").replaceChildren();
      $("fair-body").replaceChildren();
      $("fair-fits").textContent = "needs an axis besides d (a step size, say) to choose the best of";
      return;
    }
    fillSelect($("fair-over"), others, others.map(S.label), others[0]);
    let fair;
    try {
      fair = await S.api(`/sweeps/${sweep.id}/fair?over=${encodeURIComponent($("fair-over").value)}&resamples=200`);
    } catch (error) {
      $("fair-fits").textContent = `not available: ${error.message}`;
      return;
    }
    const head = S.el("tr");
    head.append(...["target", "algorithm", "d", `best ${S.label(fair.over)}`, "KM median",
                    "censored / seeds"].map((h) => S.el("th", h)));
    $("fair-head").replaceChildren(head);
    $("fair-body").replaceChildren(...fair.groups.map((g) => {
      const tr = S.el("tr");
      const km = g.winner.km;
      tr.append(S.el("td", g.target), S.el("td", g.algorithm), S.el("td", String(g.d)),
        S.el("td", text(g.winner.value)), S.el("td", S.fmtNumber(km.median)),
        S.el("td", `${km.censored} / ${km.n}`));
      return tr;
    }));
    $("fair-fits").textContent = fair.fits.map((f) => `${f.target} ${f.algorithm}: ` + (f.fit
      ? `exponent ${f.fit.b.toFixed(2)}` + (f.fit.ci95 ? ` [${f.fit.ci95.map((v) => v.toFixed(2)).join(", ")}]` : "")
      : `no fit (${f.refused})`)).join("; ");
  }

  async function show(sweep) {
    if (!state.sweep || state.sweep.id !== sweep.id) state.traces = null;
    state.sweep = sweep;
    const results = await Promise.allSettled([loadCurves(sweep), loadScaling(sweep), loadFair(sweep)]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) S.showError(failed.reason);
  }

  // ------------------------------------------------------------------- several sweeps' scaling
  async function compare(ids) {
    window.silabChart.draw($("sweeps-compare-chart"), { series: [], empty: "loading…" });
    const rows = [];
    const series = [];
    try {
      const sweeps = await Promise.all(ids.map((id) => S.api(`/sweeps/${id}`)));
      const scalings = await Promise.all(ids.map((id) => S.api(`/sweeps/${id}/scaling`)));
      let i = 0;
      scalings.forEach((scaling, k) => {
        for (const g of scaling.groups) {
          const key = Object.entries(g.key).map(([a, v]) => `${S.label(a)}=${text(v)}`).join(", ");
          const name = `#${sweeps[k].id} ${sweeps[k].name}` + (key ? ` (${key})` : "");
          series.push(...fitSeries(g.fit, name, window.silabChart.PALETTE[i++ % 10]));
          const tr = S.el("tr");
          tr.append(S.el("td", `#${sweeps[k].id} ${sweeps[k].name}`), S.el("td", key || "—"),
            S.el("td", g.fit.exponent === null ? "—" : g.fit.exponent.toFixed(2), { className: "num" }),
            S.el("td", g.fit.exponent_ci95 ? g.fit.exponent_ci95.map((v) => v.toFixed(2)).join(" – ") : "—"),
            S.el("td", String(g.fit.n), { className: "num" }),
            S.el("td", String(g.fit.n_missing), { className: "num" }));
          rows.push(tr);
        }
      });
      S.showError(null);
    } catch (error) {
      S.showError(error);
    }
    window.silabChart.draw($("sweeps-compare-chart"), { series, xlog: true, ylog: true,
      xlabel: S.label("d"), ylabel: S.label("weak_recovery_samples"), empty: "no scaling data" });
    $("sweeps-compare-body").replaceChildren(...rows);
  }

  function route() {
    const query = S.routeView("#/sweeps/compare", "sweeps-compare");
    if (query) compare(S.idsOf(query));
  }

  for (const id of ["curves-by", "curves-log-x"]) $(id).addEventListener("change", drawCurves);
  $("curves-metric").addEventListener("change", () => { if (state.sweep) loadCurves(state.sweep); });
  $("fair-over").addEventListener("change", () => { if (state.sweep) loadFair(state.sweep); });
  window.addEventListener("hashchange", route);
  window.silabSweep = { show };
  S.ready.then(route);
})();
