/**
 * What an importer learned about one device from the device's (or its gateway's) own description on the broker:
 * Zigbee2MQTT `bridge/devices`, Home Assistant MQTT discovery, Tasmota native discovery, Homie `$description`…
 *
 * Pure, JSON-serializable data: importers (src/importers/<source>.ts) turn source messages into descriptions; the
 * import feature persists them, applies approval rules, and turns each into an ordinary mapping (generated reading
 * and command schemas, body template, topics, availability). Nothing downstream knows which source a mapping came from.
 *
 * Topics are literal MQTT topic names (never patterns): a description is about one device.
 */

export type ImportSource = 'zigbee2mqtt' | 'homeassistant' | 'tasmota' | 'homie' | 'sparkplug';

export interface DeviceDescription {
  readonly source: ImportSource;
  /**
   * Stable hardware identity within the source — IEEE address, MAC, the first discovery `identifiers` entry, the Homie
   * device id — never the friendly name, so a rename changes only the display name. The device JID is formed from it.
   */
  readonly hardwareId: string;
  /** Friendly / display name (disco identity, vCard full name, nickname). */
  readonly name: string;
  readonly manufacturer?: string;
  readonly model?: string;
  readonly softwareVersion?: string;
  /**
   * Devices with the same model key have the same properties and commands: their schemas (and compiled validators)
   * are shared. Derived from the definition itself (e.g. a hash of the exposes), so two firmware variants differ.
   */
  readonly modelKey: string;
  /** Everything the device reports or accepts, as typed fields of its reading. */
  readonly properties: readonly Property[];
  /** Where readings come from; several sources are merged into one reading per device. */
  readonly state: readonly StateSource[];
  readonly availability?: AvailabilitySpec;
  /** Commands the device accepts (settable properties, buttons, `get` requests…). */
  readonly commands: readonly CommandDescription[];
  /** Problems found while importing that did not prevent it (unsupported template, unknown expose type…). */
  readonly warnings: readonly string[];
}

export type PropertyType =
  | 'number'
  | 'integer'
  | 'boolean'
  | 'string'
  | 'enum'
  | 'object'
  | 'array'
  // --- Additions for Zigbee2MQTT and Homie (src/importers/zigbee2mqtt.ts, homie.ts) ---
  /** Any JSON object or array, structure not described (Homie `json` datatype). */
  | 'json';

export interface Property {
  /** Key of the field in the reading JSON (a path segment; composites nest with `properties`). */
  readonly key: string;
  readonly label?: string;
  readonly description?: string;
  readonly type: PropertyType;
  /** Unit as the source gives it ("°C", "%", "lx", "W"). */
  readonly unit?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly step?: number;
  /** `enum`: the allowed values. */
  readonly values?: readonly (string | number)[];
  /** Binary properties whose values are not JSON booleans (Zigbee2MQTT `value_on`/`value_off`/`value_toggle`). */
  readonly valueOn?: string | number | boolean;
  readonly valueOff?: string | number | boolean;
  readonly valueToggle?: string | number | boolean;
  /** Named values of a numeric property (Zigbee2MQTT presets). */
  readonly presets?: readonly { readonly name: string; readonly value: number; readonly description?: string }[];
  /** Appears in the device's state reports (Zigbee2MQTT access bit 1). */
  readonly readable: boolean;
  /** Can be set with a command (access bit 2). */
  readonly settable: boolean;
  /** Can be asked for with a `get` request (access bit 4). */
  readonly gettable: boolean;
  /** Diagnostic or configuration value: kept in the JSON, left out of the readable body. */
  readonly diagnostic?: boolean;
  /** Home Assistant device class or Zigbee2MQTT expose name hint ("temperature", "motion"…). */
  readonly deviceClass?: string;
  /** `object`: the composite's fields. */
  readonly properties?: readonly Property[];
  /** `array`: the type of the items. */
  readonly items?: Property;

  // --- Additions for Zigbee2MQTT and Homie (src/importers/zigbee2mqtt.ts, homie.ts) ---
  /** Zigbee2MQTT endpoint name (`l1`, `left`) of a property such as `state_l1`; shown next to the label. */
  readonly endpoint?: string;
  /** The source's category: Zigbee2MQTT `diagnostic` / `config` (both also set `diagnostic`). */
  readonly category?: 'diagnostic' | 'config';
  /**
   * A momentary value (an event, not lasting state): Zigbee2MQTT `action`, Homie non-retained properties. It is not
   * kept in the device's merged state, and Zigbee2MQTT may clear it with `""` (its legacy action sensor).
   */
  readonly momentary?: boolean;
  /**
   * Values the property also takes besides its type and range: Zigbee2MQTT presets that are not numbers (`"previous"`,
   * `null`) or lie outside `value_min`/`value_max` (`color_temp_startup` 65535).
   */
  readonly extraValues?: readonly (string | number | boolean | null)[];
  /** `array`: bounds on the number of items (Zigbee2MQTT list `length_min` / `length_max`). */
  readonly minItems?: number;
  readonly maxItems?: number;
  /** `boolean`: what true and false mean, for people (Homie 5 boolean format `close,open`). */
  readonly booleanLabels?: { readonly true: string; readonly false: string };
}

/** Payload formats of a topic: a JSON object, or a single value as the device writes it. */
export type PayloadFormat = 'json' | 'text' | 'number' | 'boolean' | 'enum' | 'sparkplug';

