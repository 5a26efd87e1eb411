/**
 * The newest row per key, kept in memory and written behind: the hot path changes memory only, and a writer takes
 * what changed since it last looked (rows set, keys deleted) to store it in one go. Used by the latest-reading
 * stores (SQLite: one transaction per flush; Redis: one script per batch).
 */
export class WriteBehindTable<Row> {
  private readonly rows = new Map<string, Row>();
  private dirty = new Set<string>();
  private removed = new Set<string>();

  get(key: string): Row | undefined {
    return this.rows.get(key);
  }

  get size(): number {
    return this.rows.size;
  }

  values(): IterableIterator<Row> {
    return this.rows.values();
  }

  /** A row changed here: written by the next `take`. */
  set(key: string, row: Row): void {
    this.rows.set(key, row);
    this.removed.delete(key);
    this.dirty.add(key);
  }

  /** A row deleted here: its removal is written by the next `take`. False when there was none. */
  delete(key: string): boolean {
    if (!this.rows.delete(key)) return false;
    this.dirty.delete(key);
    this.removed.add(key);
    return true;
  }

  /** A row that is stored already (loaded at start, or written elsewhere): kept in memory, not written again. */
  load(key: string, row: Row): void {
    this.rows.set(key, row);
  }

  /** Forgotten here only (deleted elsewhere). */
  forget(key: string): void {
    this.rows.delete(key);
  }

  get pending(): boolean {
    return this.dirty.size > 0 || this.removed.size > 0;
  }

  /** What changed since the last `written`: the rows to write and the keys to delete. */
  changes(): { readonly changed: Row[]; readonly removed: string[] } {
    const changed: Row[] = [];
    for (const key of this.dirty) {
      const row = this.rows.get(key);
      if (row !== undefined) changed.push(row);
    }
    return { changed, removed: [...this.removed] };
  }

  /** The changes are stored (a write that failed leaves them pending, for the next one). */
  written(): void {
    this.dirty = new Set();
    this.removed = new Set();
  }

  /** The changes, handed to a writer that keeps them from now on. */
  take(): { readonly changed: Row[]; readonly removed: string[] } {
    const out = this.changes();
    this.written();
    return out;
  }
}
