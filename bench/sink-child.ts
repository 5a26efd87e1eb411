/**
 * Scenario S's XMPP server: a sink. A minimal XEP-0114 endpoint in its own process that accepts one component
 * stream, completes the handshake, answers every IQ request (the bridge's delivery barriers are XEP-0199 pings from
 * its domain to itself: a real server routes them back and the bridge answers `result`; the sink answers `result`
 * at once), and counts and timestamps the readings it receives. It routes nothing, so the bridge is the bottleneck.
 *
 *   node dist/bench/sink-child.js   (IPC: start {domain, secret} → {port}, stats, stop;
 *                                    events: `samples` {r, s[], lat[]} every 10 ms while readings arrive)
 *
 * Stanzas are cut from the stream by a scanner, not a full XML parser: the peer is the bridge (ltx output, well
 * formed, no nested element with a top-level stanza's name), and the sink's own CPU must stay small next to the
 * bridge's on a shared 2-core machine. A reading's latency is taken when the TCP chunk that completed it arrived.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { emit, nowUs, serve } from './common.js';

let server: Server | undefined;
let domain = '';
let secret = '';
const stats = { connections: 0, handshakes: 0, badHandshakes: 0, messages: 0, iqAnswered: 0, presences: 0, unreadable: 0, bytes: 0 };

// Samples of the current chunk, flushed to the parent every 10 ms.
let pending: { r: number; s: number[]; lat: number[] } | undefined;
let flushTimer: NodeJS.Timeout | undefined;

function flush(): void {
  flushTimer = undefined;
  if (pending && pending.s.length > 0) emit('samples', pending);
  pending = undefined;
}

function sample(r: number, s: number, lat: number): void {
  if (pending && pending.r !== r) flush();
  pending ??= { r, s: [], lat: [] };
  pending.s.push(s);
  pending.lat.push(Math.round(lat));
  flushTimer ??= setTimeout(flush, 10);
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };
const unescape = (s: string): string => (s.includes('&') ? s.replace(/&(?:amp|lt|gt|quot|apos);/g, (e) => ENTITIES[e] ?? e) : s);

/** The value of attribute `name` in a start tag (either quote style). */
function attr(tag: string, name: string): string | undefined {
  const i = tag.indexOf(` ${name}=`);
  if (i < 0) return undefined;
  const q = tag[i + name.length + 2];
  const end = tag.indexOf(q!, i + name.length + 3);
  return end < 0 ? undefined : unescape(tag.slice(i + name.length + 3, end));
}

function onMessage(stanza: string, atUs: number): void {
  stats.messages += 1;
  const open = stanza.indexOf('<json');
  if (open < 0) {
    stats.unreadable += 1;
    return;
  }
  const start = stanza.indexOf('>', open) + 1;
  const end = stanza.indexOf('</json>', start);
  let m: { t?: unknown; s?: unknown; r?: unknown };
  try {
    m = JSON.parse(unescape(stanza.slice(start, end))) as typeof m;
  } catch {
    stats.unreadable += 1;
    return;
  }
  if (typeof m.r === 'number' && typeof m.s === 'number' && typeof m.t === 'number') sample(m.r, m.s, atUs - m.t);
  else stats.unreadable += 1;
}

function serveStream(socket: Socket): void {
  stats.connections += 1;
  socket.setNoDelay(true);
  const decoder = new StringDecoder('utf8');
  const id = randomBytes(8).toString('hex');
  let buf = '';
  let state: 'header' | 'handshake' | 'open' = 'header';
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    const atUs = nowUs();
    stats.bytes += chunk.length;
    buf += decoder.write(chunk);
    let pos = 0;
    let replies = '';
    for (;;) {
      if (state === 'header') {
        // <?xml …?> then <stream:stream … to='domain'>: answer with our header and the stream id (XEP-0114 §2).
        const i = buf.indexOf('<stream:stream', pos);
        const end = i < 0 ? -1 : buf.indexOf('>', i);
        if (end < 0) break;
        replies += `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='${domain}' id='${id}'>`;
        pos = end + 1;
        state = 'handshake';
        continue;
      }
      const lt = buf.indexOf('<', pos);
      if (lt < 0) {
        pos = buf.length;
        break;
      }
      if (buf.startsWith('</stream:stream>', lt)) {
        socket.end('</stream:stream>');
        return;
      }
      const tagEnd = buf.indexOf('>', lt);
      if (tagEnd < 0) {
        pos = lt;
        break;
      }
      const nameEnd = buf.slice(lt + 1, Math.min(tagEnd, lt + 20)).search(/[\s/>]/);
      const name = buf.slice(lt + 1, nameEnd < 0 ? tagEnd : lt + 1 + nameEnd);
      let stanzaEnd: number;
      if (buf[tagEnd - 1] === '/') stanzaEnd = tagEnd + 1;
      else {
        const close = buf.indexOf(`</${name}>`, tagEnd);
        if (close < 0) {
          pos = lt;
          break;
        }
        stanzaEnd = close + name.length + 3;
      }
      const stanza = buf.slice(lt, stanzaEnd);
      pos = stanzaEnd;
      if (state === 'handshake') {
        // XEP-0114 §2: the handshake is the hex SHA-1 of the stream id followed by the shared secret.
        const expected = createHash('sha1').update(id + secret).digest('hex');
        const got = stanza.slice(stanza.indexOf('>') + 1, stanza.lastIndexOf('<'));
        if (name !== 'handshake' || got !== expected) {
          stats.badHandshakes += 1;
          socket.end(`${replies}<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
          return;
        }
        stats.handshakes += 1;
        replies += '<handshake/>';
        state = 'open';
      } else if (name === 'message') onMessage(stanza, atUs);
      else if (name === 'iq') {
        const tag = buf.slice(lt, tagEnd + 1);
        const type = attr(tag, 'type');
        if (type === 'get' || type === 'set') {
          // Every request gets `result`, from whom it was addressed to: a barrier ping (to the domain, from the
          // domain) is answered as the server's routing plus the bridge's own answer would be.
          stats.iqAnswered += 1;
          const to = attr(tag, 'to') ?? domain;
          const from = attr(tag, 'from') ?? domain;
          const q = (s: string): string => s.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');
          replies += `<iq type='result' id='${q(attr(tag, 'id') ?? '')}' from='${q(to)}' to='${q(from)}'/>`;
        }
      } else if (name === 'presence') stats.presences += 1;
    }
    buf = buf.slice(pos);
    if (replies) socket.write(replies);
  });
}

serve({
  start: (a: { domain: string; secret: string }) => {
    domain = a.domain;
    secret = a.secret;
    return new Promise<{ port: number }>((resolve, reject) => {
      server = createServer(serveStream);
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server?.address();
        resolve({ port: typeof addr === 'object' && addr ? addr.port : 0 });
      });
    });
  },
  stats: () => ({ ...stats }),
  stop: () => {
    server?.close();
    setImmediate(() => process.exit(0));
    return true;
  },
});
