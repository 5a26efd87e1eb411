// Local declarations for the xmpp.js packages, which ship no types. Only what this project uses is declared.

declare module '@xmpp/xml' {
  export type Attrs = Record<string, string | number | undefined>;
  export type Child = Element | string | number | null | undefined | false;

  export class Element {
    constructor(name: string, attrs?: Attrs);
    name: string;
    attrs: Record<string, string>;
    children: (Element | string)[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    append(...children: Child[]): this;
    c(name: string, attrs?: Attrs): Element;
    t(text: string): this;
    up(): Element;
    root(): Element;
    toString(): string;
  }

  export class Parser {
    write(data: string): void;
    on(event: 'element' | 'start' | 'end', listener: (el: Element) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
  }

  interface XmlFactory {
    (name: string, attrs?: Attrs | null, ...children: (Child | Child[])[]): Element;
    Element: typeof Element;
    Parser: typeof Parser;
    escapeXML(s: string): string;
    escapeXMLText(s: string): string;
  }
  // CommonJS `module.exports = xml`: only the default import exists at run time.
  const xml: XmlFactory;
  export default xml;
}

declare module '@xmpp/component' {
  import type { Element } from '@xmpp/xml';
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  export interface IqContext {
    stanza: Element;
    element: Element;
    from: string;
    to: string;
    id: string;
    type: string;
  }
  export type IqHandler = (ctx: IqContext, next: () => Promise<unknown>) => unknown;

  export interface Component extends EventEmitter {
    status: string;
    jid: { toString(): string } | null;
    options: { service: string; domain: string };
    socket: Socket | null;
    parser: { write(s: string): void } | null;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    connect(service: string): Promise<unknown>;
    open(options: { domain: string }): Promise<unknown>;
    send(el: Element): Promise<void>;
    write(s: string): Promise<void>;
    reconnect: { stop(): void; start(): void };
    iqCaller: { request(el: Element, timeout?: number): Promise<Element> };
    iqCallee: { get(ns: string, name: string, handler: IqHandler): void; set(ns: string, name: string, handler: IqHandler): void };
    middleware: { use(fn: (ctx: IqContext, next: () => Promise<unknown>) => unknown): void };
    _onData(data: Buffer): void;
    _onParserError(err: unknown): void;
    _status(status: string, ...args: unknown[]): void;
  }

  export function component(options: { service: string; domain: string; password: string }): Component;
}

declare module '@xmpp/client' {
  import type { Element } from '@xmpp/xml';
  import type { EventEmitter } from 'node:events';

  export interface Client extends EventEmitter {
    status: string;
    jid: { toString(): string; bare(): { toString(): string } } | null;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: Element): Promise<void>;
    iqCaller: { request(el: Element, timeout?: number): Promise<Element> };
    reconnect: { stop(): void };
  }
  export function client(options: {
    service: string;
    domain: string;
    username?: string;
    password?: string;
    resource?: string;
    credentials?: unknown;
  }): Client;
}
