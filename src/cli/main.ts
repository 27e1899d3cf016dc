/**
 * The `softprompt` command. Each subcommand lives in its own file and registers itself here. Exit codes: 0 success,
 * 1 unexpected failure, 2 bad input or usage (a typed error: one line, no stack trace), 130 interrupted.
 */
import { Command, CommanderError } from 'commander';
import { SoftpromptError } from '../errors.js';
import { fileSystemError } from '../hub/local.js';
import { registerCompare } from './compare.js';
import { registerDemo } from './demo.js';
import { registerEval } from './eval.js';
import { registerInspect } from './inspect.js';
import { registerForward } from './forward.js';
import { registerTrain } from './train.js';
import { registerGenerate } from './generate.js';
import { registerServe } from './serve.js';
import { registerWeb } from './web.js';

export function program(): Command {
  const cmd = new Command('softprompt')
    .description('Prompt tuning for frozen language models, on ONNX Runtime')
    .showHelpAfterError()
    .exitOverride();
  registerDemo(cmd);
  registerCompare(cmd);
  registerForward(cmd);
  registerTrain(cmd);
  registerGenerate(cmd);
  registerEval(cmd);
  registerInspect(cmd);
  registerServe(cmd);
  registerWeb(cmd);
  return cmd;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (caught) {
    if (caught instanceof CommanderError) return caught.exitCode === 0 ? 0 : 2;
    // A file-system error that no layer below named (a full disk, a read-only or forbidden path) is still the user's
    // to fix: one line naming the path.
    const e = fileSystemError(caught);
    if (e instanceof SoftpromptError) {
      process.stderr.write(`softprompt: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`softprompt: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
