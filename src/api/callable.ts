/**
 * A class whose instances can be called like functions, as Python objects with `__call__` (a tokenizer, a data
 * collator) are: `tokenizer(texts)`. The constructor returns a function whose prototype is the subclass's, so
 * subclass fields and methods land on it; calling it runs `_call`.
 */
export abstract class Callable<Args extends unknown[], Result> {
  constructor() {
    const call = (...args: Args): Result => (call as unknown as Callable<Args, Result>)._call(...args);
    // A function's own `name` and `length` are read-only, so subclasses must not declare fields with those names.
    return Object.setPrototypeOf(call, new.target.prototype) as Callable<Args, Result>;
  }

  protected abstract _call(...args: Args): Result;
}
