/**
 * The few browser globals src/web uses, typed here rather than by adding TypeScript's DOM library to the whole
 * project (whose Node code would then type-check against browser streams and timers).
 */
export interface MessageEventLike<T> {
  data: T;
}

export interface WorkerLike {
  onmessage: ((event: MessageEventLike<never>) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  terminate(): void;
}

export type WorkerConstructor = new (url: string | URL, options?: { type?: 'module' | 'classic'; name?: string }) => WorkerLike;

interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
}

export interface BrowserGlobals {
  Worker: WorkerConstructor;
  crossOriginIsolated?: boolean;
  /** A worker's name (the page has none). */
  name?: string;
  navigator: { hardwareConcurrency?: number; gpu?: { requestAdapter(options?: { powerPreference?: string }): Promise<unknown | null> } };
  caches?: { open(name: string): Promise<CacheLike> };
  onmessage: ((event: MessageEventLike<never>) => void) | null;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
}

/** The page's (or the worker's) global scope. */
export const browser = globalThis as unknown as BrowserGlobals;
