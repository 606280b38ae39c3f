import type { Dlq, DlqFilter } from './dlq.js';

/**
 * Deletes the letters `filter` selects (every letter without one) and resolves with how many. Each page is deleted,
 * by key, before the next is read, so the first page is always the next to delete, and letters a running
 * processor adds meanwhile are deleted too when the filter selects them.
 */
export async function purgeDeadLetters(dlq: Dlq, filter: DlqFilter = {}): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await dlq.list({ ...filter, limit: 1000 });
    if (page.length === 0) return deleted;
    const n = await dlq.delete(page.map((letter) => letter.key));
    deleted += n;
    if (n === 0) return deleted;
  }
}
