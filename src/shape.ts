/** The number of elements a tensor of this shape holds (1 for a scalar's empty shape). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
