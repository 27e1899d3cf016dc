/**
 * How every command reads a numeric flag (and one of a fixed set of values). Number() and parseInt() are too kind for a command line: parseInt reads
 * "1e3", "4x" and "2.9" as 1, 4 and 2, and Number reads "" as 0 (a learning rate of 0, clipping off), "0x10" as 16.
 * These accept plain decimal numbers only and say which flag held what otherwise; range checks that depend on other
 * values stay with the code that knows them (TrainingArguments, the generation config).
 */
import { OptionError } from '../errors.js';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** An integer >= min written in digits (no exponent, no fraction). */
export function integer(flag: string, min: number) {
  const expected = `an integer >= ${min}`;
  return (value: string): number => {
    const text = value.trim();
    const n = Number(text);
    if (!INTEGER.test(text) || n < min) throw new OptionError(`is ${JSON.stringify(value)}; expected ${expected}`, flag);
    if (!Number.isSafeInteger(n)) throw new OptionError(`is ${JSON.stringify(value)}; expected ${expected} up to ${Number.MAX_SAFE_INTEGER}`, flag);
    return n === 0 ? 0 : n; // not -0
  };
}

/** A finite decimal number, exponent allowed ("5e-5"); not "", "inf", "nan" or hex. */
export function float(flag: string) {
  return (value: string): number => {
    const text = value.trim();
    const x = Number(text);
    if (!DECIMAL.test(text) || !Number.isFinite(x)) throw new OptionError(`is ${JSON.stringify(value)}; expected a finite number`, flag);
    return x;
  };
}

/** "3.5GB", "800MB", "512KiB" or a plain number of bytes, > 0. */
export function byteSize(flag: string) {
  const units: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
  return (value: string): number => {
    const m = /^\s*(\d+\.?\d*|\.\d+)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$/i.exec(value);
    const x = m ? Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()] : NaN;
    if (!Number.isFinite(x) || x < 1) throw new OptionError(`is ${JSON.stringify(value)}; expected a size like 3.5GB, 800MB or a number of bytes`, flag);
    return Math.floor(x);
  };
}

/** `.option(...integerFlag('--max_length <n>', 'tokens per text', 1, 128))`: the parser named after the flag. */
export function integerFlag(flags: string, description: string, min: number, fallback?: number) {
  return [flags, description, integer(longName(flags), min), fallback] as const;
}

/** `.option(...floatFlag('--learning_rate <lr>', 'AdamW learning rate', 5e-5))`. */
export function floatFlag(flags: string, description: string, fallback?: number) {
  return [flags, description, float(longName(flags)), fallback] as const;
}

function longName(flags: string): string {
  return flags.split(/[ ,]/)[0];
}

/** One of `choices`, as given. */
export function choice<T extends string>(flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!choices.includes(value as T)) throw new OptionError(`is ${JSON.stringify(value)}; expected one of ${choices.join(', ')}`, flag);
    return value as T;
  };
}