export interface StateSource {
  readonly topic: string;
  readonly format: PayloadFormat;
  /**
   * Where the value lands in the reading. For `json` without key, the object's fields merge at the top level; with a
   * key, the whole decoded value lands under it. For single values (`text`, `number`…), the key is required.
   */
  readonly key?: string;
  /** Home Assistant `value_template` (evaluated by the safe template subset, src/importers/template.ts). */
  readonly template?: string;
  /** `boolean`: the payloads meaning true and false ("ON"/"OFF", "true"/"false", "1"/"0"). */
  readonly trueValue?: string;
  readonly falseValue?: string;

  // --- Added for Home Assistant discovery and Tasmota (src/importers/homeassistant.ts, tasmota.ts) ---
  /**
   * With `template`: how the template's result is read into the field — `number` parses it, `boolean` compares it
   * with trueValue/falseValue (no match: no value), `text`/`enum` keep the text, `json` keeps the value as computed.
   * (`format` then says how the payload itself is decoded: `json` when the template reads `value_json`, else `text`.)
   * Several sources often share one topic with different templates (ESPHome, Tasmota): a message on that topic
   * updates all of their fields at once, as one reading.
   */
  readonly valueFormat?: PayloadFormat;

  // --- Additions for Zigbee2MQTT and Homie (src/importers/zigbee2mqtt.ts, homie.ts) ---
  /**
   * Where the value lands, as a path of keys (Homie: `[node, property]` → `{"node": {"property": value}}`). When given
   * it takes precedence over `key`.
   */
  readonly path?: readonly string[];
  /** `text`: the payload standing for the empty string (Homie 5: one 0x00 byte, as MQTT deletes empty retained). */
  readonly emptyValue?: string;

  // --- Addition for Sparkplug B (src/importers/sparkplug.ts) ---
  /** `sparkplug`: metric aliases of the birth certificate (alias as decimal text → metric name). */
  readonly aliases?: Readonly<Record<string, string>>;
}

export interface AvailabilityTopic {
  readonly topic: string;
  readonly online: string;
  readonly offline: string;
  /**
   * `json`: the payload is a JSON object whose `state` field carries online/offline (Zigbee2MQTT 2.x). `sparkplug`:
   * the topic's message type decides (BIRTH and DATA online, DEATH offline), and an NDEATH counts only when its
   * `bdSeq` is `bdSeq` (a stale Will of an earlier session does not end the current one).
   */
  readonly format?: 'text' | 'json' | 'sparkplug';
  readonly bdSeq?: number | string;
  /** Home Assistant availability `value_template`. */
  readonly template?: string;

  // --- Additions for Zigbee2MQTT and Homie (src/importers/zigbee2mqtt.ts, homie.ts) ---
  /**
   * Other payloads meaning online / offline (Homie 4 `alert` is online; `disconnected` and `lost` are both offline).
   * A topic's own words are matched before `AvailabilitySpec.sleeping`; payloads in no list leave the state as it was
   * (Homie `init`).
   */
  readonly moreOnline?: readonly string[];
  readonly moreOffline?: readonly string[];
}

export interface AvailabilitySpec {
  readonly topics: readonly AvailabilityTopic[];
  /** Home Assistant `availability_mode`: online when all / any / the latest topic says so. */
  readonly mode: 'all' | 'any' | 'latest';
  /** A payload meaning "asleep, will be back" (Homie `sleeping`): presence `xa`, not offline. */
  readonly sleeping?: string;
}

/** How a command's validated JSON becomes the MQTT payload. */
export type CommandEncoding =
  /** The command JSON as sent (Zigbee2MQTT `/set`). */
  | { readonly kind: 'json' }
  /** One field of the command, written as text ("ON", "21.5"); booleans use on/off when given. */
  | { readonly kind: 'value'; readonly key: string; readonly on?: string; readonly off?: string }
  /** Home Assistant `command_template` applied to the field `key` (`value` in the template). */
  | {
      readonly kind: 'template';
      readonly key: string;
      readonly template: string;
      // --- Added for Home Assistant discovery (src/importers/ha-platforms.ts) ---
      /** Further names the field's value goes by in the template (a cover's set_position_template reads `position`). */
      readonly aliases?: readonly string[];
    }
  /** A fixed payload (a button press: `PRESS`). */
  | { readonly kind: 'fixed'; readonly payload: string }
  // --- Addition for Zigbee2MQTT (src/importers/zigbee2mqtt.ts) ---
  /**
   * The field `key` is a list of property names; the payload is a JSON object mapping each name to `""` (Zigbee2MQTT
   * `/get`: `{"state": "", "brightness": ""}` asks the device to report those values).
   */
  | { readonly kind: 'keys'; readonly key: string }
  // --- Addition for Sparkplug B (src/importers/sparkplug.ts) ---
  /** The command's fields as metrics of a Sparkplug B NCMD / DCMD payload (protobuf), each with its birth datatype. */
  | { readonly kind: 'sparkplug'; readonly metrics: readonly SparkplugMetricSpec[] };

export interface SparkplugMetricSpec {
  readonly name: string;
  readonly type: string;
  readonly alias?: number;
}

export interface CommandDescription {
  /** Chat command name: `set`, `get`, `press`… (lower case, [a-z][a-z0-9_-]*). */
  readonly name: string;
  readonly description?: string;
  readonly topic: string;
  /** Fields the command accepts (its schema is generated from them). */
  readonly properties: readonly Property[];
  readonly encoding: CommandEncoding;
  readonly qos?: 0 | 1 | 2;
  readonly retain?: boolean;
}
