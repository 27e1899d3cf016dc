/**
 * `softprompt forward`: one batch through the model (optionally with a PEFT adapter of any prompt-learning method) and
 * the results as safetensors: `logits` ([B, n+T, V] with a soft prompt, [B, T, V] bare or with a prefix), `loss` (with
 * labels), `grad` d(loss)/d(prompt_embeddings) [n, H] (with --grad; [n, 2·L·D] for a prefix; a multitask adapter gives
 * `grad.prefix_task_cols`, `grad.prefix_task_rows` and `grad.prompt_embeddings`). A multitask adapter reads the batch's
 * `task_ids`. Parity with transformers/PEFT is checked from outside through this command, so its interface stays stable.
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import type { WeightDtype } from '../weights/quantize.js';
import type { Command } from 'commander';
import { FormatError, OptionError } from '../errors.js';
import { locateAdapter } from '../peft/adapter-files.js';
import { PeftModel } from '../peft/peft-model.js';
import { readJson, writeFileAtomic } from '../hub/local.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { withTerminalProgress } from '../hub/terminal-progress.js';
import type { ForwardBatch } from '../models/model.js';
import { serializeSafetensors } from '../weights/safetensors.js';

interface ForwardFlags {
  dtype?: WeightDtype;
  model: string;
  offline?: boolean;
  adapter?: string;
  batch: string;
  out: string;
  grad?: boolean;
  json?: boolean;
}

function isMatrix(v: unknown): v is number[][] {
  return Array.isArray(v) && v.every((r) => Array.isArray(r) && r.every((x) => typeof x === 'number'));
}

export async function readBatch(path: string): Promise<ForwardBatch> {
  const json = (await readJson(path)) as Record<string, unknown>;
  if (typeof json !== 'object' || json === null) throw new FormatError('expected an object with input_ids', path);
  for (const key of ['input_ids', 'attention_mask', 'labels']) {
    if (json[key] !== undefined && !isMatrix(json[key])) throw new FormatError(`"${key}" must be a list of lists of integers`, path);
  }
  const taskIds = json.task_ids;
  if (taskIds !== undefined && !(Array.isArray(taskIds) && taskIds.every((x) => Number.isSafeInteger(x)))) {
    throw new FormatError('"task_ids" must be a list of integers (one task id per row)', path);
  }
  if (json.input_ids === undefined) throw new FormatError('missing "input_ids"', path);
  return json as unknown as ForwardBatch;
}

export async function runForward(flags: ForwardFlags): Promise<void> {
  const batch = await readBatch(flags.batch);
  const model = await withTerminalProgress((progress_callback) =>
    modelFromPretrained(flags.model, { offline: flags.offline, progress_callback, dtype: flags.dtype }),
  );
  try {
    const peft = flags.adapter ? await PeftModel.fromPretrained(model, await locateAdapter(flags.adapter, { offline: flags.offline })) : null;
    if (flags.grad && !peft) throw new OptionError('--grad needs --adapter (the gradient is w.r.t. its prompt)', '--grad');
    if (flags.grad && !batch.labels) throw new OptionError('--grad needs "labels" in the batch', '--grad');
    const out = peft ? await peft.forward(batch, { grad: flags.grad }) : await model.forward(batch);
    const tensors = [{ name: 'logits', shape: out.logits!.dims, data: out.logits!.data as Float32Array }];
    if (out.loss !== undefined) tensors.push({ name: 'loss', shape: [], data: Float32Array.of(out.loss) });
    const grads = out.grad ? gradTensors(peft!, out.grad as Float32Array) : [];
    tensors.push(...grads);
    await writeFileAtomic(flags.out, serializeSafetensors(tensors, { format: 'pt' }));
    const grad = grads.length === 1 ? grads[0].shape : grads.length > 0 ? Object.fromEntries(grads.map((g) => [g.name, g.shape])) : null;
    const summary = { out: flags.out, logits: out.logits!.dims, loss: out.loss ?? null, grad };
    process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `wrote ${flags.out}: logits [${summary.logits}]${out.loss !== undefined ? `, loss ${out.loss}` : ''}${out.grad ? ', grad' : ''}\n`);
  } finally {
    await model.engine.close();
  }
}

/** The gradient by the adapter's saved tensors: `grad` for the one table, `grad.<tensor>` for multitask's three. */
function gradTensors(peft: PeftModel, grad: Float32Array): Array<{ name: string; shape: number[]; data: Float32Array }> {
  const shapes = peft.parameterShapes();
  if (shapes.length === 1) return [{ name: 'grad', shape: shapes[0].shape, data: grad }];
  let offset = 0;
  return shapes.map(({ key, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = grad.subarray(offset, offset + size);
    offset += size;
    return { name: `grad.${key === 'embedding.weight' ? 'prompt_embeddings' : key}`, shape, data };
  });
}

export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('run one batch through a model (and adapter) and write logits, loss and prompt gradient as safetensors')
    .requiredOption('--model <dir|id>', 'model directory (config.json, model.safetensors), or hub id org/name')
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .option('--offline', 'use the Hugging Face cache only, never the network (as HF_HUB_OFFLINE=1)')
    .option('--adapter <dir>', 'PEFT adapter (prompt tuning, P-tuning, prefix or multitask prompt tuning): a directory or a hub repo id')
    .requiredOption('--batch <file.json>', 'JSON with input_ids, attention_mask and optional labels ([B][T] each), and task_ids [B] for a multitask adapter')
    .requiredOption('--out <file.safetensors>', 'where to write logits ([B, n+T, V]; [B, T, V] for a prefix), loss and grad')
    .option('--grad', 'also write d(loss)/d(prompt_embeddings) as "grad" [n, H]')
    .option('--json', 'print a machine-readable summary')
    .action((flags: ForwardFlags) => runForward(flags));
}
