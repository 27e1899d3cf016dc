/**
 * `softprompt serve`: one base model and many soft prompts behind OpenAI's API (see src/serve/). Logs one JSON line
 * per request (pino) on stdout. SIGTERM: new requests get 503, running ones finish, exit 0 (SIGINT: the same, 130).
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import type { WeightDtype } from '../weights/quantize.js';
import { Option, type Command } from 'commander';
import { SoftpromptServer } from '../serve/server.js';
import { integerFlag } from './number-flags.js';

interface ServeFlags {
  dtype?: WeightDtype;
  model: string;
  served_model_name?: string;
  adapters?: string;
  host: string;
  port: number;
  api_key?: string;
  max_batch_size: number;
  max_queue: number;
  max_model_len?: number;
  prefix_cache: boolean;
  one_prompt_per_batch?: boolean;
  threads?: number;
}

/** Resolves with the exit code once a signal has drained the server. */
export async function runServe(flags: ServeFlags): Promise<number> {
  const server = await SoftpromptServer.create({
    model: flags.model,
    servedModelName: flags.served_model_name ?? null,
    adapters: flags.adapters ?? null,
    apiKey: flags.api_key ?? process.env.SOFTPROMPT_API_KEY ?? null,
    maxBatchSize: flags.max_batch_size,
    maxQueue: flags.max_queue,
    maxModelLen: flags.max_model_len ?? null,
    prefixCache: flags.prefix_cache,
    onePromptPerBatch: flags.one_prompt_per_batch ?? false,
    threads: flags.threads,
    dtype: flags.dtype,
    logger: { level: 'info' },
  });
  const address = await server.listen(flags.host, flags.port);
  server.app.log.info({ address, model: server.baseId, adapters: (await server.adapters.list()).length }, 'serving');
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals, code: number) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      server.app.log.info({ signal }, 'draining: finishing running requests');
      server.shutdown().then(
        () => resolve(code),
        () => resolve(1),
      );
    };
    const onTerm = () => stop('SIGTERM', 0);
    const onInt = () => stop('SIGINT', 130);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a model and its prompt-tuning adapters over an OpenAI-compatible HTTP API, batching them together')
    .requiredOption('--model <dir>', 'model directory or hub repo id (also its id in the API)')
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .option('--served_model_name <id>', "the base model's id in the API (default: --model as given)")
    .option('--adapters <dir>', 'directory whose subdirectories are PEFT prompt-tuning adapters, named after them')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(...integerFlag('--port <n>', 'port to listen on (0: any free port)', 0, 8000))
    .option('--api_key <key>', 'require "Authorization: Bearer <key>" on /v1/* (default: $SOFTPROMPT_API_KEY, else none)')
    .option(...integerFlag('--max_batch_size <n>', 'rows decoded together at most', 1, 64))
    .option(...integerFlag('--max_queue <n>', 'sequences waiting to join at most; more get 429', 1, 1024))
    .option(...integerFlag('--max_model_len <n>', "prompt + virtual tokens + max_tokens at most (default: the model's position limit, else 2048)", 1))
    .option('--no-prefix_cache', "run each adapter's virtual tokens with every request instead of reusing their cached keys/values")
    .addOption(new Option('--one_prompt_per_batch', 'batch only requests for the same adapter together (a benchmark baseline)').hideHelp())
    .option(...integerFlag('--threads <n>', 'onnxruntime intra-op threads (default: the cores)', 1))
    .addHelpText('after', '\nEndpoints: /v1/models, /v1/completions, /v1/chat/completions, /v1/load_adapter, /v1/unload_adapter, /health, /metrics.')
    .action(async (flags: ServeFlags) => {
      // main() maps outcomes to exit codes 0/1/2; SIGINT must end with 130.
      const code = await runServe(flags);
      if (code !== 0) process.exit(code);
    });
}
