/** `--dtype` for every command that loads a model: how its frozen weights are held (models/pretrained.ts withDtype). */
import { parseWeightDtype, type WeightDtype } from '../weights/quantize.js';

export const DTYPE_HELP =
  'frozen weights as fp32, fp16 (half the memory, cast to fp32 where read), or quantized on load to 8/4 bits (block-wise, onnxruntime quantized kernels; the copy is cached in the HF cache folder)';

export const parseDtypeFlag = (value: string): WeightDtype => parseWeightDtype(value, '--dtype');
