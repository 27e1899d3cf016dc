/**
 * softprompt/web: the library in a browser, under the same names as in Node, on onnxruntime-web in a Web Worker.
 * The public classes are src/api/'s; package.json's "browser" field swaps the few Node-only modules under them for
 * their twins in this folder (files from URLs, the hub through Cache Storage, or files the user picked; adapters and
 * checkpoints saved in memory). What differs from Node:
 * - a model or adapter is a URL prefix (`/models/default/`), a hub id (`org/name`), or picked files (a FileList or
 *   File[], or for an adapter a .zip);
 * - `save_pretrained(dir)` writes into the page's memory (`from_pretrained(model, dir)` reads it back);
 *   `save_files()` also returns the files as Blobs by path, and `save_zip()` as one .zip;
 * - `from_pretrained` takes `device: 'auto' | 'webgpu' | 'wasm'` (WebGPU when the browser has an adapter).
 *
 * ```ts
 * import { AutoModelForCausalLM, AutoTokenizer, PromptTuningConfig, get_peft_model } from 'softprompt/web';
 * const model = await AutoModelForCausalLM.from_pretrained('/models/default/');
 * ```
 * @packageDocumentation
 */
import { AutoModelForCausalLM as NodeAutoModel, type ModelFromPretrainedOptions, type PreTrainedModel } from '../api/model.js';
import { get_peft_model as nodeGetPeftModel, PeftModel as ApiPeftModel, type LoadAdapterOptions, type PeftModelOptions, type PromptTuningConfig } from '../api/peft.js';
import { AutoTokenizer as NodeAutoTokenizer, type PreTrainedTokenizer } from '../api/tokenizer.js';
import type { FromPretrainedOptions } from '../api/hub-options.js';
import { parseRows } from '../data/formats.js';
import { OptionError } from '../errors.js';
import { DEFAULT_ADAPTER } from '../peft/peft-model.js';
import { Engine, type Device } from './engine.js';
import { joinPath, listFiles, normalize, registerFiles, savedFiles } from './files.js';
import { unzipFiles, zipFiles } from './zip.js';

export { PreTrainedModel, Tensor } from '../api/model.js';
export type { CausalLMOutput, GenerateOptions, ModelInputs } from '../api/model.js';
export { PreTrainedTokenizer } from '../api/tokenizer.js';
export type { ApplyChatTemplateOptions, BatchEncoding, ChatMessage, DecodeOptions, TokenizeOptions } from '../api/tokenizer.js';
export { BASE_ADAPTER, PromptTuningConfig, PromptTuningInit, TaskType } from '../api/peft.js';
export type { LoadAdapterOptions, PeftModelOptions, PromptTuningConfigOptions, VirtualTokensPosition } from '../api/peft.js';
export { DataCollatorForLanguageModeling, Trainer, TrainingArguments } from '../api/trainer.js';
export type { Features, PaddedFeatures, TrainerOptions, TrainingArgumentsOptions, TrainOutput } from '../api/trainer.js';
export type { TrainerCallbacks } from '../train/trainer.js';
export type { LogEntry, TrainerState } from '../train/checkpoint.js';
export { FormatError, HubError, MissingError, OptionError, ShapeError, SoftpromptError, UnsupportedError } from '../errors.js';
export { Engine } from './engine.js';
export type { Device, EngineInfo, EngineOptions } from './engine.js';
export { registerFiles } from './files.js';
export { unzipFiles, zipFiles } from './zip.js';

/** Where a model, tokenizer or adapter comes from: a URL prefix, a hub id, or files the user picked. */
export type Source = string | Iterable<File> | Blob;

/** Options of `AutoModelForCausalLM.from_pretrained` in a browser. */
export interface WebModelOptions extends Omit<ModelFromPretrainedOptions, 'engine'> {
  /** Default 'auto': WebGPU when the browser has an adapter, else WASM (threads when cross-origin isolated). */
  device?: Device;
  /** Share one engine (one Web Worker) between models; default: a new one. */
  engine?: Engine;
  /** Where onnxruntime-web's .wasm files are served (default: where the bundler put them). */
  wasmPaths?: string;
}

/** A string as given; picked files (or a .zip of them) registered as a directory of their own. */
async function sourcePath(source: Source): Promise<string> {
  if (typeof source === 'string') return source;
  if (source instanceof Blob && !isFileList(source)) {
    const name = (source as File).name ?? 'upload.zip';
    const files = await unzipFiles(new Uint8Array(await source.arrayBuffer()), name);
    return registerFiles(Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, new Blob([bytes.slice()])])));
  }
  return registerFiles(source as Iterable<File>);
}

function isFileList(source: unknown): boolean {
  return typeof source === 'object' && source !== null && Symbol.iterator in source;
}

