import { Worker } from 'node:worker_threads';
import type { CheckAnswer, CheckRequest } from './compatibility-worker';
import { invalidSchema, operationTimedOut, type CompatibilityLevel } from './errors';

/** How long one compatibility check may take before it is abandoned (50002). */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

/**
 * Runs compatibility checks in a worker thread, one at a time, each within a time budget: a
 * check is the one registry operation whose cost grows faster than its input (unions resolve
 * pairwise), and on the event loop it would stall every other request of the process (the sink
 * and the dashboard share it under `tributary start`). A check over its budget is answered
 * 50002 and its worker is replaced.
 */
export class CompatibilityChecker {
  private worker: Worker | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 0;

  constructor(private readonly timeoutMs = DEFAULT_CHECK_TIMEOUT_MS) {}

  /** The reasons `candidate` is incompatible with `existing` under `level`; empty when it is compatible. */
  check(
    level: CompatibilityLevel,
    candidate: string,
    existing: Array<{ version: number; schema: string }>,
  ): Promise<string[]> {
    if (level === 'NONE' || existing.length === 0) return Promise.resolve([]);
    const run = () => this.run({ id: ++this.nextId, level, candidate, existing });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private run(request: CheckRequest): Promise<string[]> {
    const worker = (this.worker ??= spawnWorker());
    return new Promise<string[]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      const onMessage = (answer: CheckAnswer) => {
        if (answer.id !== request.id) return;
        done();
        if ('failure' in answer) reject(invalidSchema(answer.failure));
        else resolve(answer.errors);
      };
      const onError = (err: Error) => {
        done();
        this.worker = undefined;
        reject(err);
      };
      const timer = setTimeout(() => {
        done();
        this.worker = undefined;
        void worker.terminate();
        reject(
          operationTimedOut(
            `the compatibility check took longer than ${this.timeoutMs} ms (REGISTRY_CHECK_TIMEOUT_MS); simplify the schema's unions`,
          ),
        );
      }, this.timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

/**
 * The worker runs compatibility-worker beside this file: compiled JavaScript under dist/, or
 * the TypeScript source through tsx's require hook (tests and `npm run` from source).
 */
function spawnWorker(): Worker {
  const source = __filename.endsWith('.ts');
  const file = __filename.replace(/compatibility\.(ts|js)$/, 'compatibility-worker.$1');
  const code = `${source ? `require(${JSON.stringify(require.resolve('tsx/cjs'))});` : ''}require(${JSON.stringify(file)});`;
  const worker = new Worker(code, { eval: true });
  worker.unref();
  return worker;
}
