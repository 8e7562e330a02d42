/** Grouping instance ids under a key (a state, an error), in first-seen order. Pure. */

export function groupIds<T extends { readonly id: number }>(
  items: Iterable<T>,
  keyOf: (item: T) => string
): Map<string, number[]> {
  const groups = new Map<string, number[]>()
  for (const item of items) {
    const key = keyOf(item)
    const ids = groups.get(key)
    if (ids) ids.push(item.id)
    else groups.set(key, [item.id])
  }
  return groups
}
