// silab dashboard, comparison: #/compare?ids=1,2,3 overlays the chosen experiments' curves
// (median over seeds of each), or groups them by any spec field: one curve per value with the
// mean over every seed of the group and its 95% band (mean ± 1.96·standard error).
"use strict";

(() => {
  const S = window.silab;
  const $ = (id) => document.getElementById(id);
  const state = { ids: [], experiments: [], traces: new Map(), token: 0 };

  function leaves(spec, prefix = "", out = []) {
    for (const [key, value] of Object.entries(spec || {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (value && typeof value === "object" && !Array.isArray(value)) leaves(value, path, out);
      else if (Array.isArray(value) && value.every((v) => v && typeof v === "object")) {
        value.forEach((v, i) => leaves(v, `${path}.${i}`, out));
      } else out.push(path);
    }
    return out;
  }

  function text(value) {
    return value === undefined ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  // Phase I points of one experiment as Map(step -> {x, values: [per seed]}).
  function bySteps(points, metric) {
    const steps = new Map();
    for (const p of points) {
      const v = p.values[metric];
      if (p.phase !== "phase1" || v === null || v === undefined) continue;
      if (!steps.has(p.step)) steps.set(p.step, { x: Math.max(p.samples, 1), values: [] });
      steps.get(p.step).values.push(v);
    }
    return steps;
  }

  function stats(values) {
    const n = values.length;
    const mean = values.reduce((a, b) => a + b, 0) / n;
    const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
    const sorted = values.slice().sort((a, b) => a - b);
    const mid = Math.floor(n / 2);
    return { mean, half: 1.96 * sd / Math.sqrt(n), n,
             median: n % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2 };
  }

  function draw() {
    const metric = $("compare-metric").value;
    const group = $("compare-group").value;
    const series = [];
    if (!group) {
      for (const e of state.experiments) {
        const steps = bySteps(state.traces.get(e.id) || [], metric);
        series.push({ name: `#${e.id} ${e.name || ""}`.slice(0, 60),
                      points: [...steps.entries()].sort((a, b) => a[0] - b[0])
                        .map(([, s]) => [s.x, stats(s.values).median]) });
      }
    } else {
      const groups = new Map();
      for (const e of state.experiments) {
        const key = text(S.specValue(e.spec, group));
        if (!groups.has(key)) groups.set(key, new Map());
        const pooled = groups.get(key);
        for (const [step, s] of bySteps(state.traces.get(e.id) || [], metric)) {
          if (!pooled.has(step)) pooled.set(step, { x: s.x, values: [] });
          pooled.get(step).values.push(...s.values);
        }
      }
      for (const [key, pooled] of [...groups.entries()].sort()) {
        const rows = [...pooled.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => [s.x, stats(s.values)]);
        series.push({ name: `${S.label(group)} = ${key}`,
                      points: rows.map(([x, st]) => [x, st.mean]),
                      band: rows.map(([x, st]) => [x, st.mean - st.half, st.mean + st.half]) });
      }
    }
    window.silabChart.draw($("compare-chart"), {
      series, xlog: $("compare-log-x").checked, ylog: S.logScale(metric), xlabel: S.label("samples"),
      ylabel: S.label(metric),
      empty: "no curves for these experiments" });
    $("compare-chart").dataset.grouped = group ? "1" : "";
  }

  function table() {
    const paths = [...new Set(state.experiments.flatMap((e) => leaves(e.spec)))];
    // Only what differs between them: that is what a comparison is about.
    const differing = paths.filter((p) =>
      new Set(state.experiments.map((e) => text(S.specValue(e.spec, p)))).size > 1);
    const head = S.el("tr");
    head.append(...["id", "name", "status", ...differing.map(S.label), "overlap", "test MSE"]
      .map((h) => S.el("th", h)));
    $("compare-head").replaceChildren(head);
    $("compare-body").replaceChildren(...state.experiments.map((e) => {
      const tr = S.el("tr");
      const link = S.el("td");
      link.append(S.el("a", `#${e.id}`, { href: `#/experiments/${e.id}` }));
      tr.append(link, S.el("td", e.name || ""), S.el("td", e.status),
        ...differing.map((p) => S.el("td", text(S.specValue(e.spec, p)))),
        S.el("td", S.fmtNumber(e.final_median_abs_m)), S.el("td", S.fmtNumber(e.test_mse)));
      return tr;
    }));
    const select = $("compare-group");
    const chosen = select.value;
    select.replaceChildren(S.el("option", "each experiment", { value: "" }),
      ...(differing.length ? differing : paths).map((p) => S.el("option", S.label(p), { value: p })));
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  }

  async function load() {
    const token = ++state.token;
    window.silabChart.draw($("compare-chart"), { series: [], empty: "loading the curves…" });
    try {
      const experiments = await Promise.all(state.ids.map((id) => S.api(`/experiments/${id}`)));
      const traces = await Promise.all(state.ids.map((id) =>
        S.api(`/experiments/${id}/trace?max_points=2000`)));
      if (token !== state.token) return;
      state.experiments = experiments;
      state.traces = new Map(traces.map((t) => [t.experiment_id, t.points]));
      const metrics = traces[0] ? traces[0].metrics : [];
      const select = $("compare-metric");
      if (select.options.length !== metrics.length) {
        select.replaceChildren(...metrics.map((m) => S.el("option", S.label(m), { value: m })));
        select.value = S.pickMetric(metrics, select.value);
      }
      table();
      draw();
      S.showError(null);
      S.stamp();
    } catch (error) {
      S.showError(error);
    }
  }

  function route() {
    const query = S.routeView("#/compare", "compare-view");
    if (!query) return;
    const group = query.get("group");
    state.ids = S.idsOf(query);
    if (group) $("compare-group").append(S.el("option", group, { value: group }));
    if (group) $("compare-group").value = group;
    load();
  }

  for (const id of ["compare-metric", "compare-group", "compare-log-x"]) {
    document.getElementById(id).addEventListener("change", draw);
  }
  window.addEventListener("hashchange", route);
  S.ready.then(route);
})();
