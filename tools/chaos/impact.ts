/**
 * What a fault cost the clients: the longest stretch in which no request got its definitive
 * answer, and the latency (first attempt to definitive answer, retries included) of the
 * requests that were in flight across it. Pure, over the times the clients recorded.
 */

export interface TimedRequest {
  /** When the client sent its first attempt (ms epoch). */
  startedAt: number;
  /** When the definitive answer came; undefined if none came. */
  answeredAt?: number;
}

export interface Span {
  from: number;
  to: number;
}

export interface FaultImpact {
  /** The longest stretch without a definitive answer that reaches past the fault's start, ms. */
  noAnswerMs: number;
  /** Requests sent before the process was back and still unanswered when it went down. */
  inFlight: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Of those, how many never got a definitive answer. */
  unanswered: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The fault is the span from the kill to the restart; the window is the stretch of the run
 * that belongs to it (from the quiet before it to the next fault or the end of the load).
 */
export function faultImpact(requests: readonly TimedRequest[], fault: Span, window: Span): FaultImpact {
  const answers = requests
    .map((r) => r.answeredAt)
    .filter((at): at is number => at !== undefined && at >= window.from && at <= window.to)
    .sort((a, b) => a - b);
  // Stretches between consecutive answers, the first from the window's start, the last to its end.
  const marks = [window.from, ...answers, window.to];
  let noAnswerMs = 0;
  for (let i = 1; i < marks.length; i++) {
    if (marks[i]! >= fault.from) noAnswerMs = Math.max(noAnswerMs, marks[i]! - Math.max(marks[i - 1]!, window.from));
  }
  const across = requests.filter((r) => r.startedAt < fault.to && (r.answeredAt ?? Infinity) > fault.from);
  const latencies = across
    .filter((r) => r.answeredAt !== undefined)
    .map((r) => r.answeredAt! - r.startedAt)
    .sort((a, b) => a - b);
  return {
    noAnswerMs,
    inFlight: across.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
    unanswered: across.length - latencies.length,
  };
}

/** Seconds with one decimal, or a dash for nothing measured. */
export function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '-';
}
