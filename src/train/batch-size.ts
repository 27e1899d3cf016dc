/**
 * auto_find_batch_size: accelerate 0.28's find_executable_batch_size. Run with a batch size; on an out-of-memory
 * failure halve it and run again from the start, until it fits or reaches 0. (Newer accelerate shrinks by x0.9; the
 * goldens come from 0.28.)
 */
import { SoftpromptError } from '../errors.js';

/**
 * onnxruntime reports a failed allocation as an Error from session.run ("Failed to allocate memory for requested
 * buffer of size ...", or a C++ bad_alloc); V8 as "Array buffer allocation failed".
 */
export function isOutOfMemoryError(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  return /out of memory|failed to allocate|allocation failed|bad_alloc|cannot allocate|can't allocate/i.test(message);
}

export class NoExecutableBatchSizeError extends SoftpromptError {}

export async function findExecutableBatchSize<T>(
  starting: number,
  run: (batchSize: number) => Promise<T>,
  onRetry?: (from: number, to: number, cause: Error) => void,
): Promise<T> {
  let batchSize = starting;
  for (;;) {
    try {
      return await run(batchSize);
    } catch (e) {
      if (!isOutOfMemoryError(e)) throw e;
      const next = Math.floor(batchSize / 2);
      if (next === 0) {
        throw new NoExecutableBatchSizeError(`out of memory even at batch size 1 (${(e as Error).message})`, 'auto_find_batch_size');
      }
      onRetry?.(batchSize, next, e as Error);
      batchSize = next;
    }
  }
}
