/**
 * The one answer to an IQ request (src/xmpp/iq-answer.ts, RFC 6120 §8.2.3): the exact stanza for each outcome of the
 * handler and for malformed requests.
 */
import assert from 'node:assert/strict';
import xml from '@xmpp/xml';
import { iqAnswer, isIqRequest, malformedRequestAnswer, requestPayload } from '../../src/xmpp/iq-answer.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function request(type: string, ...children: ReturnType<typeof xml>[]): ReturnType<typeof xml> {
  return xml('iq', { type, id: 'q1', from: 'alice@example.org/phone', to: 'lamp@iot.example.org' }, ...children);
}

describe('IQ answers (RFC 6120 §8.2.3)', () => {
  it('tells requests from responses: get, set and a bad type are requests; result and error are not', () => {
    assert.deepEqual(
      ['get', 'set', 'nonsense', 'result', 'error'].map((t) => isIqRequest(request(t))),
      [true, true, true, false, false],
    );
    assert.equal(isIqRequest(xml('message', { type: 'chat' })), false);
  });

  it('takes the one payload element of a get or set; none from an empty request, two payloads or a bad type', () => {
    const ping = xml('ping', { xmlns: 'urn:xmpp:ping' });
    assert.equal(requestPayload(request('get', ping)), ping);
    assert.equal(requestPayload(request('get')), undefined);
    assert.equal(requestPayload(request('set', xml('a'), xml('b'))), undefined);
    assert.equal(requestPayload(request('nonsense', xml('a'))), undefined);
  });

  it('answers a result with the payload, addresses swapped, same id', () => {
    const q = request('get', xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    assert.equal(
      iqAnswer(q, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }, xml('feature', { var: 'x' }))).toString(),
      '<iq to="alice@example.org/phone" from="lamp@iot.example.org" id="q1" type="result"><query xmlns="http://jabber.org/protocol/disco#info"><feature var="x"/></query></iq>',
    );
  });

  it('answers an empty result for true', () => {
    assert.equal(
      iqAnswer(request('set', xml('x')), true).toString(),
      '<iq to="alice@example.org/phone" from="lamp@iot.example.org" id="q1" type="result"/>',
    );
  });

  it('answers an error with the request payload and the error; service-unavailable when nothing handled it', () => {
    const error = xml('error', { type: 'auth' }, xml('forbidden', { xmlns: STANZAS }));
    assert.equal(
      iqAnswer(request('set', xml('command', { name: 'set' })), error).toString(),
      `<iq to="alice@example.org/phone" from="lamp@iot.example.org" id="q1" type="error"><command name="set"/><error type="auth"><forbidden xmlns="${STANZAS}"/></error></iq>`,
    );
    assert.equal(
      iqAnswer(request('get', xml('unknown', { xmlns: 'urn:x' })), undefined).toString(),
      `<iq to="alice@example.org/phone" from="lamp@iot.example.org" id="q1" type="error"><unknown xmlns="urn:x"/><error type="cancel"><service-unavailable xmlns="${STANZAS}"/></error></iq>`,
    );
  });

  it('answers bad-request to a malformed request, with its first payload if it has one', () => {
    assert.equal(
      malformedRequestAnswer(request('get')).toString(),
      `<iq to="alice@example.org/phone" from="lamp@iot.example.org" id="q1" type="error"><error type="modify"><bad-request xmlns="${STANZAS}"/></error></iq>`,
    );
    assert.equal(
      malformedRequestAnswer(request('set', xml('a'), xml('b'))).toString(),
      `<iq to="alice@example.org/phone" from="lamp@iot.example.org" id="q1" type="error"><a/><error type="modify"><bad-request xmlns="${STANZAS}"/></error></iq>`,
    );
  });
});
