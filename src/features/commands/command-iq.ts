/**
 * Commands for programs: one IQ `set` in a small namespace, with the payload as XEP-0335 JSON.
 *
 *   <iq type='set' to='plug-kettle@iot.example.org' id='c1'>
 *     <command xmlns='urn:mqtt-xmpp-bridge:command:0' name='set'>
 *       <json xmlns='urn:xmpp:json:0'>{"state":"ON"}</json>
 *     </command>
 *   </iq>
 *
 *   <iq type='result' …><command xmlns='urn:mqtt-xmpp-bridge:command:0' name='set' status='confirmed' topic='plugs/kettle/set'>
 *     <json xmlns='urn:xmpp:json:0'>{"state":"ON","power":1850}</json>       ← the confirming state report
 *   </command></iq>
 *
 * status is `published` (the broker accepted it) or `confirmed` (the device's state echo arrived). Failures are
 * stanza errors from the catalogue, with the reason as text.
 */
import xml from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { xmlSafeJson } from '../../convert/xml-safe.js';
import type { Result } from '../../errors.js';
import type { IqRequest } from '../../kernel/stanza-router.js';
import { errorElement } from '../../xmpp/stanzas.js';
import { NS_COMMAND, NS_JSON } from '../../xmpp/namespaces.js';
import type { CommandOutcome, Downlink } from './downlink.js';


export function commandIqHandler(downlink: Downlink) {
  return async (req: IqRequest): Promise<Element> => {
    const el = req.child;
    const name = el.attrs['name'];
    // The device is looked up before anything about the request is judged, so a hidden device answers as an unknown one.
    const visible = downlink.authorize(req.fromBare, req.toBare, name ?? '');
    if (!visible.ok && visible.error.code === 'DEVICE_UNKNOWN') return errorElement(visible.error.code, visible.error.message);
    if (!name) return errorElement('COMMAND_INVALID', 'the <command/> element needs a name attribute');
    const json = el.getChild('json', NS_JSON)?.getText() ?? '{}';
    const r = await downlink.execute({
      from: req.fromBare,
      deviceJid: req.toBare,
      name,
      json,
      origin: 'iq',
      replyTo: { jid: req.from, ...(req.stanza.attrs['id'] ? { id: req.stanza.attrs['id'] } : {}) },
    });
    return commandAnswer(name, r);
  };
}

/** The IQ payload answering a command: the result's <command/>, or the error. */
export function commandAnswer(name: string, r: Result<CommandOutcome>): Element {
  if (!r.ok) return errorElement(r.error.code, r.error.message);
  const { topic, confirmation } = r.value;
  return xml(
    'command',
    { xmlns: NS_COMMAND, name, status: confirmation !== undefined ? 'confirmed' : 'published', topic },
    confirmation !== undefined ? xml('json', { xmlns: NS_JSON }, xmlSafeJson(confirmation)) : null,
  );
}
