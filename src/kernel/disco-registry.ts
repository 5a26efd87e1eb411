/**
 * What features add to service discovery (XEP-0030): features of the component and of each device, and nodes of a
 * device (e.g. the XEP-0050 commands node and one node per command). The disco feature answers from here, so a new
 * feature shows up in discovery without touching it.
 */
import type { Element } from '@xmpp/xml';
import type { Device } from '../devices/device.js';

export interface DiscoNode {
  /** disco#info on a node of a device; undefined when the device has no such node. */
  info?(device: Device, node: string, from: string): Element | undefined;
  /** disco#items on a node of a device; undefined when the device has no such node. */
  items?(device: Device, node: string, from: string): Element[] | undefined;
}

/** A node of the component JID itself (e.g. its XEP-0050 commands node, listing admin commands). */
export interface ComponentDiscoNode {
  info?(node: string, from: string): Element | undefined;
  items?(node: string, from: string): Element[] | undefined;
}

export class DiscoRegistry {
  private readonly component = new Set<string>();
  private readonly componentNodes: ComponentDiscoNode[] = [];
  private readonly device: ((d: Device) => readonly string[])[] = [];
  private readonly nodes: DiscoNode[] = [];
  private readonly items: ((d: Device, from: string) => readonly Element[])[] = [];

  /** A feature (namespace) the component itself supports. */
  componentFeature(ns: string): void {
    this.component.add(ns);
  }

  /** Namespaces a device supports, decided per device (e.g. only devices with commands). */
  deviceFeatures(fn: (d: Device) => readonly string[]): void {
    this.device.push(fn);
  }

  node(provider: DiscoNode): void {
    this.nodes.push(provider);
  }

  /** Items a device lists in disco#items without a node (e.g. its PubSub node), decided per device and requester. */
  deviceItems(fn: (d: Device, from: string) => readonly Element[]): void {
    this.items.push(fn);
  }

  deviceItemsOf(d: Device, from: string): Element[] {
    return this.items.flatMap((fn) => fn(d, from));
  }

  /** A node of the component JID. */
  componentNode(provider: ComponentDiscoNode): void {
    this.componentNodes.push(provider);
  }

  componentNodeInfo(node: string, from: string): Element | undefined {
    for (const n of this.componentNodes) {
      const r = n.info?.(node, from);
      if (r) return r;
    }
    return undefined;
  }

  /** Items of a component node from every provider (several features may list commands). */
  componentNodeItems(node: string, from: string): Element[] {
    return this.componentNodes.flatMap((n) => n.items?.(node, from) ?? []);
  }

  componentFeaturesOf(): string[] {
    return [...this.component];
  }

  deviceFeaturesOf(d: Device): string[] {
    return this.device.flatMap((fn) => fn(d));
  }

  nodeInfo(d: Device, node: string, from: string): Element | undefined {
    for (const n of this.nodes) {
      const r = n.info?.(d, node, from);
      if (r) return r;
    }
    return undefined;
  }

  nodeItems(d: Device, node: string, from: string): Element[] | undefined {
    for (const n of this.nodes) {
      const r = n.items?.(d, node, from);
      if (r) return r;
    }
    return undefined;
  }
}
