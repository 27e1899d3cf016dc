// The softprompt web app: load a model, prompt-tune it on pasted or uploaded texts with a live loss chart, compare
// greedy generations with and without the tuned prompt, download the adapter (PEFT's files, zipped) or load one.
// Everything runs in this tab: the library's graphs on onnxruntime-web in a Web Worker.
import {
  AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, get_peft_model, PeftModel, PromptTuningConfig,
  texts_from_file, Trainer, TrainingArguments, type PreTrainedModel, type PreTrainedTokenizer,
} from 'softprompt/web';
import * as lib from 'softprompt/web';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  model: $<HTMLInputElement>('model'),
  modelFiles: $<HTMLInputElement>('model-files'),
  loadModel: $<HTMLButtonElement>('load-model'),
  modelInfo: $('model-info'),
  served: $('served-models'),
  engineInfo: $('engine-info'),
  texts: $<HTMLTextAreaElement>('texts'),
  textsFile: $<HTMLInputElement>('texts-file'),
  virtualTokens: $<HTMLInputElement>('virtual-tokens'),
  learningRate: $<HTMLInputElement>('learning-rate'),
  epochs: $<HTMLInputElement>('epochs'),
  batchSize: $<HTMLInputElement>('batch-size'),
  train: $<HTMLButtonElement>('train'),
  status: $('status'),
  chart: document.getElementById('chart') as unknown as SVGSVGElement,
  prompt: $<HTMLInputElement>('prompt'),
  maxNewTokens: $<HTMLInputElement>('max-new-tokens'),
  generate: $<HTMLButtonElement>('generate'),
  baseline: $('baseline'),
  tuned: $('tuned'),
  download: $<HTMLButtonElement>('download'),
  adapterFiles: $<HTMLInputElement>('adapter-files'),
  adapterInfo: $('adapter-info'),
};

const params = new URLSearchParams(location.search);
const device = (params.get('device') ?? 'auto') as 'auto' | 'webgpu' | 'wasm';

interface State {
  source: string;
  model: PreTrainedModel;
  tokenizer: PreTrainedTokenizer;
  peft: PeftModel | null;
  busy: boolean;
}
let state: State | null = null;
let servedModels: string[] = [];

// For tests and the console: the loaded objects and the library itself.
(window as unknown as { softprompt: unknown }).softprompt = {
  lib,
  get model() { return state?.model ?? null; },
  get tokenizer() { return state?.tokenizer ?? null; },
  get peft() { return state?.peft ?? null; },
};

const SAMPLE_TEXTS = [
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, I thought I would sail about a little and see the watery part of the world.',
  'It is a way I have of driving off the spleen and regulating the circulation.',
  'Whenever I find myself growing grim about the mouth, I account it high time to get to sea as soon as I can.',
  'There now is your insular city of the Manhattoes, belted round by wharves as Indian isles by coral reefs; commerce surrounds it with her surf.',
  'Circumambulate the city of a dreamy Sabbath afternoon. Go from Corlears Hook to Coenties Slip, and from thence, by Whitehall, northward.',
  'Posted like silent sentinels all around the town, stand thousands upon thousands of mortal men fixed in ocean reveries.',
  'But look! here come more crowds, pacing straight for the water, and seemingly bound for a dive.',
  'Yes, as every one knows, meditation and water are wedded for ever.',
];
ui.texts.value = SAMPLE_TEXTS.join('\n');

