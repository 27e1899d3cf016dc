/** The loading options of transformers' `from_pretrained` that softprompt reads, on top of the hub client's own. */
import type { HubOptions } from '../hub/settings.js';

/** Where and how `from_pretrained` finds files: a directory, or the hub and its cache. */
export interface FromPretrainedOptions extends HubOptions {
  /** transformers' name for `offline`: read the cache (or the directory) only, never the network. */
  local_files_only?: boolean;
}

export function hubOptions({ local_files_only, ...opts }: FromPretrainedOptions): HubOptions {
  return local_files_only === undefined ? opts : { ...opts, offline: opts.offline ?? local_files_only };
}
