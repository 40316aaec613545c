import { stopAwareRetry } from './consumer';

describe('stopAwareRetry', () => {
  it('lets kafkajs restart a crashed consumer until stop() has begun, never after', async () => {
    let closing = false;
    const retry = stopAwareRetry(() => closing);
    await expect(retry.restartOnFailure()).resolves.toBe(true);
    closing = true;
    await expect(retry.restartOnFailure()).resolves.toBe(false);
  });
});
