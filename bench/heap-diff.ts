/**
 * What a device's bytes are: two V8 heap snapshots of the same process (`npm run bench -- --parts memory
 * --memory-snapshots` writes one per memory step), the objects alive in the second and not in the first (V8 keeps an
 * object's snapshot id for its lifetime), each counted to the first named class above it on its retainer path —
 * aedes' `Client`, the guard's `FrameGuard`, the bridge's `DeviceRegistry`… — divided by the devices added.
 *
 *   node dist/bench/heap-diff.js bench/results/bridge-2000.heapsnapshot bench/results/bridge-4000.heapsnapshot 2000
 *
 * Self sizes, so native memory outside the V8 heap (socket buffers, SQLite's page cache) is not in it; the memory
 * part's RSS slope is. Objects of no class (plain objects, arrays, closures, Map tables) are counted to the class
 * that holds them; generic containers and stream internals are passed through to their owner.
 */
import { readFileSync } from 'node:fs';

export interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Classes that are containers or internals of another object: an object under them is counted to their owner. */
const PASS_THROUGH = new Set([
  'Object', 'Array', 'Map', 'Set', 'WeakMap', 'Timeout', 'ReadableState', 'WritableState', 'BufferList', 'Packet', 'Parser',
  'BufferListStream', 'InFlight', 'KeptItem', 'Subscription', 'TCP', 'O',
]);
const MAX_DEPTH = 14;

export interface HeapShare {
  owner: string;
  bytesPerDevice: number;
  objectsPerDevice: number;
}

export function loadSnapshot(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

/** Bytes per device by owning class, largest first. */
export function heapDiff(before: Snapshot, after: Snapshot, devices: number): HeapShare[] {
  const { node_fields: nf, node_types: [types], edge_fields: ef, edge_types: [edgeTypes] } = after.snapshot.meta;
  const N = nf.length;
  const E = ef.length;
  const [iType, iName, iId, iSize, iEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number, number];
  const [eType, eTo] = ['type', 'to_node'].map((f) => ef.indexOf(f)) as [number, number];
  const old = new Set<number>();
  for (let i = 0; i < before.nodes.length; i += N) old.add(before.nodes[i + iId]!);

  const count = after.nodes.length / N;
  // One strong retainer per node: the first seen, preferring a named property over an engine-internal edge.
  const retainer = new Int32Array(count).fill(-1);
  const internal = new Uint8Array(count);
  let e = 0;
  for (let n = 0; n < count; n++) {
    const edges = after.nodes[n * N + iEdges]!;
    for (let k = 0; k < edges; k++, e += E) {
      const kind = edgeTypes[after.edges[e + eType]!];
      if (kind === 'weak') continue;
      const to = after.edges[e + eTo]! / N;
      if (retainer[to] === -1 || (internal[to] === 1 && kind !== 'internal')) {
        retainer[to] = n;
        internal[to] = kind === 'internal' ? 1 : 0;
      }
    }
  }
  const owner = (n: number): string => {
    for (let c = n, d = 0; c >= 0 && d < MAX_DEPTH; c = retainer[c]!, d++) {
      if (types[after.nodes[c * N + iType]!] !== 'object') continue;
      const name = after.strings[after.nodes[c * N + iName]!]!;
      if (/^[A-Z#]/.test(name) && !PASS_THROUGH.has(name)) return name;
    }
    const type = types[after.nodes[n * N + iType]!]!;
    // Memory of Node's own C++ objects (a socket's handle) is reported as native or synthetic nodes of its name.
    return type === 'native' || type === 'synthetic' ? `(native) ${after.strings[after.nodes[n * N + iName]!]}` : '(no class within reach)';
  };
  const shares = new Map<string, { bytes: number; objects: number }>();
  for (let n = 0; n < count; n++) {
    if (old.has(after.nodes[n * N + iId]!)) continue;
    const o = owner(n);
    const s = shares.get(o) ?? { bytes: 0, objects: 0 };
    s.bytes += after.nodes[n * N + iSize]!;
    s.objects += 1;
    shares.set(o, s);
  }
  return [...shares]
    .map(([o, s]) => ({ owner: o, bytesPerDevice: s.bytes / devices, objectsPerDevice: s.objects / devices }))
    .sort((a, b) => b.bytesPerDevice - a.bytesPerDevice);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [a, b, d] = process.argv.slice(2);
  if (!a || !b || !d) {
    console.error('usage: node dist/bench/heap-diff.js BEFORE.heapsnapshot AFTER.heapsnapshot DEVICES_ADDED');
    process.exit(2);
  }
  const rows = heapDiff(loadSnapshot(a), loadSnapshot(b), Number(d));
  const total = rows.reduce((t, r) => t + r.bytesPerDevice, 0);
  console.log(`${Math.round(total)} bytes per device in objects added between the snapshots`);
  for (const r of rows.filter((x) => x.bytesPerDevice >= 1)) {
    console.log(`${Math.round(r.bytesPerDevice).toString().padStart(7)} B  ${r.objectsPerDevice.toFixed(1).padStart(6)} objects  ${r.owner}`);
  }
}
