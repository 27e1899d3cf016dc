/**
 * `softprompt inspect ADAPTER --model M`: per virtual token, the nearest vocabulary tokens by cosine and by dot
 * product, its norm percentile among token embeddings, its distance to the nearest token against the typical
 * token-to-nearest-token distance, and its drift from a TEXT init; `--svg` draws the nearest tokens as a heatmap.
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import type { WeightDtype } from '../weights/quantize.js';
import type { Command } from 'commander';
import { inspectModelPrompt, type PromptReport } from '../eval/inspect.js';
import { writeFileAtomic } from '../hub/local.js';
import { resolveModelDir } from '../hub/model-files.js';
import { withTerminalProgress } from '../hub/terminal-progress.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { loadAdapter } from '../peft/adapter-files.js';
import { checkAdapterFits } from '../peft/adapter.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import { integerFlag } from './number-flags.js';
import { heatmapSpec, vegaLiteSvg } from './vega.js';

interface InspectFlags {
  dtype?: WeightDtype;
  model: string;
  top_k: number;
  svg?: string;
  json?: boolean;
}

export async function runInspect(adapterDir: string, flags: InspectFlags): Promise<void> {
  const adapter = await loadAdapter(adapterDir);
  const modelDir = await withTerminalProgress((progress_callback) => resolveModelDir(flags.model, { progress_callback }));
  const model = await modelFromPretrained(modelDir, { dtype: flags.dtype });
  let report: PromptReport;
  try {
    checkAdapterFits(adapter, model.config, adapterDir);
    const tokenizer = await tokenizerFromPretrained(modelDir);
    report = inspectModelPrompt(model, adapter.prompt, adapter.config, tokenizer, { top_k: flags.top_k });
  } finally {
    await model.engine.close();
  }
  if (flags.svg) await writeFileAtomic(flags.svg, await vegaLiteSvg(heatmap(report, adapterDir)));
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : describe(report));
}

function heatmap(report: PromptReport, name: string) {
  const cells = report.tokens.flatMap((t) => t.by_cosine.map((nb, rank) => ({
    row: `v${t.index}`, column: `#${rank + 1}`, value: nb.score, text: JSON.stringify(nb.token).slice(1, -1).slice(0, 9),
  })));
  return heatmapSpec(cells, { title: `${name}: nearest vocabulary tokens by cosine`, rowTitle: 'virtual token', columnTitle: 'rank', valueTitle: 'cosine' });
}

function describe(r: PromptReport): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    `${r.num_virtual_tokens} virtual tokens x ${r.token_dim}; vocabulary ${r.vocab_size} tokens, embedding norms ${r.token_norms.min.toFixed(3)} / ${r.token_norms.median.toFixed(3)} / ${r.token_norms.max.toFixed(3)} (min / median / max), typical token-to-nearest-token distance ${r.typical_nearest_distance.toFixed(3)}`,
    '',
  ];
  for (const t of r.tokens) {
    lines.push(`v${t.index}: norm ${t.norm.toFixed(3)} (percentile ${t.norm_percentile.toFixed(1)}), nearest token at ${t.nearest_distance.toFixed(3)} (${t.nearest_distance_ratio.toFixed(2)}x typical)` +
      (t.drift ? `; moved ${t.drift.distance.toFixed(3)} (${(100 * t.drift.relative).toFixed(0)}% of its norm) from init ${q(t.drift.init_token)}, cosine ${t.drift.cosine.toFixed(3)}` : ''));
    lines.push(`  cosine: ${t.by_cosine.map((n) => `${q(n.token)} ${n.score.toFixed(3)}`).join(', ')}`);
    lines.push(`  dot:    ${t.by_dot.map((n) => `${q(n.token)} ${n.score.toFixed(2)}`).join(', ')}`);
  }
  lines.push('', `note: ${r.note}`);
  return `${lines.join('\n')}\n`;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('what a soft prompt looks like from the vocabulary: nearest tokens, norms, distances, drift from its init')
    .argument('<adapter>', 'PEFT prompt-tuning adapter directory')
    .requiredOption('--model <dir|org/name>', 'the base model the adapter was trained on')
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .option(...integerFlag('--top_k <k>', 'nearest tokens to list per virtual token', 1, 5))
    .option('--svg <file.svg>', 'also draw the nearest tokens (by cosine) as a heatmap')
    .option('--json', 'print the report as JSON')
    .action((adapter: string, flags: InspectFlags) => runInspect(adapter, flags));
}
