/** A small SVG chart: payments/s (bars) and p99 latency (line) against concurrent clients. */
import type { LoadResult } from './load';

export function chartSvg(payments: LoadResult[], ceiling: LoadResult[], title: string): string {
  const width = 640;
  const height = 360;
  const pad = { left: 60, right: 70, top: 40, bottom: 50 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const maxRate = Math.max(1, ...payments.map((r) => r.perSecond), ...ceiling.map((r) => r.perSecond)) * 1.1;
  const maxP99 = Math.max(1, ...payments.map((r) => r.p99)) * 1.1;
  const slot = plotW / payments.length;
  const y = (value: number, max: number) => pad.top + plotH - (value / max) * plotH;
  const parts: string[] = [];
  payments.forEach((r, i) => {
    const x = pad.left + i * slot;
    const c = ceiling.find((q) => q.clients === r.clients);
    parts.push(
      `<rect x="${x + slot * 0.15}" y="${y(r.perSecond, maxRate)}" width="${slot * 0.33}" ` +
        `height="${pad.top + plotH - y(r.perSecond, maxRate)}" fill="#3b7dd8"/>`,
    );
    if (c)
      parts.push(
        `<rect x="${x + slot * 0.5}" y="${y(c.perSecond, maxRate)}" width="${slot * 0.33}" ` +
          `height="${pad.top + plotH - y(c.perSecond, maxRate)}" fill="#b9cbe6"/>`,
      );
    parts.push(`<text x="${x + slot / 2}" y="${height - pad.bottom + 18}" text-anchor="middle">${r.clients}</text>`);
    parts.push(
      `<text x="${x + slot * 0.31}" y="${y(r.perSecond, maxRate) - 4}" text-anchor="middle" font-size="10">` +
        `${Math.round(r.perSecond)}</text>`,
    );
  });
  const line = payments.map((r, i) => `${pad.left + i * slot + slot / 2},${y(r.p99, maxP99)}`).join(' ');
  parts.push(`<polyline points="${line}" fill="none" stroke="#d8553b" stroke-width="2"/>`);
  payments.forEach((r, i) => parts.push(`<circle cx="${pad.left + i * slot + slot / 2}" cy="${y(r.p99, maxP99)}" r="3" fill="#d8553b"/>`));
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>
<line x1="${pad.left}" y1="${pad.top + plotH}" x2="${pad.left + plotW}" y2="${pad.top + plotH}" stroke="#333"/>
<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${pad.top + plotH}" stroke="#333"/>
<line x1="${pad.left + plotW}" y1="${pad.top}" x2="${pad.left + plotW}" y2="${pad.top + plotH}" stroke="#d8553b"/>
<text x="${pad.left - 8}" y="${pad.top}" text-anchor="end">${Math.round(maxRate)}</text>
<text x="${pad.left - 8}" y="${pad.top + plotH}" text-anchor="end">0</text>
<text x="${pad.left + plotW + 6}" y="${pad.top}" fill="#d8553b">${Math.round(maxP99)} ms</text>
<text x="${pad.left + plotW + 6}" y="${pad.top + plotH}" fill="#d8553b">0 ms</text>
<text x="${pad.left + plotW / 2}" y="${height - 12}" text-anchor="middle">concurrent clients</text>
<rect x="${pad.left + 4}" y="${pad.top - 14}" width="10" height="10" fill="#3b7dd8"/>` +
    `<text x="${pad.left + 18}" y="${pad.top - 5}">payments/s</text>
<rect x="${pad.left + 104}" y="${pad.top - 14}" width="10" height="10" fill="#b9cbe6"/>` +
    `<text x="${pad.left + 118}" y="${pad.top - 5}">Temporal ceiling/s</text>
<line x1="${pad.left + 244}" y1="${pad.top - 9}" x2="${pad.left + 258}" y2="${pad.top - 9}" stroke="#d8553b" stroke-width="2"/>` +
    `<text x="${pad.left + 262}" y="${pad.top - 5}">payments p99</text>
${parts.join('\n')}
</svg>
`
  );
}