function setBusy(busy: boolean): void {
  if (state) state.busy = busy;
  ui.loadModel.disabled = busy;
  ui.train.disabled = busy || !state;
  ui.generate.disabled = busy || !state;
  ui.adapterFiles.disabled = busy || !state;
  ui.download.disabled = busy || !state?.peft;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `/models/<name>/` for a model this server serves by name, the text as typed otherwise (URL prefix or hub id). */
function modelSource(text: string): string {
  const t = text.trim();
  if (servedModels.includes(t.replace(/\/+$/, ''))) return `/models/${t.replace(/\/+$/, '')}/`;
  if (/^models\/[\w.-]+\/?$/.test(t) && servedModels.includes(t.split('/')[1])) return `/${t.replace(/\/?$/, '/')}`;
  return t;
}

async function loadModel(source: string | File[], label: string): Promise<void> {
  setBusy(true);
  ui.modelInfo.textContent = `loading ${label} ...`;
  try {
    const previous = state;
    state = null;
    await previous?.model.dispose();
    const t0 = performance.now();
    const src = Array.isArray(source) ? source : modelSource(source);
    const tokenizer = await AutoTokenizer.from_pretrained(src);
    const model = await AutoModelForCausalLM.from_pretrained(src, { device });
    // One forward pass binds the weights and compiles the graph, so the first training step is not the slow one.
    await model.forward(tokenizer('Hello'));
    const info = await (model.model.engine as lib.Engine).info;
    const config = model.config as Record<string, unknown>;
    state = { source: typeof src === 'string' ? src : label, model, tokenizer, peft: null, busy: false };
    ui.modelInfo.textContent = `loaded ${label}: ${(config.architectures as string[] | undefined)?.[0] ?? config.model_type}, hidden ${config.hidden_size ?? config.n_embd}, ${config.num_hidden_layers ?? config.n_layer} layers, vocab ${config.vocab_size} (${((performance.now() - t0) / 1000).toFixed(1)} s)`;
    ui.engineInfo.textContent = `onnxruntime-web on ${info.device === 'webgpu' ? 'WebGPU' : `WASM (SIMD, ${info.threads} thread${info.threads === 1 ? '' : 's'})`}${info.crossOriginIsolated ? ', cross-origin isolated' : ', not cross-origin isolated (no threads)'}`;
    ui.baseline.textContent = '';
    ui.tuned.textContent = '';
    ui.adapterInfo.textContent = '';
  } catch (e) {
    ui.modelInfo.textContent = `could not load ${label}: ${errorText(e)}`;
  } finally {
    setBusy(false);
  }
}

function trainingTexts(): string[] {
  return ui.texts.value.split('\n').map((t) => t.trim()).filter((t) => t.length > 0);
}

function numberOf(input: HTMLInputElement, name: string, integer: boolean): number {
  const x = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) {
    throw new Error(`${name} is ${JSON.stringify(input.value)}; expected ${integer ? 'a whole number' : 'a number'} > 0`);
  }
  return x;
}

const losses: Array<[number, number]> = [];

function drawChart(total: number): void {
  const svg = ui.chart;
  const W = 600;
  const H = 180;
  const pad = { left: 48, right: 12, top: 12, bottom: 24 };
  if (losses.length === 0) {
    svg.innerHTML = '';
    return;
  }
  const ys = losses.map(([, y]) => y);
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  if (hi - lo < 1e-6) {
    hi += 0.05;
    lo -= 0.05;
  }
  const x = (step: number) => pad.left + ((step - 1) / Math.max(1, total - 1)) * (W - pad.left - pad.right);
  const y = (v: number) => pad.top + ((hi - v) / (hi - lo)) * (H - pad.top - pad.bottom);
  const points = losses.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.innerHTML = `
    <line x1="${pad.left}" y1="${H - pad.bottom}" x2="${W - pad.right}" y2="${H - pad.bottom}" class="axis"/>
    <line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${H - pad.bottom}" class="axis"/>
    <text x="${pad.left - 6}" y="${pad.top + 4}" text-anchor="end">${hi.toFixed(2)}</text>
    <text x="${pad.left - 6}" y="${H - pad.bottom}" text-anchor="end">${lo.toFixed(2)}</text>
    <text x="${pad.left}" y="${H - 6}">step 1</text>
    <text x="${W - pad.right}" y="${H - 6}" text-anchor="end">step ${total}</text>
    <text x="${(W + pad.left) / 2}" y="${H - 6}" text-anchor="middle">training loss</text>
    <polyline points="${points}" class="loss"/>
    ${losses.map(([s, v]) => `<circle cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" class="loss-dot"/>`).join('')}`;
}

async function train(): Promise<void> {
  if (!state) return;
  const { model, tokenizer } = state;
  setBusy(true);
  losses.length = 0;
  drawChart(1);
  try {
    const texts = trainingTexts();
    if (texts.length === 0) throw new Error('no training texts: paste some, one per line');
    const num_virtual_tokens = numberOf(ui.virtualTokens, 'Virtual tokens', true);
    const learning_rate = numberOf(ui.learningRate, 'Learning rate', false);
    const num_train_epochs = numberOf(ui.epochs, 'Epochs', false);
    const batch = numberOf(ui.batchSize, 'Batch size', true);
    if (tokenizer.pad_token_id === null) tokenizer.pad_token_id = tokenizer.eos_token_id;
    const dataset = texts.map((t) => tokenizer(t, { truncation: true, max_length: 128 }));
    const peft = await get_peft_model(model, new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens }));
    const total = Math.ceil(texts.length / batch) * Math.ceil(num_train_epochs);
    const t0 = performance.now();
    ui.status.textContent = `training: ${texts.length} texts, ${num_virtual_tokens} virtual tokens ...`;
    const trainer = new Trainer({
      model: peft,
      args: new TrainingArguments({ learning_rate, num_train_epochs, per_device_train_batch_size: batch, logging_steps: 1 }),
      train_dataset: dataset,
      data_collator: new DataCollatorForLanguageModeling({ tokenizer, mlm: false }),
      callbacks: {
        on_step_end: (s, loss) => {
          losses.push([s.global_step, loss]);
          ui.status.textContent = `step ${s.global_step}/${s.max_steps} · epoch ${s.epoch.toFixed(2)} · loss ${loss.toFixed(4)}`;
          drawChart(s.max_steps || total);
        },
      },
    });
    const out = await trainer.train();
    if (state) state.peft = peft;
    const seconds = (performance.now() - t0) / 1000;
    const first = losses[0]?.[1];
    const last = losses.at(-1)?.[1];
    ui.status.textContent = `done: step ${out.global_step}/${out.global_step} · loss ${last?.toFixed(4)} (first step ${first?.toFixed(4)}) · ${seconds.toFixed(1)} s, ${(seconds / Math.max(1, out.global_step)).toFixed(2)} s/step`;
    ui.adapterInfo.textContent = `adapter: ${num_virtual_tokens} virtual tokens x ${model.config.hidden_size ?? ''} (${peft.get_nb_trainable_parameters()[0].toLocaleString()} parameters), trained here`;
  } catch (e) {
    ui.status.textContent = `training failed: ${errorText(e)}`;
  } finally {
    setBusy(false);
  }
}

