"""Quick numpy hypothesis check behind docs/results/science_notes.md (not the trainer): one neuron,
B = 1, He_3 student, target h_3, vectorised over seeds; residual y − ra·He_3(z) (ra = 0: f = 0).
Options: clip (outer coefficient, clipboth: inner too), stepclip (outer step norm), yclip (labels),
proj2 = "wp" (second gradient projected at w'/‖w'‖), renorm_inner, approx (z' = z + ηd·y·σ'(z)),
variant = "interp", scale (student scale: 1/√6 is the h_3 student), gk (γ·d·ln d), online.

    .venv/bin/python docs/results/reuse_variants_numpy.py '{"S": 32, "clip": 1000}'
"""

import json
import math
import sys
import time

import numpy as np

SQ6 = math.sqrt(6)


def run(
    d,
    S=32,
    budget=40,
    c=0.3,
    gk=0.05,
    online=False,
    scale=1.0,
    clip=None,
    proj2="w",
    renorm_inner=False,
    seed=0,
    act="he3",
    every=None,
    yclip=None,
    clipboth=False,
    ra=0.0,
    variant="outer",
    approx=False,
    stepclip=None,
):
    rng = np.random.default_rng(seed + 1000 * d)
    th = rng.standard_normal((S, d))
    th /= np.linalg.norm(th, axis=1, keepdims=True)
    w = rng.standard_normal((S, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    sgn = np.ones(S)
    eta = c / d
    gam = gk / (d * math.log(d))

    if act not in ("he3", "tanh"):
        raise ValueError(f"act: he3 or tanh, not {act!r}")

    def dsig(z):
        if act == "he3":
            return scale * (3 * z * z - 3)
        return scale * (1 - np.tanh(z) ** 2)

    T = int(budget * d)
    every = every or max(1, d // 8)
    rec = np.full(S, np.inf)
    for t in range(1, T + 1):
        x = rng.standard_normal((S, d))
        u = (x * th).sum(1)
        y = (u**3 - 3 * u) / SQ6
        if yclip is not None:
            y = np.clip(y, -yclip, yclip)
        z = (x * w).sum(1)
        if online:
            g = y * dsig(z)
        else:
            g1 = (y - ra * sgn * (z**3 - 3 * z)) * dsig(z)
            if clipboth:
                g1 = np.clip(g1, -clip, clip)
            wp = w + eta * g1[:, None] * (x - z[:, None] * w)
            if renorm_inner:
                wp = wp / np.linalg.norm(wp, axis=1, keepdims=True)
            zp = (x * wp).sum(1)
            if approx:
                zp = z + c * g1
            g = (y - ra * sgn * (zp**3 - 3 * zp)) * dsig(zp)
            if variant == "interp":
                g = g + g1
        if clip is not None:
            g = np.clip(g, -clip, clip)
        base = w
        if proj2 == "wp" and not online:
            base = wp / np.linalg.norm(wp, axis=1, keepdims=True)
        zb = (x * base).sum(1)
        step = gam * g[:, None] * (x - zb[:, None] * base)
        if stepclip is not None:
            n = np.linalg.norm(step, axis=1, keepdims=True)
            step = step * np.minimum(1, stepclip / n)
        w = w + step
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        if t % every == 0:
            m = np.abs((w * th).sum(1))
            rec = np.where((m >= 0.5) & np.isinf(rec), t / d, rec)
            if np.all(np.isfinite(rec)):
                break
    return rec


def summ(r):
    r = np.sort(r)
    quartiles = f"q25 {np.quantile(r, 0.25):.1f} q75 {np.quantile(r, 0.75):.1f}"
    return f"med {np.median(r):.1f} {quartiles} rec {np.isfinite(r).sum()}/{len(r)}"


if __name__ == "__main__":
    kw = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    dims = kw.pop("dims", [64, 128, 256])
    for d in dims:
        t0 = time.time()
        print(d, json.dumps(kw), summ(run(d, **kw)), f"{time.time() - t0:.0f}s", flush=True)
