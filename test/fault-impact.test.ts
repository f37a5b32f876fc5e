/** The crash cost the chaos report and the crash test print, on hand-made timelines. */
import { faultImpact } from '../tools/chaos/impact';

const fault = { from: 10_000, to: 12_000 };
const window = { from: 9_000, to: 30_000 };

test('the longest silence reaching past the kill, and the latency of the requests in flight across the fault', () => {
  const requests = [
    { startedAt: 8_000, answeredAt: 9_500 }, // answered before the kill: not in flight across it
    { startedAt: 9_600, answeredAt: 15_600 }, // sent before, answered after: 6 s
    { startedAt: 11_000, answeredAt: 15_000 }, // sent while down: 4 s
    { startedAt: 13_000, answeredAt: 13_500 }, // sent after the restart: not counted in flight
    { startedAt: 15_700, answeredAt: 16_000 },
  ];
  // From the last answer before the kill (9.5 s) to the first after it (13.5 s).
  expect(faultImpact(requests, fault, { from: 9_000, to: 17_000 })).toEqual({
    noAnswerMs: 4_000,
    inFlight: 2,
    p50Ms: 6_000,
    p99Ms: 6_000,
    maxMs: 6_000,
    unanswered: 0,
  });
});

test('a request never answered counts as in flight and unanswered, and the silence runs to the end of the window', () => {
  const requests = [{ startedAt: 9_000, answeredAt: 9_900 }, { startedAt: 9_950 }];
  expect(faultImpact(requests, fault, window)).toMatchObject({ noAnswerMs: 20_100, inFlight: 1, unanswered: 1 });
});

test('a silence that ended before the kill does not count', () => {
  const requests = [
    { startedAt: 1_000, answeredAt: 9_100 },
    { startedAt: 9_100, answeredAt: 9_900 },
    { startedAt: 9_900, answeredAt: 10_300 },
    { startedAt: 10_300, answeredAt: 10_600 },
    { startedAt: 10_600, answeredAt: 30_000 },
  ];
  expect(faultImpact(requests, fault, window).noAnswerMs).toBe(19_400);
});
