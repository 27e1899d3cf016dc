/** Options that `demo` and `compare` share: the model (the embedded one by default) and the texts to tune on. */
import type { Command } from 'commander';
import { BOOKS } from '../data/corpora.js';
import { DEFAULT_MODEL } from '../hub/default-model.js';

export function withModelAndBook(command: Command): Command {
  return command
    .option('--model <dir>', 'model directory (default: the embedded model)', DEFAULT_MODEL)
    .option('--dataset <name|file.json>', `${Object.keys(BOOKS).join(' or ')} (reserved passages), or a JSON array of texts`, 'moby-dick');
}
