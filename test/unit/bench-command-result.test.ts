/**
 * The downlink's references (bench/iq-echo.ts, bench/null-bridge.ts) answer a command with the very stanza the
 * bridge answers a published one, so the ratio compares the same two stanzas per command through the server.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { commandResult } from '../../bench/command-result.js';
import { commandAnswer } from '../../src/features/commands/command-iq.js';
import type { CommandOutcome } from '../../src/features/commands/downlink.js';
import { ok } from '../../src/errors.js';

describe('bench: the downlink references answer as the bridge does', () => {
  const iq = xml('iq', { type: 'set', to: 'bench-d7@null.localhost', id: 'c1' });
  const command = xml('command', { xmlns: 'urn:mqtt-xmpp-bridge:command:0', name: 'set' }, xml('json', { xmlns: 'urn:xmpp:json:0' }, '{"on":true}'));

  it("gives the device's command topic and the bridge's answer for a published command, byte for byte", () => {
    const r = commandResult(iq, command);
    assert.equal(r?.topic, 'sensors/bench/d7/set');
    const bridge = commandAnswer('set', ok({ topic: 'sensors/bench/d7/set' } as CommandOutcome));
    assert.equal(r?.answer.toString(), bridge.toString());
  });

  it('answers nothing for a JID that names no bench device', () => {
    assert.equal(commandResult(xml('iq', { type: 'set', to: 'nodash@null.localhost' }), command), undefined);
  });
});
