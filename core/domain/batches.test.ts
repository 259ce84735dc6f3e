import { MAX_BATCH_ROWS, MAX_DELAY_SECONDS, releaseDelaySeconds } from './batches';

test("a batch's rows are released at the batch part of the Gemini quota, within SQS's longest delay", () => {
  const prod = { requestsPerMinute: 1000, interactiveSharePercent: 10 };
  // 900 a minute: 15 rows a second.
  expect([0, 14, 15, 29, 30, MAX_BATCH_ROWS - 1].map((row) => releaseDelaySeconds(row, prod))).toEqual([0, 0, 1, 1, 2, 333]);
  // 100 a minute (1.67 a second): row 5,000 would be 3,000 s away, SQS delays 900 s at most.
  expect(releaseDelaySeconds(5000, { requestsPerMinute: 100, interactiveSharePercent: 0 })).toBe(MAX_DELAY_SECONDS);
  // Below one a second, one a second: the booking in core-llm paces them from there.
  expect(releaseDelaySeconds(10, { requestsPerMinute: 30, interactiveSharePercent: 10 })).toBe(10);
});
