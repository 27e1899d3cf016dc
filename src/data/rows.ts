/** A dataset row (one CSV record or JSON object) and how a reader reports a row it cannot use. */
export type Row = Record<string, unknown>;

export interface BadRow {
  /** 1-based line (CSV, JSONL, text) or item (JSON array) number. */
  line: number;
  message: string;
}

export interface BadRowOptions {
  /** 'error' (default) stops at the first bad row; 'skip' drops it and reports it through on_skip. */
  on_bad_row?: 'error' | 'skip';
  on_skip?: (bad: BadRow) => void;
}
