// Plain SVG line charts: no library, nothing loaded from the network.
const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf'];

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fmt(v) {
  if (v >= 10000) return (v / 1000).toFixed(0) + 'k';
  if (v >= 1000) return (v / 1000).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/**
 * Draws series [{name, points: [[t, v|null], ...]}] into container (replacing its content).
 * t in seconds; gaps (null) break the line.
 */
export function lineChart(container, series, { height = 160, yMin = 0 } = {}) {
  const width = Math.max(300, container.clientWidth || 800);
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  const all = series.flatMap(s => s.points.filter(p => p[1] != null));
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}` });
  if (all.length === 0) {
    const t = el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' });
    t.textContent = 'no samples yet';
    svg.appendChild(t);
    container.replaceChildren(svg);
    return;
  }
  const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0]), t0 + 1);
  const yMax = Math.max(...all.map(p => p[1]), yMin + 1) * 1.1;
  const x = t => pad.l + (t - t0) / (t1 - t0) * (width - pad.l - pad.r);
  const y = v => height - pad.b - (v - yMin) / (yMax - yMin) * (height - pad.t - pad.b);
  for (let i = 0; i <= 4; i++) {
    const v = yMin + (yMax - yMin) * i / 4;
    svg.appendChild(el('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), stroke: '#2a3641' }));
    const lab = el('text', { x: pad.l - 4, y: y(v) + 3, 'text-anchor': 'end' });
    lab.textContent = fmt(v);
    svg.appendChild(lab);
  }
  for (const [i, frac] of [[0, 0], [1, 0.5], [2, 1]]) {
    const t = t0 + (t1 - t0) * frac;
    const lab = el('text', { x: x(t), y: height - 4, 'text-anchor': i === 0 ? 'start' : i === 2 ? 'end' : 'middle' });
    lab.textContent = new Date(t * 1000).toLocaleTimeString();
    svg.appendChild(lab);
  }
  series.forEach((s, i) => {
    let d = '', pen = false;
    for (const [t, v] of s.points) {
      if (v == null) { pen = false; continue; }
      d += (pen ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1) + ' ';
      pen = true;
    }
    svg.appendChild(el('path', { d, fill: 'none', stroke: s.colour || COLOURS[i % COLOURS.length], 'stroke-width': 1.6 }));
  });
  const legend = document.createElement('div');
  legend.className = 'legend';
  series.forEach((s, i) => {
    const sw = document.createElement('i');
    sw.style.background = s.colour || COLOURS[i % COLOURS.length];
    legend.append(sw, document.createTextNode(s.name));
  });
  container.replaceChildren(svg, legend);
}

/** A small sparkline of values 0..1 (utilisation). */
export function sparkline(values, { width = 120, height = 18 } = {}) {
  const svg = el('svg', { width, height, class: 'spark' });
  const pts = values.map((v, i) => [i, v]).filter(p => p[1] != null);
  if (pts.length < 2) return svg;
  const n = Math.max(values.length - 1, 1);
  const d = pts.map(([i, v], k) => (k ? 'L' : 'M') + (i / n * width).toFixed(1) + ' ' + (height - 1 - Math.min(1, v) * (height - 2)).toFixed(1)).join(' ');
  svg.appendChild(el('path', { d, fill: 'none', stroke: '#58a6ff', 'stroke-width': 1.4 }));
  return svg;
}
