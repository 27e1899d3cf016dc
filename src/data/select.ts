/**
 * Picking rows: `select` "a:b" is HF's dataset.select(range(a, b)) ("50" = range(50), "10:" = from 10 to the end),
 * and a validation split drawn like dataset.train_test_split(test_size, seed): a seeded permutation, the first
 * ceil(fraction * n) (or the given count) rows become the validation set, the rest stay for training.
 */
import { OptionError } from '../errors.js';
import { Generator } from '../random.js';

export function selectRange<T>(rows: T[], spec: string, source: string): T[] {
  const m = /^\s*(\d*)\s*(:?)\s*(\d*)\s*$/.exec(spec);
  if (!m || (m[2] === '' && m[1] === '') || (m[2] === '' && m[3] !== '')) {
    throw new OptionError(`is ${JSON.stringify(spec)}; expected "start:end", "count" or "start:"`, 'select');
  }
  const [start, end] = m[2] === '' ? [0, Number(m[1])] : [Number(m[1] || 0), m[3] === '' ? rows.length : Number(m[3])];
  if (start > end) throw new OptionError(`is ${JSON.stringify(spec)}; the start comes after the end`, 'select');
  if (end > rows.length) throw new OptionError(`${spec} needs ${end} rows but ${source} has ${rows.length}`, 'select');
  return rows.slice(start, end);
}

export function trainValidationSplit<T>(rows: T[], validation: number, seed: number): { train: T[]; validation: T[] } {
  const n = rows.length;
  const isFraction = validation > 0 && validation < 1;
  if (!isFraction && !(Number.isSafeInteger(validation) && validation >= 1)) {
    throw new OptionError(`is ${validation}; expected a fraction in (0, 1) or a row count >= 1`, 'validation_split');
  }
  const count = isFraction ? Math.ceil(validation * n) : validation;
  if (count >= n) throw new OptionError(`takes ${count} of ${n} rows, leaving none to train on`, 'validation_split');
  const order = Generator.seeded(seed).permutation(n);
  return { train: order.slice(count).map((i) => rows[i]), validation: order.slice(0, count).map((i) => rows[i]) };
}
