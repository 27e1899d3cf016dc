/**
 * train/checkpoint-files.ts for browsers (package.json "browser" swaps it in): a Trainer's checkpoints kept in the
 * page's memory, under output_dir, so save_steps and resume work within a page.
 */
import { MissingError } from '../errors.js';
import type { CheckpointStore } from '../train/checkpoint.js';

const stores = new Map<string, Map<string, Record<string, Uint8Array>>>();

export class DirectoryCheckpointStore implements CheckpointStore {
  private readonly checkpoints: Map<string, Record<string, Uint8Array>>;

  constructor(readonly dir: string) {
    this.checkpoints = stores.get(dir) ?? new Map();
    stores.set(dir, this.checkpoints);
  }

  async write(name: string, files: Record<string, Uint8Array | string>): Promise<void> {
    const bytes = Object.fromEntries(Object.entries(files).map(([file, data]) => [file, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice()]));
    this.checkpoints.set(name, bytes);
  }

  async read(name: string): Promise<Record<string, Uint8Array>> {
    const files = this.checkpoints.get(name);
    if (!files) throw new MissingError('no such checkpoint', this.describe(name));
    return files;
  }

  async list(): Promise<string[]> {
    return [...this.checkpoints.keys()];
  }

  describe(name: string): string {
    return `${this.dir}/${name} (in memory)`;
  }
}
