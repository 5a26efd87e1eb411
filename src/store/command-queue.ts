/** Commands held for offline devices (durable: they survive a bridge restart). */
import type { CommandQueueStore, QueuedCommandRow } from '../kernel/stores.js';
import type { Db } from './db.js';

export type { QueuedCommandRow };

type Raw = { id: number; device_jid: string; command: string; json: string; sender: string; origin: string; reply_id: string | null; created_at: number; expires_at: number };

function row(r: Raw): QueuedCommandRow {
  return {
    id: r.id,
    deviceJid: r.device_jid,
    command: r.command,
    json: r.json,
    sender: r.sender,
    origin: r.origin,
    replyId: r.reply_id ?? undefined,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

export class SqliteCommandQueue implements CommandQueueStore {
  private readonly insert;
  private readonly byDevice;
  private readonly remove;
  private readonly expiredBefore;
  private readonly devices;

  constructor(db: Db) {
    this.insert = db.prepare(
      'INSERT INTO command_queue (device_jid, command, json, sender, origin, reply_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.byDevice = db.prepare('SELECT * FROM command_queue WHERE device_jid = ? ORDER BY id');
    this.remove = db.prepare('DELETE FROM command_queue WHERE id = ?');
    this.expiredBefore = db.prepare('SELECT * FROM command_queue WHERE expires_at <= ? ORDER BY id');
    this.devices = db.prepare('SELECT DISTINCT device_jid FROM command_queue');
  }

  add(r: Omit<QueuedCommandRow, 'id'>): number {
    return Number(this.insert.run(r.deviceJid, r.command, r.json, r.sender, r.origin, r.replyId ?? null, r.createdAt, r.expiresAt).lastInsertRowid);
  }

  forDevice(deviceJid: string): QueuedCommandRow[] {
    return (this.byDevice.all(deviceJid) as Raw[]).map(row);
  }

  delete(id: number): void {
    this.remove.run(id);
  }

  claim(id: number): Promise<boolean> {
    return Promise.resolve(this.remove.run(id).changes > 0);
  }

  expired(now: number): QueuedCommandRow[] {
    return (this.expiredBefore.all(now) as Raw[]).map(row);
  }

  /** Devices with queued commands. */
  deviceJids(): string[] {
    return (this.devices.all() as { device_jid: string }[]).map((r) => r.device_jid);
  }
}
