// The fault test: `softprompt train` with a checkpoint every step is SIGKILLed at random points (some in the final
// save), then resumed until it finishes. The final adapter must be byte-identical to an uninterrupted run's, and after
// every kill each file under a final name (no leading dot) must be complete: checkpoints parse whole, adapters load.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAdapterFiles } from '../../src/peft/adapter.js';
import { parseCheckpoint } from '../../src/train/checkpoint.js';
import { Generator } from '../../src/random.js';
import { BIN, TINY_MODEL, TINY_TEXTS } from '../cli-helpers.js';

export interface FaultReport {
  kills: number;
  /** Kills that landed after the last step, while the adapter was being saved (or just before). */
  finalSaveKills: number;
  resumes: number;
  seconds: number;
}

const ARGS = ['--model', TINY_MODEL, '--dataset', TINY_TEXTS, '--max_length', '64', '--max_steps', '24', '--save_steps', '1', '--per_device_train_batch_size', '4', '--json'];

function run(out: string, extra: string[] = []): void {
  const r = spawnSync(process.execPath, [BIN, 'train', ...ARGS, '--output_dir', out, ...extra], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`train ${extra.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/** Starts a run and SIGKILLs it after `ms` (or lets it end first); resolves to whether it was killed. */
function killAfter(out: string, extra: string[], ms: number): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, 'train', ...ARGS, '--output_dir', out, ...extra], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      done(signal === 'SIGKILL');
    });
  });
}

/** Every checkpoint and adapter under a final name must be whole. */
function checkVisibleFiles(out: string): void {
  if (!existsSync(out)) return;
  for (const name of readdirSync(out)) {
    if (name.startsWith('.')) continue;
    const path = join(out, name);
    if (name.startsWith('checkpoint-')) {
      const files = Object.fromEntries(readdirSync(path).map((f) => [f, readFileSync(join(path, f))]));
      parseCheckpoint(files, path);
      parseAdapterFiles(files, path);
    }
  }
  const config = join(out, 'adapter_config.json');
  const weights = join(out, 'adapter_model.safetensors');
  if (existsSync(weights) && existsSync(config)) parseAdapterFiles({ 'adapter_config.json': readFileSync(config), 'adapter_model.safetensors': readFileSync(weights) }, out);
  else if (existsSync(weights)) parseAdapterFiles({ 'adapter_config.json': Buffer.from('{"peft_type":"PROMPT_TUNING"}'), 'adapter_model.safetensors': readFileSync(weights) }, out);
}

/** `kills` SIGKILLs at random points of one run (a quarter of them near its end), then resumes to the end. */
export async function faultTest(kills: number, seed: number): Promise<FaultReport> {
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'softprompt-fault-'));
  const straight = join(root, 'straight');
  const t0 = performance.now();
  run(straight);
  const duration = performance.now() - t0;
  const want = readFileSync(join(straight, 'adapter_model.safetensors'));

  const out = join(root, 'killed');
  const rng = Generator.seeded(seed);
  let done = 0;
  let finalSaveKills = 0;
  let resumes = 0;
  while (done < kills) {
    const nearEnd = done % 4 === 3;
    const fraction = nearEnd ? 0.85 + 0.2 * (rng.nextUint32() / 2 ** 32) : rng.nextUint32() / 2 ** 32;
    const hasCheckpoint = existsSync(out) && readdirSync(out).some((n) => n.startsWith('checkpoint-'));
    const finished = existsSync(join(out, 'adapter_model.safetensors'));
    if (finished) {
      // The run completed between kills: start over from nothing so the remaining kills still interrupt training.
      spawnSync('rm', ['-rf', out]);
      continue;
    }
    const killed = await killAfter(out, hasCheckpoint ? ['--resume'] : [], fraction * duration);
    if (hasCheckpoint) resumes++;
    checkVisibleFiles(out);
    if (killed) {
      done++;
      if (nearEnd) finalSaveKills++;
    }
  }
  // Finish: resume until the adapter is there.
  if (existsSync(out) && readdirSync(out).some((n) => n.startsWith('checkpoint-'))) {
    run(out, ['--resume']);
    resumes++;
  } else {
    run(out);
  }
  checkVisibleFiles(out);
  const got = readFileSync(join(out, 'adapter_model.safetensors'));
  if (!got.equals(want)) throw new Error('the resumed adapter differs from the uninterrupted run\'s');
  const leftovers = readdirSync(out).filter((n) => n.startsWith('.'));
  if (leftovers.length > 0) throw new Error(`temporary files remain: ${leftovers.join(', ')}`);
  spawnSync('rm', ['-rf', root]);
  return { kills: done, finalSaveKills, resumes, seconds: (performance.now() - started) / 1000 };
}
