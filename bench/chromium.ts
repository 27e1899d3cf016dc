// Finds a Chromium for playwright-core (which ships no browser): $CHROMIUM_PATH, else Debian's `chromium` package
// (`apt-get install chromium`, which .ci/run does), else other usual names on PATH.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findChromium(): string | null {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? given : null;
  const names = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  for (const dir of ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter)]) {
    for (const name of names) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Flags for headless Chromium in containers (no sandbox as root, no /dev/shm limits), plus WebGPU where a GPU is. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--ignore-gpu-blocklist'];