async function continuation(generateFn: (opts: Parameters<PreTrainedModel['generate']>[0]) => Promise<number[][]>, max_new_tokens: number): Promise<string> {
  const { tokenizer } = state!;
  const inputs = tokenizer(ui.prompt.value);
  const [sequence] = await generateFn({ ...inputs, max_new_tokens, do_sample: false, eos_token_id: tokenizer.eos_token_id ?? undefined });
  return tokenizer.decode(sequence.slice(inputs.input_ids[0].length), { skip_special_tokens: true });
}

async function generate(): Promise<void> {
  if (!state) return;
  const { model, peft } = state;
  setBusy(true);
  try {
    const max_new_tokens = numberOf(ui.maxNewTokens, 'Max new tokens', true);
    const baseline = await continuation((o) => model.generate(o), max_new_tokens);
    const tuned = peft ? await continuation((o) => peft.generate(o), max_new_tokens) : '';
    ui.baseline.textContent = baseline;
    ui.tuned.textContent = tuned;
    ui.tuned.title = peft ? '' : 'train or load an adapter first';
  } catch (e) {
    ui.baseline.textContent = `generation failed: ${errorText(e)}`;
  } finally {
    setBusy(false);
  }
}

async function downloadAdapter(): Promise<void> {
  if (!state?.peft) return;
  const blob = await state.peft.save_zip();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'softprompt-adapter.zip';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

async function loadAdapter(files: File[]): Promise<void> {
  if (!state || files.length === 0) return;
  setBusy(true);
  try {
    const source = files.length === 1 && files[0].name.endsWith('.zip') ? files[0] : files;
    const peft = await PeftModel.from_pretrained(state.model, source, { is_trainable: true });
    state.peft = peft;
    const config = peft.peft_config[peft.active_adapter];
    ui.adapterInfo.textContent = `adapter: ${config.num_virtual_tokens} virtual tokens x ${config.token_dim}, loaded from ${files.map((f) => f.name).join(', ')}`;
  } catch (e) {
    ui.adapterInfo.textContent = `could not load the adapter: ${errorText(e)}`;
  } finally {
    setBusy(false);
  }
}

ui.loadModel.addEventListener('click', () => void loadModel(ui.model.value, ui.model.value.trim()));
ui.model.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !ui.loadModel.disabled) void loadModel(ui.model.value, ui.model.value.trim());
});
ui.modelFiles.addEventListener('change', () => {
  const files = [...(ui.modelFiles.files ?? [])];
  if (files.length > 0) void loadModel(files, `${files.length} picked files`);
});
ui.train.addEventListener('click', () => void train());
ui.generate.addEventListener('click', () => void generate());
ui.download.addEventListener('click', () => void downloadAdapter());
ui.adapterFiles.addEventListener('change', () => void loadAdapter([...(ui.adapterFiles.files ?? [])]));
ui.textsFile.addEventListener('change', async () => {
  const file = ui.textsFile.files?.[0];
  if (!file) return;
  try {
    const texts = await texts_from_file(file);
    ui.texts.value = texts.map((t) => t.replace(/\s*\n\s*/g, ' ')).join('\n');
  } catch (e) {
    ui.status.textContent = `could not read ${file.name}: ${errorText(e)}`;
  }
});

// The server lists the models it serves; a name typed in "Model" then means /models/<name>/.
fetch('/models/index.json')
  .then((r) => (r.ok ? r.json() : []))
  .then((names: string[]) => {
    servedModels = names;
    if (names.length > 0) ui.served.textContent = `Served here: ${names.map((n) => `/models/${n}/`).join(', ')}`;
  })
  .catch(() => {});
setBusy(false);