/** transformers' AutoModelForCausalLM, on onnxruntime-web. */
export const AutoModelForCausalLM = {
  async from_pretrained(source: Source, opts: WebModelOptions = {}): Promise<PreTrainedModel> {
    const { device, wasmPaths, engine, ...rest } = opts;
    const path = await sourcePath(source);
    return NodeAutoModel.from_pretrained(path, { ...rest, engine: engine ?? Engine.create({ threads: opts.threads, device, wasmPaths }) });
  },
};

/** transformers' AutoTokenizer: tokenizer.json (+ tokenizer_config.json, special_tokens_map.json) from a source. */
export const AutoTokenizer = {
  async from_pretrained(source: Source, opts: FromPretrainedOptions = {}): Promise<PreTrainedTokenizer> {
    return NodeAutoTokenizer.from_pretrained(await sourcePath(source), opts);
  },
};

/** PEFT's PeftModel in a browser: adapters load from sources and save to Blobs. */
export class PeftModel extends ApiPeftModel {
  /** The adapter in `source` (a URL prefix, a hub id, picked adapter files, or a .zip of them), as the active adapter. */
  static override async from_pretrained(model: PreTrainedModel, source: Source, opts: PeftModelOptions & LoadAdapterOptions = {}): Promise<PeftModel> {
    const loaded = await ApiPeftModel.from_pretrained(model, await sourcePath(source), opts);
    return new PeftModel(model, loaded.peft, new Set(opts.is_trainable ? [opts.adapter_name ?? DEFAULT_ADAPTER] : []));
  }

  override async load_adapter(source: Source, adapter_name: string, opts: LoadAdapterOptions = {}): Promise<void> {
    await super.load_adapter(await sourcePath(source), adapter_name, opts);
  }

  /**
   * PEFT's files as Blobs by path: the default adapter's at the top, every other one's under `<name>/`. They are
   * written as `save_pretrained(dir)` writes them (in a page: into its memory, where `from_pretrained(model, dir)`
   * reads them back; default dir "adapter").
   */
  async save_files(dir = 'adapter', opts: { selected_adapters?: string[] } = {}): Promise<Record<string, Blob>> {
    await this.save_pretrained(dir, opts);
    const names = opts.selected_adapters ?? this.peft.listAdapters();
    const out: Record<string, Blob> = {};
    for (const name of names) {
      const sub = name === DEFAULT_ADAPTER ? dir : joinPath(dir, name);
      const prefix = name === DEFAULT_ADAPTER ? '' : `${name}/`;
      for (const [file, bytes] of Object.entries(savedFiles(sub))) out[prefix + file] = new Blob([bytes.slice()]);
    }
    return out;
  }

  /** The adapters as one .zip (adapter_config.json + adapter_model.safetensors at the top): PEFT's files, zipped. */
  async save_zip(dir = 'adapter', opts: { selected_adapters?: string[] } = {}): Promise<Blob> {
    return zip_adapter(await this.save_files(dir, opts));
  }
}

/** get_peft_model: the model with a freshly initialised soft prompt (a browser PeftModel). */
export async function get_peft_model(model: PreTrainedModel, config: PromptTuningConfig, opts: PeftModelOptions & { seed?: number } = {}): Promise<PeftModel> {
  const made = await nodeGetPeftModel(model, config, opts);
  return new PeftModel(model, made.peft, new Set([made.active_adapter]));
}

/** A .zip of files by path (what save_pretrained returns), as PEFT's adapter download. */
export async function zip_adapter(files: Record<string, Blob>): Promise<Blob> {
  const bytes: Record<string, Uint8Array> = {};
  for (const [path, blob] of Object.entries(files)) bytes[path] = new Uint8Array(await blob.arrayBuffer());
  return new Blob([zipFiles(bytes).slice()], { type: 'application/zip' });
}

/** The names of the files a picked or saved directory holds. */
export function list_files(dir: string): string[] {
  return listFiles(normalize(dir));
}

/**
 * The texts of a CSV, TSV, JSON, JSONL or text file the user picked (format from its name): the column `column`, else
 * "text", else the first column holding strings.
 */
export async function texts_from_file(file: File, column?: string): Promise<string[]> {
  const rows = parseRows(await file.text(), file.name);
  const first = rows[0] ?? {};
  const key = column ?? ('text' in first ? 'text' : Object.keys(first).find((k) => typeof first[k] === 'string'));
  if (key === undefined) throw new OptionError(`has no text column (columns: ${Object.keys(first).join(', ') || 'none'})`, file.name);
  return rows.map((r) => r[key]).filter((t): t is string => typeof t === 'string' && t.trim() !== '');
}
