/** The scenarios, in the order they run (B first: X also measures latency at B's 50 % rates). */
import type { Rig, ScenarioId } from '../rig.js';
import { BridgeRig } from './bridge.js';
import { MqttRig } from './mqtt.js';
import { NullRig } from './null.js';
import { PeerRig } from './peer.js';
import { SinkRig } from './sink.js';
import { XmppRig } from './xmpp.js';

export const SCENARIOS: Record<ScenarioId, { title: string; open: () => Promise<Rig> }> = {
  B: { title: 'bridge end to end', open: () => BridgeRig.open() },
  S: { title: 'bridge alone (sink XEP-0114 endpoint, no routing)', open: () => SinkRig.open() },
  X: { title: 'XMPP ceiling (bare component, pre-built stanzas)', open: () => XmppRig.open() },
  N: { title: 'null bridge (aedes → component, no mapping)', open: () => NullRig.open() },
  M: { title: 'MQTT ceiling (Mosquitto → one subscriber)', open: () => MqttRig.open() },
  P: { title: 'peer (Prosody mod_pubsub_mqtt → PubSub)', open: () => PeerRig.open() },
};

export const ORDER: ScenarioId[] = ['B', 'S', 'X', 'N', 'M', 'P'];
