/**
 * Template flags read C-style escapes, so that `--template 'Email: {text}\nAnswer:'` in a shell (where single quotes
 * keep the backslash) means a newline, as the same template in Python or lm-eval's YAML would: \n, \t, \r and \\.
 * Any other backslash stays as written.
 */
export function unescapeFlag(value: string): string {
  return value.replace(/\\([ntr\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);
}
