/**
 * The JSON Schema of a mapping file (draft 2020-12): structure and defaults. Semantic checks that a schema cannot
 * express (topic grammar, segment use, JID collisions, schema references, body placeholders) live in `load.ts`.
 * `docs/mapping.schema.json` is generated from this object (`npm run schemas`).
 */

export const MAPPING_SCHEMA_ID = 'https://mqtt-xmpp-bridge.dev/schemas/mapping.json';

const jidPatternList = {
  type: 'array',
  items: { type: 'string', minLength: 1 },
  default: [],
} as const;

/** A bare JID, optionally with variables such as {serverDomain}. */
const bareJidList = {
  type: 'array',
  items: { type: 'string', pattern: '^[^@/*\\s]+@[^@/*\\s]+$' },
  default: [],
} as const;

const deadband = {
  description: 'Changes smaller than this do not count: an absolute amount (0.2) or a percentage of the last value sent ("5%").',
  anyOf: [
    { type: 'number', minimum: 0 },
    { type: 'string', pattern: '^\\d+(\\.\\d+)?%$' },
  ],
} as const;

const seconds = (description: string) => ({ type: 'number', minimum: 0, description }) as const;

const words = (description: string) =>
  ({
    description,
    anyOf: [
      { type: 'string' },
      { type: 'array', items: { type: 'string' }, minItems: 1 },
    ],
  }) as const;

/** How one topic's payload becomes fields of the reading (docs/MAPPINGS.md, "Payload formats"). */
const payloadDecoding = {
  type: 'object',
  additionalProperties: false,
  required: ['format'],
  description: 'How this topic\'s payload is read. Without it: one JSON document, the reading as sent.',
  properties: {
    format: {
      enum: ['json', 'text', 'number', 'boolean', 'enum', 'binary'],
      description:
        'json: a JSON value (an object without "key" merges its fields); text; number; boolean (trueValues/falseValues); enum: a word; binary: bytes (an image, a file), uploaded and sent as a link (docs/MEDIA.md).',
    },
    mediaType: { type: 'string', pattern: '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$', description: 'binary: the media type; without it, sniffed from the magic bytes.' },
    maxBytes: { type: 'integer', minimum: 1, description: 'binary: larger payloads are refused (default media.maxBytes).' },
    inlineMaxBytes: { type: 'integer', minimum: 0, description: 'binary: payloads at most this long travel base64 in the JSON instead of being uploaded (default media.inlineMaxBytes).' },
    key: { type: 'string', pattern: '^[^.]+(\\.[^.]+)*$', description: 'Where the value lands in the reading, a dotted path: "power", "kitchen.temperature".' },
    trueValues: words('boolean: payloads meaning true (default "true").'),
    falseValues: words('boolean: payloads meaning false (default "false").'),
    empty: { type: 'string', description: 'text: the payload that stands for the empty string.' },
    integer: { type: 'boolean', default: false, description: 'number: round to an integer.' },
    template: {
      type: 'string',
      minLength: 1,
      description: 'A Home Assistant value template ({{ value_json.temperature | float }}, the safe subset) applied first; its result is read per format.',
    },
    momentary: {
      anyOf: [
        { type: 'boolean' },
        { type: 'array', items: { type: 'string', pattern: '^[^.]+(\\.[^.]+)*$' } },
      ],
      default: false,
      description: 'Events, not state (a button action): true for this value, or the fields (dotted paths) of a JSON object that are. In the reading that carries them, not kept in the device state.',
    },
  },
} as const;

