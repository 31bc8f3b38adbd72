// silab dashboard: curves drawn in the browser as SVG (no library, nothing fetched). One call
// draws a whole chart into a container, replacing what was there only once the new one is ready,
// so a chart never shows half-drawn or another experiment's curves.
//
//   silabChart.draw(container, {
//     series: [{ name, color, points: [[x, y], ...], band: [[x, low, high], ...],
//                width, opacity, dash, markers }],
//     xlog, ylog, xlabel, ylabel, ymin, ymax, legend: true })
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
                   "#be185d", "#4d7c0f", "#a16207", "#475569"];
  const W = 640, H = 360, M = { left: 64, right: 16, top: 14, bottom: 46 };

  function node(tag, attrs = {}, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function extent(values, log) {
    const xs = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
    if (!xs.length) return null;
    let lo = Math.min(...xs), hi = Math.max(...xs);
    if (lo === hi) { lo = log ? lo / 2 : lo - 1; hi = log ? hi * 2 : hi + 1; }
    return [lo, hi];
  }

  function scale([lo, hi], [a, b], log) {
    const f = log ? Math.log10 : (v) => v;
    const l = f(lo), h = f(hi);
    return (v) => a + ((f(v) - l) / (h - l)) * (b - a);
  }

  function ticks([lo, hi], log) {
    if (log) {
      const out = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        const v = 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
      if (out.length >= 2) return out;
      return [lo, Math.sqrt(lo * hi), hi];
    }
    const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
    const mult = [1, 2, 5, 10].find((m) => (hi - lo) / (step * m) <= 6) || 10;
    const out = [];
    for (let v = Math.ceil(lo / (step * mult)) * step * mult; v <= hi + 1e-12; v += step * mult) {
      out.push(Number(v.toPrecision(12)));
    }
    return out;
  }

  function label(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e4 || a < 1e-2)) {
      const e = Math.floor(Math.log10(a));
      const m = v / 10 ** e;
      return (Math.abs(m - 1) < 1e-9 ? "" : `${Number(m.toPrecision(2))}·`) + `10^${e}`;
    }
    return String(Number(v.toPrecision(3)));
  }

  function draw(container, options) {
    const series = (options.series || []).map((s, i) => ({
      color: PALETTE[i % PALETTE.length], width: 2, opacity: 1, ...s }));
    const xs = [], ys = [];
    for (const s of series) {
      for (const [x, y] of s.points || []) { xs.push(x); ys.push(y); }
      for (const [x, lo, hi] of s.band || []) { xs.push(x); ys.push(lo, hi); }
    }
    if (options.ymin !== undefined) ys.push(options.ymin);
    if (options.ymax !== undefined) ys.push(options.ymax);
    const xr = extent(xs, options.xlog), yr = extent(ys, options.ylog);
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
                             "aria-label": options.title || options.ylabel || "chart" });
    if (!xr || !yr) {
      svg.append(node("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" },
                      options.empty || "no points yet"));
      container.replaceChildren(svg);
      container.dataset.series = "0";
      return;
    }
    const X = scale(xr, [M.left, W - M.right], options.xlog);
    const Y = scale(yr, [H - M.bottom, M.top], options.ylog);
    const axes = node("g", { class: "chart-axes" });
    for (const t of ticks(xr, options.xlog)) {
      axes.append(node("line", { x1: X(t), x2: X(t), y1: M.top, y2: H - M.bottom, class: "grid" }),
                  node("text", { x: X(t), y: H - M.bottom + 16, "text-anchor": "middle" }, label(t)));
    }
    for (const t of ticks(yr, options.ylog)) {
      axes.append(node("line", { x1: M.left, x2: W - M.right, y1: Y(t), y2: Y(t), class: "grid" }),
                  node("text", { x: M.left - 6, y: Y(t) + 4, "text-anchor": "end" }, label(t)));
    }
    axes.append(
      node("text", { x: (M.left + W - M.right) / 2, y: H - 8, "text-anchor": "middle",
                     class: "axis-label" }, options.xlabel || ""),
      node("text", { x: 14, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle",
                     transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})`,
                     class: "axis-label" }, options.ylabel || ""));
    svg.append(axes);
    const ok = (x, y) => Number.isFinite(x) && Number.isFinite(y)
      && (!options.xlog || x > 0) && (!options.ylog || y > 0);
    for (const s of series) {
      const g = node("g", { class: "series", "data-name": s.name || "" });
      if (s.band && s.band.length) {
        const band = s.band.filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi));
        const path = band.map(([x, , hi], i) => `${i ? "L" : "M"}${X(x)},${Y(hi)}`).join("")
          + band.slice().reverse().map(([x, lo]) => `L${X(x)},${Y(lo)}`).join("") + "Z";
        if (band.length) g.append(node("path", { d: path, fill: s.color, "fill-opacity": 0.15,
                                                 class: "band" }));
      }
      const points = (s.points || []).filter(([x, y]) => ok(x, y));
      if (s.markers) {
        for (const [x, y] of points) {
          g.append(node("circle", { cx: X(x), cy: Y(y), r: 3.5, fill: s.color,
                                    "fill-opacity": s.opacity }));
        }
      } else if (points.length) {
        g.append(node("path", {
          d: points.map(([x, y], i) => `${i ? "L" : "M"}${X(x)},${Y(y)}`).join(""),
          fill: "none", stroke: s.color, "stroke-width": s.width, "stroke-opacity": s.opacity,
          ...(s.dash ? { "stroke-dasharray": s.dash } : {}), class: "line" }));
      }
      svg.append(g);
    }
    const named = series.filter((s) => s.name && options.legend !== false);
    named.slice(0, 12).forEach((s, i) => {
      const y = M.top + 6 + i * 16;
      svg.append(node("rect", { x: M.left + 10, y: y - 8, width: 12, height: 4, fill: s.color }),
                 node("text", { x: M.left + 28, y, class: "legend" }, s.name));
    });
    container.replaceChildren(svg);
    container.dataset.series = String(series.length);
  }

  window.silabChart = { draw, PALETTE };
})();
