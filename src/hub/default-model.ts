/** Where the embedded default model lives: models/default in the package, wherever it is installed or run from. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This file compiles to dist/src/hub/, three levels below the package root. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_MODEL = join(PACKAGE_ROOT, 'models', 'default');