export const mappingFileSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: MAPPING_SCHEMA_ID,
  title: 'mqtt-xmpp-bridge mapping file',
  type: 'object',
  additionalProperties: false,
  required: ['mappings'],
  properties: {
    $schema: { type: 'string' },
    mappings: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'topic', 'jid'],
        // A binary payload has no schema (its reading is the file's metadata); every other mapping needs one.
        if: { required: ['payload'], properties: { payload: { required: ['format'], properties: { format: { const: 'binary' } } } } },
        else: { required: ['schema'] },
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$', description: 'Unique mapping id (lower case, digits, - and _).' },
          description: { type: 'string' },
          topic: {
            type: 'string',
            minLength: 1,
            description: 'Topic pattern of readings, with named segments: sensors/{site}/{device}/telemetry.',
          },
          payload: payloadDecoding,
          topics: {
            type: 'array',
            minItems: 1,
            description:
              'More topics of the same device (per-property topics), each with its payload format: their fields and the topic\'s are merged into one reading, the device\'s state.',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['topic'],
              properties: {
                topic: { type: 'string', minLength: 1, description: 'Topic pattern; it must carry every segment of the JID.' },
                payload: payloadDecoding,
              },
            },
          },
          jid: {
            type: 'string',
            minLength: 1,
            description: 'Local part of the device JID, from topic segments: "{site}-{device}". See the device-JID grammar.',
          },
          name: { type: 'string', description: 'Display name template (segments), shown in service discovery.' },
          schema: { type: 'string', minLength: 1, description: 'Payload schema: a loaded $id, or a file relative to this mapping file.' },
          body: {
            type: 'string',
            description: 'Chat text of a reading: "{temperature} °C". Placeholders are payload paths or topic segments.',
          },
          messageType: {
            enum: ['chat', 'headline', 'normal'],
            default: 'chat',
            description: 'Message type of readings (RFC 6121 §5.2.2); the default of delivery.mode.',
          },
          delivery: {
            type: 'object',
            additionalProperties: false,
            default: {},
            description: 'What a reading becomes, and what recipients who are offline get.',
            properties: {
              mode: {
                enum: ['chat', 'headline', 'normal', 'live'],
                description:
                  'chat: one message per reading (archived by the user\'s server); headline: one ephemeral message per reading; live: one message per device and period, corrected in place by later readings (XEP-0308). Default: messageType.',
              },
              offline: {
                enum: ['latest', 'store', 'drop'],
                default: 'latest',
                description:
                  'For recipients who are offline: latest = the current value once when they are back (XEP-0203 stamped); store = send anyway, their server keeps it (alerts); drop = nothing.',
              },
              period: { enum: ['hour', 'day', 'week'], default: 'day', description: 'live: a new message starts each hour, day or week; readings in between correct it.' },
              archive: {
                type: 'boolean',
                default: true,
                description: 'false: XEP-0334 hints ask servers not to archive the messages (nor store them offline, unless offline is store).',
              },
              status: { type: 'boolean', default: true, description: 'The device\'s presence status text carries its latest reading.' },
            },
          },
          changes: {
            type: 'object',
            additionalProperties: false,
            description: 'When a reading is worth a stanza. Without it, every reading is sent.',
            properties: {
              deadband,
              minInterval: seconds('Readings closer together than this many seconds are coalesced to the newest.'),
              maxInterval: seconds('A reading is sent at least this often (seconds) even when nothing changed (0: never).'),
              fields: {
                type: 'object',
                default: {},
                description: 'Per field (payload path): deadband, minInterval, ignore. Enum, boolean and text fields count on every change.',
                additionalProperties: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    deadband,
                    minInterval: seconds('A change of this field alone counts at most this often (seconds).'),
                    ignore: { type: 'boolean', description: 'A change of this field alone never counts (diagnostics such as linkquality).' },
                  },
                },
              },
            },
          },
          pubsub: {
            type: 'object',
            additionalProperties: false,
            default: {},
            description: 'XEP-0060 publish-subscribe on the device JID: a node "readings" with the readings as XEP-0335 JSON items.',
            properties: {
              enabled: { type: 'boolean', default: true },
              items: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Items kept per device (the last N readings).' },
            },
          },
          notify: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              subscribers: { type: 'boolean', default: true, description: 'Send readings to the device\'s presence subscribers.' },
              jids: { ...bareJidList, description: 'Bare JIDs that receive every reading (while online, as subscribers do).' },
            },
          },
          invite: {
            ...bareJidList,
            description: 'Bare JIDs that receive a subscription request from each device, so it lands in their roster. They must be viewers.',
          },
          availability: {
            type: 'object',
            additionalProperties: false,
            description: 'Where the device\'s presence comes from. Without it, a device is available once it has sent a reading.',
            properties: {
              clientId: { type: 'string', minLength: 1, description: 'MQTT client id template: the device is online while that client is connected.' },
              topic: { type: 'string', minLength: 1, description: 'Availability topic template; its Will usually publishes here.' },
              online: { ...words('Payload(s) meaning online (case-insensitive).'), default: 'online' },
              offline: { ...words('Payload(s) meaning offline (case-insensitive).'), default: 'offline' },
              topics: {
                type: 'array',
                minItems: 1,
                description: 'Several availability topics (with "mode"); each may have its own words.',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['topic'],
                  properties: {
                    topic: { type: 'string', minLength: 1 },
                    online: words('Payload(s) meaning online (default: the availability\'s).'),
                    offline: words('Payload(s) meaning offline (default: the availability\'s).'),
                    template: { type: 'string', minLength: 1, description: 'A Home Assistant template turning the payload into the word ({{ value_json.state }}).' },
                  },
                },
              },
              mode: {
                enum: ['all', 'any', 'latest'],
                default: 'latest',
                description: 'With several topics: online when all say so, when any does, or as the latest message says.',
              },
              sleeping: { type: 'string', minLength: 1, description: 'Payload meaning asleep, back later (Homie "sleeping"): available, shown as away (xa).' },
              timeout: {
                type: 'integer',
                minimum: 0,
                default: 0,
                description: 'Seconds without any message after which the device is offline (0: never).',
              },
              idleAfter: {
                type: 'number',
                minimum: 0,
                description: 'Seconds without a reading after which an available device shows "xa" with an XEP-0319 idle time (default 900; 0: never).',
              },
            },
          },
          commands: {
            type: 'array',
            default: [],
            description: 'Commands the device accepts from operators, relayed over MQTT.',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'topic', 'schema'],
              properties: {
                name: { type: 'string', pattern: '^[a-z][a-z0-9_-]*$', description: 'Command name, as typed in a chat: "set state=ON".' },
                description: { type: 'string' },
                topic: { type: 'string', minLength: 1, description: 'Command topic template, from the topic segments: plugs/{device}/set.' },
                schema: { type: 'string', minLength: 1, description: 'Command payload schema: a loaded $id, or a file relative to this mapping file.' },
                qos: { enum: [0, 1, 2], default: 1 },
                retain: { type: 'boolean', default: false },
                payload: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['format'],
                  description: 'How the command becomes the MQTT payload. Without it: the JSON as sent.',
                  properties: {
                    format: {
                      enum: ['json', 'value', 'template', 'fixed', 'keys'],
                      description:
                        'json: as sent; value: one field as text; template: one field through a Home Assistant command template; fixed: a constant; keys: {"<name>": ""} for each name of a list field.',
                    },
                    key: { type: 'string', pattern: '^[^.]+(\\.[^.]+)*$', description: 'value, template, keys: the field (dotted path).' },
                    trueValue: { type: 'string', description: 'value: how true is written (default "true").' },
                    falseValue: { type: 'string', description: 'value: how false is written (default "false").' },
                    template: { type: 'string', minLength: 1, description: 'template: e.g. {{ value | int }}; "value" is the field.' },
                    aliases: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, description: 'template: further names of the field in the template.' },
                    payload: { type: 'string', description: 'fixed: the payload.' },
                  },
                },
                file: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['key'],
                  description: 'The command carries a file: one field holds its URL, the bridge fetches it from the sender\'s own upload server and publishes the bytes (docs/MEDIA.md).',
                  properties: {
                    key: { type: 'string', pattern: '^[^.]+$', description: 'The command field holding the URL (a top-level property of the schema).' },
                    mediaTypes: {
                      type: 'array',
                      minItems: 1,
                      items: { type: 'string', pattern: '^[a-z0-9.+-]+/([a-z0-9.+-]+|\\*)$' },
                      description: 'Accepted media types, checked on the bytes (image/png, image/*); default the field\'s contentMediaType; none: any bytes.',
                    },
                    maxBytes: { type: 'integer', minimum: 1, description: 'Largest file fetched; default media.fetch.maxBytes.' },
                    encoding: {
                      enum: ['binary', 'base64'],
                      default: 'binary',
                      description: 'binary: the file\'s bytes are the MQTT payload; base64: the command as JSON, the field holding the file base64-encoded.',
                    },
                    oob: { type: 'boolean', default: false, description: 'A chat message carrying a file (XEP-0066 jabber:x:oob URL) runs this command.' },
                  },
                },
                ttl: {
                  type: 'integer',
                  minimum: 0,
                  description: 'Seconds the command is held for an offline device (default: delivery.commandTtlSeconds; 0: refused at once).',
                },
                confirm: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['topic'],
                  description: 'A state topic whose echo confirms the command took effect.',
                  properties: {
                    topic: { type: 'string', minLength: 1, description: 'State topic template: plugs/{device}/state.' },
                    fields: {
                      type: 'array',
                      items: { type: 'string', minLength: 1 },
                      description: 'Fields that must equal the command\'s in the echo (default: any message on the topic confirms).',
                    },
                    timeout: { type: 'number', exclusiveMinimum: 0, default: 5, description: 'Seconds to wait for the echo.' },
                  },
                },
              },
            },
          },
          aliases: {
            type: 'object',
            default: {},
            propertyNames: { pattern: '^[a-z][a-z0-9_-]*$' },
            additionalProperties: { type: 'string', minLength: 1 },
            description: 'Chat shortcuts: a word standing for a command line, e.g. on: "set state=ON".',
          },
          access: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              viewers: { ...jidPatternList, description: 'JID patterns allowed to subscribe to the device (presence and readings).' },
              operators: { ...jidPatternList, description: 'JID patterns allowed to send commands.' },
            },
          },
        },
      },
    },
  },
} as const;
