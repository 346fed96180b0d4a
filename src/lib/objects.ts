/** A copy of `o` without its undefined fields, so optional properties are absent rather than undefined. */
export function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
