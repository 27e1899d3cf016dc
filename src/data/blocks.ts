/**
 * run_clm.py's group_texts: token ids of many documents concatenated and cut into blocks of one length, the tail
 * that does not fill a block dropped. No padding, so every position of every block is trained on.
 */
export function packBlocks(documents: Iterable<number[]>, blockSize: number): number[][] {
  const blocks: number[][] = [];
  let current: number[] = [];
  for (const ids of documents) {
    for (const id of ids) {
      current.push(id);
      if (current.length === blockSize) {
        blocks.push(current);
        current = [];
      }
    }
  }
  return blocks;
}
