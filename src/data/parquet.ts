/**
 * Rows of a parquet file, read with hyparquet (pure JS) and the codecs of hyparquet-compressors (snappy, gzip, zstd,
 * brotli, lz4: what pyarrow, polars and the hub's conversion write). Values come out JSON-like, as a JSONL file of the
 * same table would give them: int64 as numbers, timestamps as ISO strings, binary as byte arrays.
 */
import { parquetMetadata, parquetReadObjects, parquetSchema, toJson } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { FormatError } from '../errors.js';

export interface Table {
  rows: Array<Record<string, unknown>>;
  columns: string[];
}

export async function parquetTable(bytes: Uint8Array, source: string): Promise<Table> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const metadata = parquetMetadata(file);
    const columns = parquetSchema(metadata).children.map((child) => child.element.name);
    const rows = await parquetReadObjects({ file, metadata, compressors, rowFormat: 'object' });
    return { rows: rows.map((row) => toJson(row) as Record<string, unknown>), columns };
  } catch (e) {
    throw new FormatError(`not a readable parquet file (${(e as Error).message})`, source);
  }
}
