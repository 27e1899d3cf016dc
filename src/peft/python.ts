/**
 * Python's text formats where PEFT's output is compared byte for byte: `repr(float)` (print_trainable_parameters)
 * and `json.dumps(obj, indent=2, sort_keys=True)` (adapter_config.json).
 */

/**
 * `repr(x)` for a Python float. The digits are the same as JS's (both print the shortest string that round-trips);
 * only the layout differs: Python switches to exponent form when the decimal exponent is < -4 or >= 16 (JS at -7 and
 * 21), writes the exponent with a sign and at least two digits (`1e-05`, `1e+16`), and keeps `.0` on integral values.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, exp] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const e = Number(exp);
  if (e < -4 || e >= 16) {
    const rest = digits.slice(1);
    const power = `${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
    return `${sign}${digits[0]}${rest ? `.${rest}` : ''}e${power}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const fraction = digits.slice(e + 1);
  return `${sign}${whole}.${fraction || '0'}`;
}

/**
 * `json.dumps(value, indent=2, sort_keys=True)` with Python's defaults: non-ASCII escaped as \uXXXX (ensure_ascii),
 * keys sorted by code point, non-integral numbers as repr(float). A JS number cannot say whether Python held an int or
 * a float, so integral values print as ints, except under the object keys in `floats` (P-tuning's encoder_dropout),
 * which Python holds as floats.
 */
export function pythonJsonDumps(value: unknown, indent = '', floats: ReadonlySet<string> = NO_KEYS, key = ''): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return floats.has(key) && Number.isFinite(value) ? pythonFloatRepr(value) : pythonJsonNumber(value);
  if (typeof value === 'string') return pythonJsonString(value);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + pythonJsonDumps(v, inner, floats, key)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareCodePoints(a, b));
  if (entries.length === 0) return '{}';
  const members = entries.map(([k, v]) => `${inner}${pythonJsonString(k)}: ${pythonJsonDumps(v, inner, floats, k)}`);
  return `{\n${members.join(',\n')}\n${indent}}`;
}

const NO_KEYS: ReadonlySet<string> = new Set();

function pythonJsonNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return Number.isInteger(x) && !Object.is(x, -0) && Math.abs(x) < 2 ** 53 ? String(x) : pythonFloatRepr(x);
}

/** JSON.stringify escapes exactly the characters Python does below U+0080 (same short forms, lowercase hex). */
function pythonJsonString(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
